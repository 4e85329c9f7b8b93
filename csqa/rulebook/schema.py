"""The rulebook schema: what a QA lead may write in a rulebook YAML, validated on load.

A rule declares one standard `check` name (so results compare across shops), a
dimension of the scorecard, its severity and points, the seed clause it enforces, a
scope, and either `require` (a finding when the agent did NOT do it: greeting,
closing, apology…) or `forbid` (a finding for each time the agent DID it: rude
language, 推诿, leaking personal data…), plus examples that must pass and fail.
"""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REQUIRED_CHECKS = (
    "greeting",
    "identity",
    "offers_help",
    "confirmation",
    "anything_else",
    "farewell",
    "apology",
    "process_told",
    "first_response",
    "response_time",
)
FORBIDDEN_CHECKS = (
    "repeated_message",
    "emoji_overuse",
    "rude",
    "argue",
    "buck_passing",
    "bare_refusal",
    "over_promise",
    "slang",
    "negative_talk",
    "privacy_leak",
    "off_platform",
)
# the conversation's outcome (csqa.checks.outcome): what the agent achieved, not how it spoke
OUTCOME_CHECKS = (
    "concrete_answer",
    "customer_reaction",
    "request_resolved",
)
STANDARD_CHECKS = REQUIRED_CHECKS + FORBIDDEN_CHECKS + OUTCOME_CHECKS

CHECK_NAMES_ZH = {
    "greeting": "开场问候",
    "identity": "表明身份",
    "offers_help": "主动询问需求",
    "confirmation": "复述确认",
    "anything_else": "询问其他需求",
    "farewell": "礼貌道别",
    "apology": "安抚致歉",
    "process_told": "告知流程时效",
    "first_response": "首次响应时效",
    "response_time": "回复时效",
    "repeated_message": "重复刷屏",
    "emoji_overuse": "表情滥用",
    "rude": "辱骂/不文明用语",
    "argue": "与客户争执",
    "buck_passing": "推诿",
    "bare_refusal": "生硬拒绝",
    "over_promise": "违规承诺",
    "slang": "网络用语/方言",
    "negative_talk": "负面/无关言论",
    "privacy_leak": "泄露个人信息",
    "off_platform": "引导站外交易/索要好处",
    "concrete_answer": "给出具体答复",
    "customer_reaction": "顾客认可答复",
    "request_resolved": "诉求得到解决",
}

Severity = Literal["critical", "major", "minor"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(Strict):
    """What to look for in a message. Several matchers in one block are OR-ed."""

    phrases: list[Union[str, list[str]]] = Field(
        default_factory=list,
        description="Phrases, matched on word boundaries; a nested list is a group of synonyms.",
    )
    mode: Literal["any", "all", "at_least"] = "any"
    at_least: int = 1
    regex: list[str] = Field(default_factory=list)
    similar_to: list[str] = Field(default_factory=list, description="Template sentences agents paraphrase.")
    threshold: float = 0.6
    question: bool = Field(False, description="A confirmation question (您是说…是吗 / …对吗).")
    pii: list[str] = Field(default_factory=list, description="Personal-data kinds (mobile, id_card, …).")
    off_platform: bool = False
    conduct: Literal["rude", "argue", "buck_passing", "bare_refusal", "over_promise", "privacy_leak", "off_platform",
                     "slang"] | None = Field(None, description="The conduct model's kind (csqa.checks.conduct_model): a reply it "
                                                                "scores at or above conduct_threshold matches.")
    conduct_threshold: float = 0.8
    conduct_screen: float = Field(0.05, ge=0, le=1, description="With both conduct and similar_to: the exemplars "
                                  "are compared only with replies the model scores at least this for some hostile "
                                  "kind (rude, argue, buck_passing, over_promise, bare_refusal): the cheap model "
                                  "screens, the exemplars confirm.")
    conduct_min_chars: int = Field(8, ge=1, description="Replies with fewer characters of their own words than this "
                                   "are left to the phrase lists: a model cannot judge 什么事 or 发我 alone.")
    # exceptions
    exclude: list[str] = Field(default_factory=list, description="Allow-list phrases that contain the match.")
    unless_negated: bool = False
    unless_quoted: bool = False
    unless_followed_by: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self):
        if not (self.phrases or self.regex or self.similar_to or self.question or self.pii or self.off_platform
                or self.conduct):
            raise ValueError("match 至少需要 phrases / regex / similar_to / question / pii / off_platform / conduct 之一")
        if not 0 < self.conduct_threshold <= 1:
            raise ValueError("conduct_threshold 必须在 (0, 1] 之间")
        if self.mode == "at_least" and self.at_least < 1:
            raise ValueError("at_least 必须 ≥ 1")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold 必须在 (0, 1] 之间")
        return self

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value):
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"正则表达式无法编译 {pattern!r}: {exc}") from None
        return value


