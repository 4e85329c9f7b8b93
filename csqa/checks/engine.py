"""Run a rulebook's rules over one conversation and return raw hits (points come later, in the scorecard).

The rulebook is compiled once: each rule becomes the runner of its kind (csqa.checks.rules), each
`require` / `forbid` block a `MatchBlock` (csqa.checks.block), and all phrases of all rules one automaton.
`CompiledRulebook.evaluate(conversation)` is then a pure function of the conversation:

1. the conversation as the rules see it (`ConversationView`: phrase hits, each side's messages, response
   times);
2. its triggers: the one complaint decision (csqa.complaints.conversation) and the pending issue;
3. which rules apply (N/A otherwise: too few turns, no complaint, no timestamps …);
4. each applicable rule's hits, in rulebook order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from csqa.checks.block import MatchBlock
from csqa.checks.matchers import ConductMatcher, PhraseIndex
from csqa.checks.outcome import Outcome, OutcomeCues, ReplyClassifier, analyse as analyse_outcome
from csqa.checks.response_times import Response
from csqa.checks.rules.base import Hit, Situation
from csqa.checks.rules.emoji import EmojiRule
from csqa.checks.rules.forbid import ForbidRule
from csqa.checks.rules.outcome import OutcomeRule
from csqa.checks.rules.repetition import RepetitionRule
from csqa.checks.rules.require import RequireRule
from csqa.checks.rules.timing import TimingRule
from csqa.checks.view import ConversationView
from csqa.complaints.conversation import ComplaintDecision, decide as decide_complaint
from csqa.core.memo import Memo
from csqa.core.records import AGENT, Conversation
from csqa.rulebook.schema import Rule, Rulebook

__all__ = ["CompiledRulebook", "Evaluation", "Hit"]


@dataclass(slots=True)
class Evaluation:
    hits: list[Hit] = field(default_factory=list)
    applicable: list[Rule] = field(default_factory=list)
    not_applicable: list[Rule] = field(default_factory=list)
    complaint_index: int | None = None
    responses: list[Response] = field(default_factory=list)  # response times (timestamps only)
    complaint: ComplaintDecision | None = None  # the one complaint decision (trigger and columns)
    outcome: Outcome | None = None  # the conversation's outcome, when an outcome rule ran


class CompiledRulebook:
    def __init__(self, rulebook: Rulebook, select=None, ignore=None, models: bool = True):
        """`models=False` (csqa score --no-model): no model at all — conduct matchers are left out and the
        outcome checks tell an answer from a filler by their phrase lists."""
        self.rulebook = rulebook
        self.rules = [r for r in rulebook.rules if r.enabled and _selected(r, select, ignore)]
        self.dimensions = {d.id: d for d in rulebook.dimensions}
        self.checks = {r.code: _runner(r, models) for r in self.rules}
        # every cue of a trigger: (role, block), its own first, then its `also` cues
        self.trigger_cues = {
            name: [(t.role, MatchBlock(t.match))] + [(cue.role, MatchBlock(cue.match)) for cue in t.also]
            for name, t in rulebook.triggers.items()
        }
        cues = rulebook.outcome
        self.replies = None if cues is None else ReplyClassifier(
            OutcomeCues.compile(cues.filler, cues.deferral, cues.satisfied, cues.unhappy, cues.min_answer_chars),
            _reply_model() if cues.reply_model and models else None)
        words: set[str] = set()
        for block in self._blocks():
            words |= block.words()
        self.phrase_index = PhraseIndex(words)
        # which rules apply depends only on a few thresholds being met: worked out once per combination
        self._applicability = Memo(self._applicable_for, size=4096)

    def _blocks(self) -> list[MatchBlock]:
        rules = [c.block for c in self.checks.values() if isinstance(c, (RequireRule, ForbidRule))]
        return rules + [block for cues in self.trigger_cues.values() for _, block in cues]

    def vocabulary(self) -> set[str]:
        """Every phrase of the rulebook (added to jieba so they are kept whole)."""
        return set(self.phrase_index.phrases)

    def prepare(self, convs) -> None:
        """Before a batch is evaluated: the conduct model's probabilities of the batch's messages that conduct
        matchers (and the outcome checks' reply kinds) read, worked out in one go (alone, each text would be
        a numpy call of its own)."""
        rules = [c for c in self.checks.values() if isinstance(c, ForbidRule) and c.block.conduct is not None]
        roles = {c.rule.scope.role for c in rules}
        if self.replies is not None and self.replies.model is not None and any(r.outcome for r in self.rules):
            roles.add(AGENT)
        if roles:
            from csqa.checks.conduct_model import default_model

            texts = list(dict.fromkeys(m.clean for c in convs for m in c.messages if m.role in roles))
            variants: set[str] = set()
            # rules that read replies alike (the same quoted / allowed blanking) score the same variants
            for matcher in {(c.block.conduct.quoted, c.block.conduct.allowed): c.block.conduct for c in rules}.values():
                variants |= matcher.texts_to_score(texts)
            default_model().prefetch(texts + list(variants))

    # ---- triggers -------------------------------------------------------------------------------------
    def trigger_index(self, name: str, view: ConversationView) -> int | None:
        """The first message matching any of a trigger's cues (the classifier plays no part here)."""
        first = None
        for role, block in self.trigger_cues.get(name, ()):
            if not block.can_match_in(view):
                continue
            for msg in view.agents if role == AGENT else view.customers:
                if first is not None and msg.index >= first:
                    break
                if block.matches(msg, view):
                    first = msg.index
                    break
        return first

    def complaint(self, view: ConversationView) -> ComplaintDecision:
        """The conversation's one complaint decision (`csqa.complaints.conversation.decide`).

        With the classifier's verdicts on the customer messages (and a complaint trigger that uses the
        classifier, or none), they decide; without them the trigger's cues do."""
        trig = self.rulebook.triggers.get("complaint")
        if trig is not None and not trig.use_classifier:
            return decide_complaint((), self.trigger_index("complaint", view))
        if any(m.complaint is not None for m in view.customers):
            return decide_complaint(view.customers, min_probability=trig.min_probability if trig is not None else 0.0)
        cue_at = self.trigger_index("complaint", view) if trig is not None else None
        return decide_complaint((), cue_at, cues_decide=trig is not None)

    # ---- evaluation -----------------------------------------------------------------------------------
    def view(self, conv: Conversation) -> ConversationView:
        """What the checks read of a conversation: its messages by role, their phrase hits, the responses."""
        return ConversationView(conv, self.phrase_index)

    def evaluate(self, conv: Conversation) -> Evaluation:
        view = self.view(conv)
        complaint = self.complaint(view)
        situation = Situation(complaint.first_index,
                              self.trigger_index("pending", view) if "pending" in self.trigger_cues else None,
                              lambda: analyse_outcome(conv.messages, self.replies))
        applicable, not_applicable = self._applicability((
            len(view.agents), len(view.customers), situation.complaint_at is not None,
            situation.pending_at is not None, conv.has_time))
        result = Evaluation(complaint_index=situation.complaint_at, applicable=list(applicable),
                            not_applicable=list(not_applicable), complaint=complaint, responses=view.responses)
        for rule in applicable:
            result.hits.extend(self.checks[rule.code].run(view, situation))
        result.outcome = situation._outcome
        return result

    def _applicable_for(self, key: tuple) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
        n_agents, n_customers, has_complaint, has_pending, has_time = key
        applicable, not_applicable = [], []
        for rule in self.rules:
            when = rule.applies_when
            applies = (n_agents >= when.min_agent_turns and n_customers >= when.min_customer_turns
                       and (has_complaint or not (when.complaint or rule.scope.after == "complaint"))
                       and (has_pending or not (when.pending or rule.scope.after == "pending"))
                       and (has_time or not (when.has_time or rule.timing is not None)))
            (applicable if applies else not_applicable).append(rule)
        return tuple(applicable), tuple(not_applicable)


def _runner(rule: Rule, models: bool):
    """The runner of a rule's kind."""
    if rule.require is not None:
        return RequireRule(rule, MatchBlock(rule.require, models))
    if rule.forbid is not None:
        return ForbidRule(rule, MatchBlock(rule.forbid, models))
    if rule.timing is not None:
        return TimingRule(rule)
    if rule.repetition is not None:
        return RepetitionRule(rule)
    if rule.emoji is not None:
        return EmojiRule(rule)
    return OutcomeRule(rule)


def _reply_model():
    """The conduct model, whose reply head tells the outcome checks what an agent reply does."""
    from csqa.checks.conduct_model import default_model

    model = default_model()
    return model if model.reply_classes else None


def _selected(rule: Rule, select, ignore) -> bool:
    def hit(names):
        return any(n in (rule.code, rule.check) or rule.code.startswith(n) for n in names)

    if select and not hit(select):
        return False
    if ignore and hit(ignore):
        return False
    return True
