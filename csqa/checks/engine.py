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
from csqa.checks.repetition import emoji_count, may_hold_emoji, repeated_messages
from csqa.checks.similarity import TemplateMatcher
from csqa.checks.timing import Response, responses
from csqa.model import AGENT, CUSTOMER, Conversation, Message
from csqa.rulebook.schema import CHECK_NAMES_ZH, Match, Rule, Rulebook


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
    responses: list[Response] = field(default_factory=list)  # response times (timestamps only)


_NOTHING: frozenset = frozenset()


class MessageView:
    """One conversation prepared for the rules, once: every message's phrase hits (one pass of
    the automaton per message, done up front), the phrases present anywhere in it, its agent
    and customer messages and its response times. Rules then only look things up."""

    def __init__(self, conv: Conversation, index: PhraseIndex):
        self.conv = conv
        self.hits = [index.find(m.clean, m.tokens) for m in conv.messages]
        self.present = set().union(*self.hits)  # every phrase found somewhere in the conversation
        self.agents = [m for m in conv.messages if m.role == AGENT]
        self.customers = [m for m in conv.messages if m.role == CUSTOMER]
        # per message: which of the rulebook's scanners found something in it (see `CompiledRulebook`)
        self.scans: list[frozenset[int]] = [_NOTHING] * len(conv.messages)
        self.scanned: set[int] = set()  # … in any message

    def phrase_hits(self, msg: Message) -> dict:
        return self.hits[msg.index]

    @cached_property
    def responses(self) -> list:
        return responses(self.conv) if self.conv.has_time else []

    def customer_texts_before(self, index: int) -> list[str]:
        return [m.clean for m in self.customers if m.index < index]


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
        self.pii_kinds = frozenset(match.pii)
        self.has_exceptions = bool(self.exclude or self.redeemers or match.unless_negated or match.unless_quoted)
        # the block's matchers, cheapest first: each maps (message, view) to raw spans. All but the
        # phrases are pure functions of the text, and canned replies recur: their spans are cached
        # per text
        self.text_matchers = [
            _PerText(spans_of)
            for used, spans_of in (
                (self.regexes, self._regex_spans),
                (match.question, _question_spans),
                (match.off_platform, _off_platform_spans),
                (match.pii, self._pii_spans),
                (self.templates is not None, self._template_spans),
            )
            if used
        ]
        self.matchers = ([self._phrase_spans] if self.groups else []) + self.text_matchers
        # positions of the text matchers among the rulebook's scanners (`forbid` blocks only)
        self.scan_ids: frozenset[int] = frozenset()

    def phrases(self) -> set[str]:
        return {p for group in self.groups for p in group} | set(self.exclude) | set(self.redeemers)

    def never_matches(self, view: MessageView) -> bool:
        """True when the block cannot match anywhere in the conversation (phrases only, none present)."""
        return self.phrase_only and self.phrase_set.isdisjoint(view.present)

    def find(self, msg: Message, view: MessageView, following: list[Message] = (), first_only: bool = False
             ) -> list[tuple[int, int, str]]:
        """Spans where the block matches, after its exceptions. With `first_only`, stop at the
        first matcher that finds something (enough for `require` rules; skips costly matchers)."""
        if self.phrase_only and self.phrase_set.isdisjoint(view.hits[msg.index]):
            return []
        found: list[tuple[int, int, str]] = []
        for matcher in self.matchers:
            spans = matcher(msg, view)
            if not spans:
                continue
            kept = self._kept(spans, msg, view, following)
            if kept and first_only:
                return kept
            found.extend(kept)
        return _outermost(found, msg.clean) if found else found

    def occurs_in(self, msgs: list[Message], view: MessageView) -> bool:
        """Whether the block matches (after its exceptions) in any of `msgs`. Each matcher is tried
        on every message before the next, costlier one (similarity) runs at all."""
        if self.never_matches(view):
            return False
        for matcher in self.matchers:
            for msg in msgs:
                spans = matcher(msg, view)
                if spans and self._kept(spans, msg, view, ()):
                    return True
        return False

    # ---- matchers: raw spans (start, end, text) ---------------------------------------------
    def _phrase_spans(self, msg: Message, view: MessageView):
        hits = view.hits[msg.index]
        if not hits or self.phrase_set.isdisjoint(hits):
            return ()
        return match_groups(self.groups, hits, self.match.mode, self.match.at_least, self.phrase_set)

    def _template_spans(self, text: str):
        return [(s, e, text[s:e]) for s, e, _ in self.templates.find(text)]

    def _regex_spans(self, text: str):
        return [(m.start(), m.end(), m.group(0)) for rx in self.regexes for m in rx.finditer(text) if m.end() > m.start()]

    def _pii_spans(self, text: str):
        if _MAY_HOLD_PII.search(text) is None:
            return ()
        from csqa.checks.pii import find_pii

        return [(p.start, p.end, p.text) for p in find_pii(text, kinds=set(self.pii_kinds))]

    # ---- exceptions -----------------------------------------------------------------------
    def _kept(self, spans, msg: Message, view: MessageView, following) -> list[tuple[int, int, str]]:
        merged = _outermost(spans, msg.clean)
        if not self.has_exceptions:
            return merged
        hits = view.hits[msg.index]
        return [sp for sp in merged if not self._excepted(sp, msg, view, hits, following)]

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
                if any(view.hits[nxt.index].get(p) for p in self.redeemers):
                    return True
        return False