class AppliesWhen(Strict):
    """Conditions under which a rule applies; otherwise it is N/A for the conversation."""

    min_agent_turns: int = 1
    min_customer_turns: int = 0
    complaint: bool = False
    pending: bool = False
    has_time: bool = False


class Scope(Strict):
    role: Literal["agent", "customer"] = "agent"
    first_turns: int | None = None
    last_turns: int | None = None
    after: Literal["complaint", "pending"] | None = None
    within_turns: int | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.first_turns is not None and self.last_turns is not None:
            raise ValueError("scope 不能同时设置 first_turns 和 last_turns")
        if self.within_turns is not None and self.after is None:
            raise ValueError("within_turns 需要同时设置 after")
        return self


class Timing(Strict):
    first_response_s: float | None = None
    response_s: float | None = None


class Repetition(Strict):
    min_chars: int = 8
    max_repeats: int = 2


class EmojiLimit(Strict):
    max_per_message: int = 3
    max_messages_ratio: float = 0.5


class Outcome(Strict):
    """An outcome check (csqa.checks.outcome): which measure of the conversation's result it reads."""

    measure: Literal["answer", "reaction", "confirmed", "resolved"] = Field(
        description="answer: some agent reply answers (information, steps, a dated commitment); "
        "reaction: the customer is not left unhappy after the last answer; "
        "confirmed: the customer accepted the last answer (好的, 谢谢, 解决了 …); "
        "resolved: the customer's last request is not left unanswered."
    )


class OutcomeCues(Strict):
    """How the outcome checks tell an answer from a filler or a deferral, and a pleased customer from
    an unhappy one (the rulebook's `outcome` block, shared by its outcome rules)."""

    filler: list[str] = Field(default_factory=list, description="Phrases that answer nothing: greetings, waiting, closing and apology formulas.")
    deferral: list[str] = Field(default_factory=list, description="Phrases that put the answer off: 请私信, 请提供, 为您反馈 …")
    satisfied: list[str] = Field(default_factory=list, description="Customer words that accept the answer: 谢谢, 好的, 解决了 …")
    unhappy: list[str] = Field(default_factory=list, description="Customer words of lasting dissatisfaction: 还是不行, 算了, 投诉 …")
    min_answer_chars: int = Field(4, ge=1, description="Characters of content a clause needs, beyond fillers, to answer.")
    reply_model: bool = Field(True, description="Let the conduct model's reply head (csqa.checks.conduct_model) say what an "
                              "agent reply does; the phrase lists above then only place it. False: the lists decide.")


