"""Run a rulebook's rules over one conversation and return raw hits.

The rulebook is compiled once (one phrase automaton for all rules, regexes compiled,
template matchers fitted); `CompiledRulebook.evaluate(conversation)` is then a pure
function of the conversation. Points are assigned later by the scorecard.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from csqa.checks import negation
from csqa.checks.phrases import PhraseIndex, match_groups, phrase_groups
from csqa.checks.questions import find_confirmation
from csqa.checks.repetition import emoji_count, repeated_messages
from csqa.checks.similarity import TemplateMatcher
from csqa.checks.timing import responses
from csqa.model import AGENT, CUSTOMER, Conversation, Message
from csqa.rulebook.schema import CHECK_NAMES_ZH, Match, Rule, Rulebook
from csqa.text.segment import token_bounds


@dataclass(slots=True)
class Hit:
    """A rule's raw result on one conversation: where, what, and why (no points yet)."""

    rule: Rule
    explanation: str
    message_index: int | None = None
    span: tuple[int, int] | None = None  # in the normalized text of the message
    matched: str = ""


@dataclass(slots=True)
class Evaluation:
    hits: list[Hit] = field(default_factory=list)
    applicable: list[Rule] = field(default_factory=list)
    not_applicable: list[Rule] = field(default_factory=list)
    complaint_index: int | None = None


class MessageView:
    """Per-conversation cache of each message's word boundaries and phrase hits."""

    def __init__(self, conv: Conversation, index: PhraseIndex):
        self.conv = conv
        self.index = index
        self._hits: dict[int, dict] = {}

    def phrase_hits(self, msg: Message) -> dict:
        hits = self._hits.get(msg.index)
        if hits is None:
            hits = self.index.find(msg.clean, set(token_bounds(msg.tokens)))
            self._hits[msg.index] = hits
        return hits

    @cached_property
    def customer_texts(self) -> list[tuple[int, str]]:
        return [(m.index, m.clean) for m in self.conv.messages if m.role == CUSTOMER]

    def customer_texts_before(self, index: int) -> list[str]:
        return [t for i, t in self.customer_texts if i < index]


# Every personal-data recognizer needs a digit (phone, ID, card, house number), an @ (e-mail)
# or a WeChat cue (a WeChat id may hold no digit).
_MAY_HOLD_PII = re.compile(r"[0-9０-９@＠]|微信|[vVwW][xX]|[vV]信|薇信|威信")


def may_hold_pii(text: str) -> bool:
    """Cheap pre-check before the personal-data recognizers (no digit and no @: nothing to find)."""
    return _MAY_HOLD_PII.search(text) is not None


class CompiledMatch:
    """A `Match` block ready to run: OR of its matchers, then its exceptions."""

    def __init__(self, match: Match):
        self.match = match
        self.groups = phrase_groups(match.phrases)
        self.phrase_set = frozenset(p for group in self.groups for p in group)
        # a block made of phrases only cannot match a message without any of them (fast path)
        self.phrase_only = bool(self.groups) and not (
            match.regex or match.similar_to or match.question or match.pii or match.off_platform
        )
        self.regexes = [re.compile(p) for p in match.regex]
        self.templates = TemplateMatcher(match.similar_to, match.threshold) if match.similar_to else None
        self.exclude = list(match.exclude)
        self.redeemers = list(match.unless_followed_by)

    def phrases(self) -> set[str]:
        return {p for group in self.groups for p in group} | set(self.exclude) | set(self.redeemers)

    def find(self, msg: Message, view: MessageView, following: list[Message] = (), first_only: bool = False
             ) -> list[tuple[int, int, str]]:
        """Spans where the block matches, after its exceptions. With `first_only`, stop at the
        first matcher that finds something (enough for `require` rules; skips costly matchers)."""
        if self.phrase_only and self.phrase_set.isdisjoint(view.phrase_hits(msg)):
            return []
        found: list[tuple[int, int, str]] = []
        for spans in self._candidates(msg, view):
            if not spans:
                continue
            kept = [sp for sp in _outermost(spans, msg.clean) if not self._excepted(sp, msg, view, view.phrase_hits(msg), following)]
            if kept and first_only:
                return kept
            found.extend(kept)
        return _outermost(found, msg.clean) if found else found

    def _candidates(self, msg: Message, view: MessageView):
        """Each matcher's raw spans, cheapest first."""
        text = msg.clean
        if self.groups:
            hits = view.phrase_hits(msg)
            yield match_groups(self.groups, hits, self.match.mode, self.match.at_least, self.phrase_set) if hits else []
        if self.regexes:
            yield [(m.start(), m.end(), m.group(0)) for rx in self.regexes for m in rx.finditer(text) if m.end() > m.start()]
        if self.match.question:
            yield [(s, e, text[s:e]) for s, e in find_confirmation(text)]
        if self.match.off_platform:
            from csqa.checks.off_platform import find_off_platform

            yield [(p.start, p.end, p.text) for p in find_off_platform(text)]
        if self.match.pii and _MAY_HOLD_PII.search(text):
            from csqa.checks.pii import find_pii

            yield [(p.start, p.end, p.text) for p in find_pii(text, kinds=set(self.match.pii))]
        if self.templates is not None:
            yield [(s, e, text[s:e]) for s, e, _ in self.templates.find(text)]

    def _excepted(self, span, msg: Message, view: MessageView, hits, following) -> bool:
        start, end, _ = span
        text = msg.clean
        for phrase in self.exclude:
            for s, e in hits.get(phrase, ()):
                if s <= start and end <= e:
                    return True
        if self.match.unless_negated and negation.is_negated(text, start):
            return True
        if self.match.unless_quoted and negation.is_quoted(text, start, end, view.customer_texts_before(msg.index)):
            return True
        if self.redeemers:
            if any(e > start for p in self.redeemers for (s, e) in hits.get(p, ())):
                return True
            for nxt in following[:1]:
                if any(view.phrase_hits(nxt).get(p) for p in self.redeemers):
                    return True
        return False


