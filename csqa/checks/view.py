"""One conversation as the rules see it, worked out once before any rule runs.

Every message's phrase hits (one pass of the rulebook's phrase automaton per distinct text), the phrases
present anywhere, the agent's and the customer's messages, and the response times; the rules then only
look things up. A rule's window — the messages it looks at — comes from its scope (`window`).
"""
from __future__ import annotations

from csqa.checks.matchers import PhraseIndex
from csqa.checks.response_times import Response, responses
from csqa.core.records import AGENT, CUSTOMER, Conversation, Message
from csqa.rulebook.schema import Scope


class ConversationView:
    __slots__ = ("conv", "phrase_hits", "present", "agents", "customers", "responses")

    def __init__(self, conv: Conversation, phrases: PhraseIndex):
        self.conv = conv
        self.phrase_hits = [phrases.hits(m.clean, m.tokens) for m in conv.messages]
        self.present: set[str] = set().union(*self.phrase_hits)  # every phrase found somewhere
        self.agents = [m for m in conv.messages if m.role == AGENT]
        self.customers = [m for m in conv.messages if m.role == CUSTOMER]
        self.responses: list[Response] = responses(conv) if conv.has_time else []

    def customer_texts_before(self, index: int) -> list[str]:
        return [m.clean for m in self.customers if m.index < index]

    def customer_turns_between(self, start: int, end: int) -> int:
        messages = self.conv.messages
        return sum(1 for i in range(start + 1, end) if messages[i].role == CUSTOMER)

    def window(self, scope: Scope, trigger_at: int | None) -> list[Message]:
        """The messages a rule with this scope looks at: one side's, after the trigger (a complaint, a
        pending issue) when the scope says so, cut to the first or last turns."""
        msgs = self.agents if scope.role == AGENT else self.customers
        if scope.after is not None:
            if scope.after == "pending":
                msgs = [m for m in msgs if m.index >= trigger_at]
            else:
                msgs = [m for m in msgs if m.index > trigger_at]
            if scope.within_turns:
                msgs = msgs[: scope.within_turns]
        if scope.first_turns:
            msgs = msgs[: scope.first_turns]
        if scope.last_turns:
            msgs = msgs[-scope.last_turns:]
        return msgs
