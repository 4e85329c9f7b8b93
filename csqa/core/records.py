"""The records that flow through the pipeline.

Message -> Conversation -> (checks) -> Finding -> ConversationResult. They are plain
slotted dataclasses: cheap to build in the hot path and easy to pickle to worker
processes or Spark executors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AGENT, CUSTOMER, SYSTEM = "agent", "customer", "system"


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalized text plus, for each of its characters, the index in the original."""

    original: str
    text: str
    offsets: tuple[int, ...] | None  # None means the identity map

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalized text back to the original text."""
        if self.offsets is None:
            return start, end
        if start >= len(self.offsets):
            return len(self.original), len(self.original)
        o_start = self.offsets[start]
        o_end = self.offsets[end - 1] + 1 if end > start else o_start
        return o_start, o_end


@dataclass(slots=True)
class ComplaintSignal:
    """The complaint classifier's verdict on one customer message."""

    category: str  # none / product / logistics / service / payment / system / price / other
    severity: str  # none / normal / serious
    probability: float  # P(any complaint)
    is_complaint: bool


@dataclass(slots=True)
class Message:
    index: int  # 0-based position in the ordered conversation
    role: str  # agent / customer / system
    agent_id: str
    text: str  # as written, used for evidence
    norm: NormalizedText
    tokens: tuple[str, ...]
    time: float | None  # seconds since the epoch, None without a time column
    timestamp: str  # as shown in outputs ('' without a time)
    complaint: ComplaintSignal | None = None
    # norm.text, the text the checks match on; a plain slot, not a property, because the checks
    # read it millions of times (set from `norm` on construction)
    clean: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        self.clean = self.norm.text


@dataclass(slots=True)
class Conversation:
    id: str
    messages: list[Message]
    agents: list[str]  # every agent who took part, in order of first appearance
    primary_agent: str  # the agent with most messages (first on ties)
    has_time: bool

    def agent_messages(self) -> list[Message]:
        return [m for m in self.messages if m.role == AGENT]

    def customer_messages(self) -> list[Message]:
        return [m for m in self.messages if m.role == CUSTOMER]


@dataclass(slots=True)
class Finding:
    rule_id: str
    rule_name: str
    check: str
    severity: str  # critical / major / minor / bonus
    dimension: str
    points: float  # points this finding cost (negative for a bonus); the ledger adds up to 100 - score
    explanation: str
    agent_id: str = ""
    message_index: int | None = None
    timestamp: str = ""
    span_start: int | None = None
    span_end: int | None = None
    matched_text: str = ""
    evidence: str = ""


@dataclass(slots=True)
class ConversationResult:
    conversation_id: str
    agent_id: str
    agents: list[str]
    started_at: str
    ended_at: str
    n_messages: int
    score: float
    passed: bool
    critical: bool
    findings: list[Finding] = field(default_factory=list)
    complaint: bool | None = None  # None when no classifier ran
    complaint_category: str = ""
    complaint_severity: str = ""
    complaint_index: int | None = None
    resolved: bool | None = None  # the outcome checks: answered, customer not left unhappy, nothing left open
    unhappy_end: bool | None = None  # the customer was still unhappy after the agent's last answer
    first_response_s: float | None = None
    mean_response_s: float | None = None
    not_applicable: list[str] = field(default_factory=list)  # rule codes that did not apply