def _outermost(spans, text: str | None = None) -> list[tuple[int, int, str]]:
    """Merge overlapping spans (你自己没看清楚 ⊃ 自己没看清楚; 你脑子 ∩ 脑子有问题): one finding per place."""
    ordered = sorted(set(spans), key=lambda sp: (sp[0], -(sp[1] - sp[0])))
    out: list[tuple[int, int, str]] = []
    for sp in ordered:
        if out and sp[0] < out[-1][1]:
            last = out[-1]
            if sp[1] > last[1]:
                merged_text = text[last[0] : sp[1]] if text is not None else last[2] + sp[2][last[1] - sp[0]:]
                out[-1] = (last[0], sp[1], merged_text)
            continue
        out.append(sp)
    return out


def _explain(rule: Rule, default: str, matched: str = "") -> str:
    template = rule.explanation or default
    return template.replace("{matched}", matched)


class CompiledRulebook:
    def __init__(self, rulebook: Rulebook, select=None, ignore=None):
        self.rulebook = rulebook
        self.rules = [r for r in rulebook.rules if r.enabled and _selected(r, select, ignore)]
        self.matches: dict[str, CompiledMatch] = {}
        for rule in self.rules:
            body = rule.require or rule.forbid
            if body is not None:
                self.matches[rule.code] = CompiledMatch(body)
        self.triggers = {name: CompiledMatch(t.match) for name, t in rulebook.triggers.items()}
        phrases: set[str] = set()
        for cm in list(self.matches.values()) + list(self.triggers.values()):
            phrases |= cm.phrases()
        self.phrase_index = PhraseIndex(phrases)
        self.dimensions = {d.id: d for d in rulebook.dimensions}

    def vocabulary(self) -> set[str]:
        """Every phrase of the rulebook (added to jieba so they are kept whole)."""
        return set(self.phrase_index.phrases)

    # ---- triggers -------------------------------------------------------------
    def trigger_index(self, name: str, conv: Conversation, view: MessageView) -> int | None:
        trig = self.rulebook.triggers.get(name)
        if trig is None:
            return None
        cm = self.triggers[name]
        for msg in conv.messages:
            if msg.role != trig.role:
                continue
            if trig.use_classifier and msg.complaint is not None and msg.complaint.is_complaint:
                return msg.index
            if cm.find(msg, view, first_only=True):
                return msg.index
        return None

    # ---- evaluation -----------------------------------------------------------
    def evaluate(self, conv: Conversation) -> Evaluation:
        view = MessageView(conv, self.phrase_index)
        agents = conv.agent_messages()
        n_customer = sum(1 for m in conv.messages if m.role == CUSTOMER)
        complaint_at = self.trigger_index("complaint", conv, view) if "complaint" in self.triggers else None
        pending_at = self.trigger_index("pending", conv, view) if "pending" in self.triggers else None
        result = Evaluation(complaint_index=complaint_at)
        for rule in self.rules:
            cond = rule.applies_when
            applies = (
                len(agents) >= cond.min_agent_turns
                and n_customer >= cond.min_customer_turns
                and (not cond.complaint or complaint_at is not None)
                and (not cond.pending or pending_at is not None)
                and (not (cond.has_time or rule.timing) or conv.has_time)
                and (rule.scope.after != "complaint" or complaint_at is not None)
                and (rule.scope.after != "pending" or pending_at is not None)
            )
            if not applies:
                result.not_applicable.append(rule)
                continue
            result.applicable.append(rule)
            trigger_at = complaint_at if rule.scope.after == "complaint" else pending_at
            result.hits.extend(self._run_rule(rule, conv, view, agents, trigger_at))
        return result

    def _window(self, rule: Rule, conv: Conversation, agents: list[Message], trigger_at) -> list[Message]:
        scope = rule.scope
        msgs = agents if scope.role == AGENT else conv.customer_messages()
        if scope.after is not None:
            inclusive = scope.after == "pending"
            msgs = [m for m in msgs if (m.index >= trigger_at if inclusive else m.index > trigger_at)]
            if scope.within_turns:
                msgs = msgs[: scope.within_turns]
        if scope.first_turns:
            msgs = msgs[: scope.first_turns]
        if scope.last_turns:
            msgs = msgs[-scope.last_turns :]
        return msgs

    def _run_rule(self, rule: Rule, conv: Conversation, view: MessageView, agents, trigger_at) -> list[Hit]:
        name = CHECK_NAMES_ZH.get(rule.check, rule.check)
        if rule.timing is not None:
            return self._timing(rule, conv)
        if rule.repetition is not None:
            return [
                Hit(rule, _explain(rule, f"{rule.name}: 相同内容重复发送超过 {rule.repetition.max_repeats} 次"), m.index, (0, len(m.clean)), m.clean)
                for m in repeated_messages(agents, rule.repetition.min_chars, rule.repetition.max_repeats)
            ]
        if rule.emoji is not None:
            return self._emoji(rule, agents)
        window = self._window(rule, conv, agents, trigger_at)
        cm = self.matches[rule.code]
        if rule.require is not None:
            for msg in window:
                if cm.find(msg, view, first_only=True):
                    return [Hit(rule, _explain(rule, f"{rule.name}: 已做到"), None)] if rule.bonus else []
            if rule.bonus:
                return []
            where = _describe_window(rule)
            return [Hit(rule, _explain(rule, f"缺少{name}: {where}未发现{rule.name}"))]
        hits = []
        for pos, msg in enumerate(window):
            following = window[pos + 1 :]
            for start, end, matched in cm.find(msg, view, following):
                hits.append(Hit(rule, _explain(rule, f"{name}: 客服使用了「{matched}」", matched), msg.index, (start, end), matched))
        return hits

    def _timing(self, rule: Rule, conv: Conversation) -> list[Hit]:
        hits = []
        for r in responses(conv):
            limit = rule.timing.first_response_s if r.first else rule.timing.response_s
            if limit is None or r.seconds <= limit:
                continue
            kind = "首次响应" if r.first else "回复"
            hits.append(
                Hit(rule, _explain(rule, f"{kind}超时: 顾客等待 {r.seconds:.0f} 秒 (上限 {limit:.0f} 秒)"), r.agent_index)
            )
        return hits

    def _emoji(self, rule: Rule, agents: list[Message]) -> list[Hit]:
        hits = []
        counts = [(m, emoji_count(m)) for m in agents]
        for msg, n in counts:
            if n > rule.emoji.max_per_message:
                hits.append(Hit(rule, _explain(rule, f"表情过多: 一条消息使用了 {n} 个表情 (上限 {rule.emoji.max_per_message})"), msg.index, (0, len(msg.clean)), msg.clean))
        with_emoji = sum(1 for _, n in counts if n)
        if not hits and len(agents) >= 4 and with_emoji / len(agents) > rule.emoji.max_messages_ratio:
            hits.append(Hit(rule, _explain(rule, f"表情过多: {with_emoji}/{len(agents)} 条客服消息带表情")))
        return hits


def _describe_window(rule: Rule) -> str:
    s = rule.scope
    if s.after == "complaint":
        return f"顾客投诉后的 {s.within_turns or '全部'} 条客服回复中"
    if s.after == "pending":
        return f"问题待处理后的 {s.within_turns or '全部'} 条客服回复中"
    if s.first_turns:
        return f"客服前 {s.first_turns} 条回复中"
    if s.last_turns:
        return f"客服最后 {s.last_turns} 条回复中"
    return "整个会话中"


def _selected(rule: Rule, select, ignore) -> bool:
    def hit(names):
        return any(n in (rule.code, rule.check) or rule.code.startswith(n) for n in names)

    if select and not hit(select):
        return False
    if ignore and hit(ignore):
        return False
    return True