class Examples(Strict):
    """Agent messages (or small conversations) that must / must not trigger a finding."""

    fail: list[Union[str, list[dict]]] = Field(default_factory=list)
    pass_: list[Union[str, list[dict]]] = Field(default_factory=list, alias="pass")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rule(Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9]*-\d{3}$")
    name: str
    name_en: str = ""
    check: str
    dimension: str
    severity: Severity
    points: float = Field(ge=0)
    max_findings: int = Field(3, ge=1, description="At most this many findings per conversation.")
    clause: str = Field(min_length=1)
    description: str = ""
    explanation: str = Field("", description="Chinese explanation template; {matched} is the matched text.")
    scope: Scope = Scope()
    applies_when: AppliesWhen = AppliesWhen()
    require: Match | None = None
    forbid: Match | None = None
    timing: Timing | None = None
    repetition: Repetition | None = None
    emoji: EmojiLimit | None = None
    outcome: Outcome | None = None
    bonus: bool = False
    enabled: bool = True
    examples: Examples = Examples()

    @field_validator("check")
    @classmethod
    def _standard_check(cls, value):
        if value not in STANDARD_CHECKS:
            raise ValueError(f"未知的检查项 {value!r}；可用: {', '.join(STANDARD_CHECKS)}")
        return value

    @model_validator(mode="after")
    def _one_body(self):
        bodies = [b for b in (self.require, self.forbid, self.timing, self.repetition, self.emoji, self.outcome)
                  if b is not None]
        if len(bodies) != 1:
            raise ValueError("每条规则须且仅须有 require / forbid / timing / repetition / emoji / outcome 之一")
        if (self.outcome is not None) != (self.check in OUTCOME_CHECKS):
            raise ValueError(f"检查项 {', '.join(OUTCOME_CHECKS)} 须用 outcome, 且 outcome 只用于这些检查项")
        if self.require is not None and self.check not in REQUIRED_CHECKS:
            raise ValueError(f"检查项 {self.check} 是禁止类，请用 forbid 而不是 require")
        if self.forbid is not None and self.check in REQUIRED_CHECKS:
            raise ValueError(f"检查项 {self.check} 是必做类，请用 require 而不是 forbid")
        return self

    @property
    def kind(self) -> str:
        for name in ("require", "forbid", "timing", "repetition", "emoji", "outcome"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated rule has a body")


class Dimension(Strict):
    id: str
    name: str
    name_en: str = ""
    weight: float = Field(gt=0)


class TriggerCue(Strict):
    """Further words that set a trigger off, said by one side."""

    role: Literal["agent", "customer"]
    match: Match


class Trigger(Strict):
    """A cue that something happened in the conversation (a complaint, a pending issue)."""

    role: Literal["agent", "customer"]
    match: Match
    use_classifier: bool = False
    min_probability: float = Field(0.7, gt=0, le=1, description="With the classifier: a conversation is a complaint "
                                   "when one customer message reaches this P(dissatisfied) (csqa.complaints.conversation).")
    also: list[TriggerCue] = Field(
        default_factory=list,
        description="More cues, e.g. from the other side (the customer asks to 催一下): the trigger is the first message matching any.",
    )


class Settings(Strict):
    pass_mark: float = Field(80, ge=0, le=100)
    critical_fails: bool = True


class Rulebook(Strict):
    id: str
    name: str
    version: int = 1
    language: str = "zh"
    settings: Settings = Settings()
    dimensions: list[Dimension]
    triggers: dict[Literal["complaint", "pending"], Trigger] = Field(default_factory=dict)
    outcome: OutcomeCues | None = None
    rules: list[Rule]

    @model_validator(mode="after")
    def _references(self):
        dims = {d.id for d in self.dimensions}
        if len(dims) != len(self.dimensions):
            raise ValueError("dimensions 中有重复的 id")
        codes: set[str] = set()
        # "@path: message" lets the loader point at the offending line
        for i, rule in enumerate(self.rules):
            if rule.dimension not in dims:
                raise ValueError(f"@rules.{i}.dimension: 规则 {rule.code} 的 dimension {rule.dimension!r} 未在 dimensions 中定义 (已定义: {', '.join(sorted(dims))})")
            if rule.code in codes:
                raise ValueError(f"@rules.{i}.code: 规则编号重复: {rule.code}")
            codes.add(rule.code)
            if rule.outcome is not None and self.outcome is None:
                raise ValueError(f"@rules.{i}.outcome: 规则 {rule.code} 是结果检查，规则库须有 outcome 块 (filler / deferral / satisfied / unhappy)")
            needs = rule.scope.after or ("complaint" if rule.applies_when.complaint else None)
            if needs and needs not in self.triggers:
                raise ValueError(f"@rules.{i}.scope: 规则 {rule.code} 需要 triggers.{needs}，但规则库没有定义")
        return self
