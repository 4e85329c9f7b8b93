"""Run a rulebook's rules over one conversation and return raw hits.

The rulebook is compiled once (one phrase automaton for all rules, regexes compiled,
template matchers fitted); `CompiledRulebook.evaluate(conversation)` is then a pure
function of the conversation. Points are assigned later by the scorecard.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from csqa.checks import negation
from csqa.checks.phrases import NO_HITS, PhraseIndex, match_groups, phrase_groups
from csqa.checks.outcome import Outcome, OutcomeCues, ReplyClassifier, analyse as analyse_outcome
from csqa.checks.questions import find_confirmation
from csqa.checks.repetition import emoji_count, may_hold_emoji, repeated_messages
from csqa.checks.similarity import TemplateMatcher
from csqa.checks.timing import Response, responses
from csqa.complaints.conversation import ComplaintDecision, decide as decide_complaint
from csqa.core.records import AGENT, CUSTOMER, Conversation, Message
from csqa.rulebook.schema import CHECK_NAMES_ZH, Match, Rule, Rulebook
from csqa.core.memo import TEXTS_PER_MEMO


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
    complaint: ComplaintDecision | None = None  # the one complaint decision (trigger and columns)
    outcome: Outcome | None = None  # the conversation's outcome, when an outcome rule ran


_NOTHING: frozenset = frozenset()


class MessageView:
    """One conversation prepared for the rules, once: every message's phrase hits (one pass of
    the automaton per message, done up front), the phrases present anywhere in it, its agent
    and customer messages and its response times. Rules then only look things up."""

    def __init__(self, conv: Conversation, index: PhraseIndex | None = None, prepared=None):
        self.conv = conv
        if prepared is None:
            self.hits = [index.find(m.clean, m.tokens) for m in conv.messages]
            self.present = set().union(*self.hits)  # every phrase found somewhere in the conversation
            self.agents = [m for m in conv.messages if m.role == AGENT]
            self.customers = [m for m in conv.messages if m.role == CUSTOMER]
            # per message: which of the rulebook's scanners found something in it (see `CompiledRulebook`)
            self.scans: list[frozenset[int]] = [_NOTHING] * len(conv.messages)
            self.scanned: set[int] = set()  # … in any message
            self.infos: list[_TextInfo] | None = None  # per message: what is known of its text
        else:
            self.hits, self.present, self.agents, self.customers, self.scans, self.scanned, self.infos = prepared
        # every evaluation reports them (`Evaluation.responses`): worked out here rather than
        # behind a cached_property, whose lookup costs more than a short conversation's walk
        self.responses: list[Response] = responses(conv) if conv.has_time else []

    def phrase_hits(self, msg: Message) -> dict:
        return self.hits[msg.index]

    def customer_texts_before(self, index: int) -> list[str]:
        return [m.clean for m in self.customers if m.index < index]


# Every personal-data recognizer needs a digit (phone, ID, card, house number), an @ (e-mail)
# or a WeChat cue (a WeChat id may hold no digit).
_MAY_HOLD_PII = re.compile(r"[0-9０-９@＠]|微信|[vVwW][xX]|[vV]信|薇信|威信")


def may_hold_pii(text: str) -> bool:
    """Cheap pre-check before the personal-data recognizers (no digit and no @: nothing to find)."""
    return _MAY_HOLD_PII.search(text) is not None


class CompiledMatch:
    """A `Match` block ready to run: OR of its matchers, then its exceptions. Without `models` (csqa score
    --no-model) its `conduct` matcher is left out and the block is what its phrases and patterns make it."""

    def __init__(self, match: Match, models: bool = True):
        if match.conduct and not models:
            match = match.model_copy(update={"conduct": None})
        self.match = match
        self.groups = phrase_groups(match.phrases)
        self.phrase_set = frozenset(p for group in self.groups for p in group)
        # a block made of phrases only cannot match a message without any of them (fast path)
        self.phrase_only = bool(self.groups) and not (
            match.regex or match.similar_to or match.question or match.pii or match.off_platform or match.conduct
        )
        self.regexes = [re.compile(p) for p in match.regex]
        self.any_regex = _any_of(match.regex) if len(self.regexes) > 1 else None
        # in a `forbid` block the exemplars follow its exceptions: a negated sentence is compared
        # only with negated exemplars, quoted text is left out (csqa.checks.similarity)
        self.templates = TemplateMatcher(match.similar_to, match.threshold, polarity=match.unless_negated,
                                         skip_quoted=match.unless_quoted) if match.similar_to else None
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
                (match.conduct is not None, self._conduct_spans),
                (self.templates is not None, self._template_spans),
            )
            if used
        ]
        self.matchers = ([self._phrase_spans] if self.groups else []) + self.text_matchers
        # the conduct model's matcher goes last: its spans are whole clauses
        self.conduct_matcher = next((m for m in self.text_matchers if m.spans_of == self._conduct_spans), None)
        if self.conduct_matcher is not None:
            self.matchers.remove(self.conduct_matcher)
            self.matchers.append(self.conduct_matcher)
        # positions of the text matchers among the rulebook's scanners (`forbid` blocks only)
        self.scan_ids: frozenset[int] = frozenset()
        # Whether the block matches one message on its own (no following message) is a function
        # of the message's text and tokens, unless a match may be excused as quoting the customer:
        # such verdicts are kept per text (`_TextInfo`), this block's under bit `verdict_bit`
        # (0: not kept). The similarity matcher, the costliest, gets a verdict of its own, so that
        # it still runs only when no cheaper matcher matched anywhere in the window.
        self.verdict_bit = 0
        self.context_free = not match.unless_quoted
        # the costly ones: the similarity matcher and the conduct model (each text's model scores are worked
        # out for a whole batch beforehand, but a span means scoring clauses)
        costly = [m for m in self.text_matchers if m.spans_of in (self._template_spans, self._conduct_spans)]
        self.cheap_matchers = [m for m in self.matchers if m not in costly]
        self.costly_matchers = [m for m in self.matchers if m in costly]

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
            if matcher is self.conduct_matcher and found:
                continue  # the model speaks for the replies nothing more precise caught (its span is a clause)
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
        bit = self.verdict_bit
        if bit and view.infos is not None:
            # the same answer from per-text verdicts: any message matched by a cheap matcher,
            # else any message matched by the similarity matcher
            infos = view.infos
            for msg in msgs:
                info = infos[msg.index]
                if info.known & bit:  # (the common case, inlined)
                    if info.found & bit:
                        return True
                elif self._cheap_verdict(msg, view, info, bit):
                    return True
            if self.costly_matchers:
                for msg in msgs:
                    if self._costly_verdict(msg, view, infos[msg.index], bit):
                        return True
            return False
        for matcher in self.matchers:
            for msg in msgs:
                spans = matcher(msg, view)
                if spans and self._kept(spans, msg, view, ()):
                    return True
        return False

    def matches_alone(self, msg: Message, view: MessageView) -> bool:
        """Whether `find(msg, view)` (no following message) finds something."""
        bit = self.verdict_bit
        if bit and view.infos is not None:
            info = view.infos[msg.index]
            return self._cheap_verdict(msg, view, info, bit) or (
                bool(self.costly_matchers) and self._costly_verdict(msg, view, info, bit)
            )
        return bool(self.find(msg, view, first_only=True))

    def _cheap_verdict(self, msg: Message, view: MessageView, info: "_TextInfo", bit: int) -> bool:
        if info.known & bit:
            return bool(info.found & bit)
        found = self._any_kept(self.cheap_matchers, msg, view)
        info.known |= bit
        if found:
            info.found |= bit
        return found

    def _costly_verdict(self, msg: Message, view: MessageView, info: "_TextInfo", bit: int) -> bool:
        if info.costly_known & bit:
            return bool(info.costly_found & bit)
        found = self._any_kept(self.costly_matchers, msg, view)
        info.costly_known |= bit
        if found:
            info.costly_found |= bit
        return found

    def _any_kept(self, matchers, msg: Message, view: MessageView) -> bool:
        if self.phrase_only and self.phrase_set.isdisjoint(view.hits[msg.index]):
            return False
        for matcher in matchers:
            spans = matcher(msg, view)
            # without exceptions every raw span is kept
            if spans and (not self.has_exceptions or self._kept(spans, msg, view, ())):
                return True
        return False

    # ---- matchers: raw spans (start, end, text) ---------------------------------------------
    def _phrase_spans(self, msg: Message, view: MessageView):
        hits = view.hits[msg.index]
        if not hits or self.phrase_set.isdisjoint(hits):
            return ()
        return match_groups(self.groups, hits, self.match.mode, self.match.at_least, self.phrase_set)

    def _template_spans(self, text: str):
        match = self.match
        if match.conduct and match.conduct_screen > 0:
            from csqa.checks.conduct import default_model, own_words

            own = own_words(text, match.unless_quoted, match.exclude)
            if default_model().hostility(own) < match.conduct_screen:
                return []  # the model sees no hostile conduct here at all: no exemplar to compare
        return [(s, e, text[s:e]) for s, e, _ in self.templates.find(text)]

    def _regex_spans(self, text: str):
        if self.any_regex is not None and self.any_regex.search(text) is None:
            return ()  # none of the regexes matches anywhere: one search instead of one per regex
        return [(m.start(), m.end(), m.group(0)) for rx in self.regexes for m in rx.finditer(text) if m.end() > m.start()]

    def _conduct_spans(self, text: str):
        from csqa.checks.conduct import default_model

        return default_model().spans(text, self.match.conduct, self.match.conduct_threshold,
                                     quoted=self.match.unless_quoted, allowed=self.match.exclude,
                                     min_chars=self.match.conduct_min_chars)

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
                # the next reply redeems only an answer to the same request: at most the
                # customer's one reaction (「那怎么办」) between, not a new request (「另外，发票呢」)
                if _customer_turns_between(view, msg.index, nxt.index) <= 1 and any(
                    view.hits[nxt.index].get(p) for p in self.redeemers
                ):
                    return True
        return False


def _customer_turns_between(view: MessageView, start: int, end: int) -> int:
    messages = view.conv.messages
    return sum(1 for i in range(start + 1, end) if messages[i].role == CUSTOMER)


_CACHE_SIZE = TEXTS_PER_MEMO  # texts per cache (cleared when full; see csqa.core.memo)

# how a rule runs (`CompiledRulebook._plans`)
_TIMING, _REPEATS, _EMOJI, _REQUIRE, _FORBID, _OUTCOME = range(6)


class _TextInfo:
    """What the rulebook knows of one distinct message text (with its tokens): its phrase hits,
    which scanners find something in it (None: not worked out yet), and per-text verdicts of
    blocks (bit masks, see `CompiledMatch.verdict_bit`)."""

    __slots__ = ("tokens", "hits", "scans", "known", "found", "costly_known", "costly_found", "emoji")

    def __init__(self, tokens, hits):
        self.tokens = tokens
        self.hits = hits
        self.scans: frozenset[int] | None = None
        self.known = self.found = self.costly_known = self.costly_found = 0
        self.emoji: int | None = None  # emoji count (None: not counted yet)


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


_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def _any_of(patterns) -> "re.Pattern[str] | None":
    """One regex that matches somewhere in a text exactly when one of `patterns` does (their
    alternation: at each position the engine tries every alternative), or None when joining them
    could change a pattern's meaning (group references are renumbered, inline flags)."""
    if any(_GROUP_REFERENCE.search(p) or p.lstrip().startswith("(?") and not p.lstrip().startswith(("(?:", "(?=", "(?!", "(?<", "(?P<"))
           for p in patterns):
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error:
        return None


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
    def __init__(self, rulebook: Rulebook, select=None, ignore=None, models: bool = True):
        """`models=False` (csqa score --no-model): no model at all — conduct matchers are left out and the
        outcome checks tell an answer from a filler by their phrase lists."""
        self.rulebook = rulebook
        self.rules = [r for r in rulebook.rules if r.enabled and _selected(r, select, ignore)]
        self.matches: dict[str, CompiledMatch] = {}
        for rule in self.rules:
            body = rule.require or rule.forbid
            if body is not None:
                self.matches[rule.code] = CompiledMatch(body, models)
        self.triggers = {name: CompiledMatch(t.match) for name, t in rulebook.triggers.items()}
        # every cue of a trigger: (role, compiled block), its own first, then its `also` cues
        self.trigger_cues = {
            name: [(t.role, self.triggers[name])] + [(cue.role, CompiledMatch(cue.match)) for cue in t.also]
            for name, t in rulebook.triggers.items()
        }
        cues = rulebook.outcome
        self.replies = None if cues is None else ReplyClassifier(
            OutcomeCues.compile(cues.filler, cues.deferral, cues.satisfied, cues.unhappy, cues.min_answer_chars),
            _reply_model() if cues.reply_model and models else None)
        phrases: set[str] = set()
        for cm in list(self.matches.values()) + self._trigger_blocks():
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
        # what is known of each distinct message text (phrase hits, scans, verdicts); bounded
        self._texts: dict[str, _TextInfo] = {}
        self._timing_texts: dict[tuple, str] = {}  # (rule, first?, seconds) → explanation
        for bit, cm in enumerate(cm for cm in list(self.matches.values()) + self._trigger_blocks() if cm.context_free):
            cm.verdict_bit = 1 << bit
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
        # Which rules apply depends only on these thresholds being met: the rule lists of each
        # combination are worked out once (a handful of combinations, `_applicability`).
        self._agent_cap = max((c[1] for c in self._conditions), default=0)
        self._customer_cap = max((c[2] for c in self._conditions), default=0)
        self._applies: dict[tuple, tuple] = {}
        # how each rule runs: (rule, kind, compiled block, its phrases, its scanners, after complaint?)
        self._plans = {
            r.code: (
                r,
                _TIMING if r.timing is not None else _REPEATS if r.repetition is not None
                else _EMOJI if r.emoji is not None else _OUTCOME if r.outcome is not None
                else _REQUIRE if r.require is not None else _FORBID,
                self.matches.get(r.code),
                self.matches[r.code].phrase_set if r.code in self.matches else _NOTHING,
                self.matches[r.code].scan_ids if r.code in self.matches else _NOTHING,
                r.scope.after == "complaint",
            )
            for r in self.rules
        }

    def _applicability(self, key: tuple) -> tuple:
        """(applicable rules, not applicable rules, plans of the applicable ones) for one
        combination of (agent turns, customer turns, complaint?, pending?, timestamps?)."""
        found = self._applies.get(key)
        if found is None:
            n_agents, n_customer, has_complaint, has_pending, has_time = key
            applicable, not_applicable = [], []
            for rule, min_agents, min_customers, needs_complaint, needs_pending, needs_time in self._conditions:
                applies = (
                    n_agents >= min_agents
                    and n_customer >= min_customers
                    and (not needs_complaint or has_complaint)
                    and (not needs_pending or has_pending)
                    and (not needs_time or has_time)
                )
                (applicable if applies else not_applicable).append(rule)
            found = self._applies[key] = (
                tuple(applicable), tuple(not_applicable), tuple(self._plans[r.code] for r in applicable)
            )
        return found

    def prepare(self, convs) -> None:
        """Before a batch is evaluated: the conduct model's probabilities of the batch's messages that conduct
        rules (and the outcome checks' reply kinds) look at, worked out in one go (alone, each text would be a
        numpy call of its own)."""
        with_model = [r for r in self.rules if r.forbid is not None and self.matches[r.code].match.conduct]
        conduct = [self.matches[r.code].match for r in with_model]
        roles = {r.scope.role for r in with_model}
        if self.replies is not None and self.replies.model is not None and any(r.outcome for r in self.rules):
            roles.add(AGENT)
        if roles:
            from csqa.checks.conduct import default_model, own_words

            texts = list(dict.fromkeys(m.clean for c in convs for m in c.messages if m.role in roles))
            # and each text as the conduct rules score it: their own words, without what they quote
            # (nor a rule's allowed phrases)
            variants = {own_words(t, block.unless_quoted, block.exclude) for t in texts for block in conduct}
            default_model().prefetch(texts + list(variants))

    def vocabulary(self) -> set[str]:
        """Every phrase of the rulebook (added to jieba so they are kept whole)."""
        return set(self.phrase_index.phrases)

    # ---- triggers -------------------------------------------------------------
    def _trigger_blocks(self) -> list[CompiledMatch]:
        return [cm for cues in self.trigger_cues.values() for _, cm in cues]

    def trigger_index(self, name: str, conv: Conversation, view: MessageView) -> int | None:
        """The first message matching any of a trigger's cues (the classifier plays no part here)."""
        cues = self.trigger_cues.get(name)
        if cues is None:
            return None
        first = None
        for role, cm in cues:
            if cm.never_matches(view):
                continue
            for msg in view.agents if role == AGENT else view.customers:
                if first is not None and msg.index >= first:
                    break
                if cm.matches_alone(msg, view):
                    first = msg.index
                    break
        return first

    def complaint(self, conv: Conversation, view: MessageView) -> ComplaintDecision:
        """The conversation's one complaint decision (`csqa.complaints.conversation.decide`).

        With the classifier's verdicts on the customer messages (and a complaint trigger that uses
        the classifier, or none), they decide; without them the trigger's cues do."""
        trig = self.rulebook.triggers.get("complaint")
        if trig is not None and not trig.use_classifier:
            return decide_complaint((), self.trigger_index("complaint", conv, view))
        if any(m.complaint is not None for m in view.customers):
            return decide_complaint(view.customers, min_probability=trig.min_probability if trig is not None else 0.0)
        cue_at = self.trigger_index("complaint", conv, view) if trig is not None else None
        return decide_complaint((), cue_at, cues_decide=trig is not None)

    # ---- evaluation -----------------------------------------------------------
    def evaluate(self, conv: Conversation) -> Evaluation:
        view = self.view(conv)
        agents = view.agents
        complaint = self.complaint(conv, view)
        complaint_at = complaint.first_index
        pending_at = self.trigger_index("pending", conv, view) if "pending" in self.triggers else None
        applicable, not_applicable, plans = self._applicability((
            min(len(agents), self._agent_cap),
            min(len(view.customers), self._customer_cap),
            complaint_at is not None,
            pending_at is not None,
            conv.has_time,
        ))
        result = Evaluation(complaint_index=complaint_at, applicable=list(applicable), not_applicable=list(not_applicable),
                            complaint=complaint)
        hits = result.hits
        present, scanned = view.present, view.scanned
        for rule, kind, cm, phrases, scan_ids, after_complaint in plans:
            trigger_at = complaint_at if after_complaint else pending_at
            if kind == _FORBID:
                if phrases.isdisjoint(present) and scan_ids.isdisjoint(scanned):
                    continue  # none of its phrases and none of its matchers found anything in the conversation
                hits.extend(self._forbidden(rule, cm, view, trigger_at))
            elif kind == _REQUIRE:
                if cm.occurs_in(self._window(rule, view, trigger_at), view):
                    if rule.bonus:
                        hits.append(Hit(rule, self._done[rule.code], None))
                elif not rule.bonus:
                    hits.append(Hit(rule, self._missing[rule.code]))
            elif kind == _OUTCOME:
                if result.outcome is None:
                    result.outcome = analyse_outcome(conv.messages, self.replies)
                hit = _outcome_hit(rule, result.outcome, conv)
                if hit is not None:
                    hits.append(hit)
            else:
                hits.extend(self._run_rule(rule, conv, view, agents, trigger_at))
        result.responses = view.responses
        return result

    def view(self, conv: Conversation) -> MessageView:
        """The conversation prepared for the rules: phrase hits, and what the scanners found.

        One look-up per message in the per-text cache (`_TextInfo`): the phrase hits of a text
        are those of `PhraseIndex.find`, its scans those of every scanner run on it."""
        # (one comprehension per list rather than one loop appending to five: a batch has
        # ~10^5 messages and this runs once per message)
        msgs = conv.messages
        get, text_info = self._texts.get, self._text_info
        # (a text's tokens come from the segmenter's cache: mostly the very tuple kept in its
        # _TextInfo, and `is` spares comparing them token by token)
        infos = [info if (info := get(m.clean)) is not None and (info.tokens is m.tokens or info.tokens == m.tokens)
                 else text_info(m.clean, m.tokens) for m in msgs]
        hits = [info.hits for info in infos]
        present: set[str] = set().union(*hits)  # (the keys of each message's hits)
        agents = [m for m in msgs if m.role == AGENT]
        customers = [m for m in msgs if m.role == CUSTOMER]
        scan_roles = self._scan_roles if self._scanners else ()
        if scan_roles:
            scan = self._scan_info
            scans = [(ids if (ids := info.scans) is not None else scan(info, m.clean)) if m.role in scan_roles
                     else _NOTHING for m, info in zip(msgs, infos)]
            scanned: set[int] = set().union(*scans)
        else:
            scans, scanned = [_NOTHING] * len(msgs), set()
        return MessageView(conv, prepared=(hits, present, agents, customers, scans, scanned, infos))

    def _text_info(self, text: str, tokens) -> _TextInfo:
        if len(self._texts) >= _CACHE_SIZE:
            self._texts.clear()
        info = self._texts[text] = _TextInfo(tokens, self.phrase_index._find(text, tokens) or NO_HITS)
        return info

    def _scan_info(self, info: _TextInfo, text: str) -> frozenset[int]:
        """`_scan(text)`, kept in the text's `_TextInfo`."""
        ids = info.scans = self._scan(text)
        return ids

    def _scan(self, text: str) -> frozenset[int]:
        """Which scanners find something in `text` (once per distinct text, kept in its `_TextInfo`)."""
        return frozenset(i for i, m in enumerate(self._scanners) if m.spans(text)) or _NOTHING

    def _window(self, rule: Rule, view: MessageView, trigger_at) -> list[Message]:
        scope = rule.scope
        msgs = view.agents if scope.role == AGENT else view.customers
        after = scope.after
        if after is not None:
            if after == "pending":
                msgs = [m for m in msgs if m.index >= trigger_at]
            else:
                msgs = [m for m in msgs if m.index > trigger_at]
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
            return self._emoji(rule, agents, view)
        if rule.outcome is not None:
            hit = _outcome_hit(rule, analyse_outcome(conv.messages, self.replies), conv)
            return [] if hit is None else [hit]
        cm = self.matches[rule.code]
        if rule.require is not None:
            if cm.occurs_in(self._window(rule, view, trigger_at), view):
                return [Hit(rule, self._done[rule.code], None)] if rule.bonus else []
            return [] if rule.bonus else [Hit(rule, self._missing[rule.code])]
        phrases, scan_ids = cm.phrase_set, cm.scan_ids
        if phrases.isdisjoint(view.present) and scan_ids.isdisjoint(view.scanned):
            return []  # none of its phrases and none of its matchers found anything in the conversation
        return self._forbidden(rule, cm, view, trigger_at)

    def _forbidden(self, rule: Rule, cm: CompiledMatch, view: MessageView, trigger_at) -> list[Hit]:
        """The hits of a `forbid` rule: every place its block matches in its window."""
        phrases, scan_ids = cm.phrase_set, cm.scan_ids
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
        first_limit, later_limit = rule.timing.first_response_s, rule.timing.response_s
        texts = self._timing_texts
        found = view.responses
        # only the first response has `first` set: a rule limiting one kind skips the others
        if later_limit is None:
            found = found[:1]
        elif first_limit is None:
            found = found[1:]
        for r in found:
            first = r.first
            limit = first_limit if first else later_limit
            if limit is None or r.seconds <= limit:
                continue
            # the explanation depends only on (rule, first?, seconds): delays recur, format once
            key = (rule.code, first, r.seconds)
            explanation = texts.get(key)
            if explanation is None:
                if len(texts) >= _CACHE_SIZE:
                    texts.clear()
                kind = "首次响应" if first else "回复"
                explanation = texts[key] = _explain(rule, f"{kind}超时: 顾客等待 {r.seconds:.0f} 秒 (上限 {limit:.0f} 秒)")
            hits.append(Hit(rule, explanation, r.agent_index))
        return hits

    def _emoji(self, rule: Rule, agents: list[Message], view: MessageView | None = None) -> list[Hit]:
        limit = rule.emoji
        if limit.max_per_message >= 0 and limit.max_messages_ratio >= 0 and not may_hold_emoji("".join(m.clean for m in agents)):
            return []  # no emoji in any agent message
        hits = []
        counts = [(m, self._emoji_count(m, view)) for m in agents]
        for msg, n in counts:
            if n > rule.emoji.max_per_message:
                hits.append(Hit(rule, _explain(rule, f"表情过多: 一条消息使用了 {n} 个表情 (上限 {rule.emoji.max_per_message})"), msg.index, (0, len(msg.clean)), msg.clean))
        with_emoji = sum(1 for _, n in counts if n)
        if not hits and len(agents) >= 4 and with_emoji / len(agents) > rule.emoji.max_messages_ratio:
            hits.append(Hit(rule, _explain(rule, f"表情过多: {with_emoji}/{len(agents)} 条客服消息带表情")))
        return hits

    @staticmethod
    def _emoji_count(msg: Message, view: MessageView | None) -> int:
        """`emoji_count(msg)`, a function of the text: counted once per text (`_TextInfo.emoji`)."""
        if view is None or view.infos is None:
            return emoji_count(msg)
        info = view.infos[msg.index]
        n = info.emoji
        if n is None:
            n = info.emoji = emoji_count(msg)
        return n