_CACHE_SIZE = 50_000  # texts per matcher cache (cleared when full)


class _PerText:
    """A matcher (message, view) → spans that works out `spans_of(text)` once per distinct text."""

    def __init__(self, spans_of):
        self.spans_of = spans_of
        self.cache: dict[str, tuple] = {}

    def __call__(self, msg: Message, view: MessageView) -> tuple:
        found = self.cache.get(msg.clean)
        return self.spans(msg.clean) if found is None else found

    def spans(self, text: str) -> tuple:
        found = self.cache.get(text)
        if found is None:
            if len(self.cache) >= _CACHE_SIZE:
                self.cache.clear()
            found = self.cache[text] = tuple(self.spans_of(text))
        return found


def _question_spans(text: str):
    return [(s, e, text[s:e]) for s, e in find_confirmation(text)]


def _off_platform_spans(text: str):
    from csqa.checks.off_platform import find_off_platform

    return [(p.start, p.end, p.text) for p in find_off_platform(text)]


def _outermost(spans, text: str | None = None) -> list[tuple[int, int, str]]:
    """Merge overlapping spans (你自己没看清楚 ⊃ 自己没看清楚; 你脑子 ∩ 脑子有问题): one finding per place."""
    if len(spans) == 1:
        return [spans[0]]
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
        # The text matchers of `forbid` rules (regex, pii, off_platform …) run on every message the
        # rules look at: each distinct text is scanned by all of them at once, and a rule whose
        # matchers found nothing in a message (nor any of its phrases) skips that message, or the
        # whole conversation.
        self._scanners: list[_PerText] = []
        self._scan_roles: set[str] = set()
        for rule in self.rules:
            cm = self.matches.get(rule.code)
            if rule.forbid is not None and cm.text_matchers:
                cm.scan_ids = frozenset(range(len(self._scanners), len(self._scanners) + len(cm.text_matchers)))
                self._scanners.extend(cm.text_matchers)
                self._scan_roles.add(rule.scope.role)
        self._scan_cache: dict[str, frozenset[int]] = {}
        self.dimensions = {d.id: d for d in rulebook.dimensions}
        # the explanations of require rules do not depend on the conversation
        self._done = {r.code: _explain(r, f"{r.name}: 已做到") for r in self.rules if r.require is not None}
        self._missing = {
            r.code: _explain(r, f"缺少{CHECK_NAMES_ZH.get(r.check, r.check)}: {_describe_window(r)}未发现{r.name}")
            for r in self.rules
            if r.require is not None
        }
        # when each rule applies: (rule, min agent turns, min customer turns, needs a complaint,
        # needs a pending issue, needs timestamps)
        self._conditions = [
            (
                r,
                r.applies_when.min_agent_turns,
                r.applies_when.min_customer_turns,
                r.applies_when.complaint or r.scope.after == "complaint",
                r.applies_when.pending or r.scope.after == "pending",
                r.applies_when.has_time or r.timing is not None,
            )
            for r in self.rules
        ]

    def vocabulary(self) -> set[str]:
        """Every phrase of the rulebook (added to jieba so they are kept whole)."""
        return set(self.phrase_index.phrases)

    # ---- triggers -------------------------------------------------------------
    def trigger_index(self, name: str, conv: Conversation, view: MessageView) -> int | None:
        trig = self.rulebook.triggers.get(name)
        if trig is None:
            return None
        cm = self.triggers[name]
        if not trig.use_classifier and cm.never_matches(view):
            return None
        for msg in view.agents if trig.role == AGENT else view.customers:
            if trig.use_classifier and msg.complaint is not None and msg.complaint.is_complaint:
                return msg.index
            if cm.find(msg, view, first_only=True):
                return msg.index
        return None

    # ---- evaluation -----------------------------------------------------------
    def evaluate(self, conv: Conversation) -> Evaluation:
        view = self.view(conv)
        agents = view.agents
        n_customer = len(view.customers)
        complaint_at = self.trigger_index("complaint", conv, view) if "complaint" in self.triggers else None
        pending_at = self.trigger_index("pending", conv, view) if "pending" in self.triggers else None
        result = Evaluation(complaint_index=complaint_at)
        n_agents = len(agents)
        for rule, min_agents, min_customers, needs_complaint, needs_pending, needs_time in self._conditions:
            applies = (
                n_agents >= min_agents
                and n_customer >= min_customers
                and (not needs_complaint or complaint_at is not None)
                and (not needs_pending or pending_at is not None)
                and (not needs_time or conv.has_time)
            )
            if not applies:
                result.not_applicable.append(rule)
                continue
            result.applicable.append(rule)
            trigger_at = complaint_at if rule.scope.after == "complaint" else pending_at
            result.hits.extend(self._run_rule(rule, conv, view, agents, trigger_at))
        result.responses = view.responses
        return result

    def view(self, conv: Conversation) -> MessageView:
        """The conversation prepared for the rules: phrase hits, and what the scanners found."""
        view = MessageView(conv, self.phrase_index)
        if self._scanners:
            view.scans = [self._scan(m.clean) if m.role in self._scan_roles else _NOTHING for m in conv.messages]
            view.scanned = set().union(*view.scans)
        return view

    def _scan(self, text: str) -> frozenset[int]:
        """Which scanners find something in `text` (once per distinct text)."""
        found = self._scan_cache.get(text)
        if found is None:
            if len(self._scan_cache) >= _CACHE_SIZE:
                self._scan_cache.clear()
            found = self._scan_cache[text] = frozenset(i for i, m in enumerate(self._scanners) if m.spans(text))
        return found

    def _window(self, rule: Rule, view: MessageView, trigger_at) -> list[Message]:
        scope = rule.scope
        msgs = view.agents if scope.role == AGENT else view.customers
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
        if rule.timing is not None:
            return self._timing(rule, view)
        if rule.repetition is not None:
            return [
                Hit(rule, _explain(rule, f"{rule.name}: 相同内容重复发送超过 {rule.repetition.max_repeats} 次"), m.index, (0, len(m.clean)), m.clean)
                for m in repeated_messages(agents, rule.repetition.min_chars, rule.repetition.max_repeats)
            ]
        if rule.emoji is not None:
            return self._emoji(rule, agents)
        cm = self.matches[rule.code]
        if rule.require is not None:
            if cm.occurs_in(self._window(rule, view, trigger_at), view):
                return [Hit(rule, self._done[rule.code], None)] if rule.bonus else []
            return [] if rule.bonus else [Hit(rule, self._missing[rule.code])]
        phrases, scan_ids = cm.phrase_set, cm.scan_ids
        if phrases.isdisjoint(view.present) and scan_ids.isdisjoint(view.scanned):
            return []  # none of its phrases and none of its matchers found anything in the conversation
        window = self._window(rule, view, trigger_at)
        hits = []
        name = CHECK_NAMES_ZH.get(rule.check, rule.check)
        for pos, msg in enumerate(window):
            if phrases.isdisjoint(view.hits[msg.index]) and scan_ids.isdisjoint(view.scans[msg.index]):
                continue
            # only the next message of the window can redeem a match (unless_followed_by)
            for start, end, matched in cm.find(msg, view, window[pos + 1 : pos + 2] if cm.redeemers else ()):
                hits.append(Hit(rule, _explain(rule, f"{name}: 客服使用了「{matched}」", matched), msg.index, (start, end), matched))
        return hits

    def _timing(self, rule: Rule, view: MessageView) -> list[Hit]:
        hits = []
        for r in view.responses:
            limit = rule.timing.first_response_s if r.first else rule.timing.response_s
            if limit is None or r.seconds <= limit:
                continue
            kind = "首次响应" if r.first else "回复"
            hits.append(
                Hit(rule, _explain(rule, f"{kind}超时: 顾客等待 {r.seconds:.0f} 秒 (上限 {limit:.0f} 秒)"), r.agent_index)
            )
        return hits

    def _emoji(self, rule: Rule, agents: list[Message]) -> list[Hit]:
        limit = rule.emoji
        if limit.max_per_message >= 0 and limit.max_messages_ratio >= 0 and not may_hold_emoji("".join(m.clean for m in agents)):
            return []  # no emoji in any agent message
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