_UNHAPPY_WHY = {"words": "顾客说「{matched}」", "complaint": "顾客仍在表达不满", "repeat": "顾客重复了之前的问题"}


def _outcome_hit(rule: Rule, outcome: Outcome, conv: Conversation) -> Hit | None:
    """The finding of an outcome rule, if the conversation's outcome calls for one."""
    measure = rule.outcome.measure
    if measure == "answer":
        if outcome.answered_at is not None or not outcome.n_customer_requests:
            return None
        return Hit(rule, _explain(rule, "未给出具体答复: 客服只有问候、等待、私信/提供信息之类的话术或结束语，没有针对问题的信息、办法或带时间的承诺"))
    if measure == "reaction":
        at = outcome.unhappy_at
        if at is None:
            return None
        msg = conv.messages[at]
        span = outcome.unhappy_span
        matched = msg.clean[span[0]:span[1]] if span else ""
        why = _UNHAPPY_WHY[outcome.unhappy_why].replace("{matched}", matched)
        return Hit(rule, _explain(rule, f"顾客不认可答复: 客服最后一次答复后，{why}", matched), at, span, matched)
    if measure == "confirmed":
        if outcome.replied_at is None or outcome.confirmed_at is not None or outcome.unhappy_at is not None \
                or not outcome.n_customer_requests:
            return None  # nothing to accept, accepted, or the reaction rule has it
        return Hit(rule, _explain(rule, "未确认解决: 客服最后一次答复后，顾客没有表示问题已解决或认可答复"))
    at = outcome.open_at
    if at is None:
        return None
    return Hit(rule, _explain(rule, "诉求未解决: 顾客最后的提问或不满没有得到答复"), at)


def _reply_model():
    """The conduct model, whose reply head tells the outcome checks what an agent reply does."""
    from csqa.checks.conduct import default_model

    model = default_model()
    return model if model.reply_classes else None


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
