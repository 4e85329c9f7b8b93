"""The `similar_to` matcher: agents paraphrase the mandated greetings and closings.

    require: {similar_to: [感谢您的咨询，祝您生活愉快，再见], threshold: 0.6}

Bad (exact phrase lists miss paraphrases): the template 「感谢您的咨询，祝您生活愉快，再见」
does not literally occur in 「感谢您的耐心咨询～祝您生活愉快哦，再见啦」.
Good (csqa): each sentence of the message is compared with the templates by cosine
similarity of character 1–3-gram counts (local, no model download); the best sentence
above the rule's threshold counts as a match.

Forbidden wordings are found the same way, from exemplars (「你有完没完」 also finds
「你到底有完没完啊」), but a few characters turn a violation into its opposite, and n-gram
counts barely see them. Bad: 「不能保证明天到，我帮您催一下」 scores high against the exemplar
「保证明天一定送到」; 「您说“你们有完没完”，非常抱歉」 against 「你有完没完」. Good: with
`polarity`, a sentence is only compared with exemplars that are negated as it is (不能 / 无法 /
没有 … in both or in neither; reassurances such as 不用担心 do not count), and a space
ends a sentence too (exports join several messages of a turn with spaces: 「这个请不用担心 后期
会给您补偿」 is two); with `skip_quoted`, what the agent quotes (in quotation marks, after 您说 /
您提到) is left out before comparing. Exemplars hold no numbers, so a run of digits is compared as
one 0 (an order number neither matches nor dilutes a sentence).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from itertools import repeat
from operator import add, mul

from csqa.checks.matchers.base import Span
from csqa.checks.negation import quoted_spans
from csqa.core.memo import Memo

_SENTENCE = re.compile(r"[^。!！?？~～\n]+[。!！?？~～]*")
# with `polarity` (exemplars of forbidden wordings) a space ends a sentence too
_SENTENCE_OR_SPACE = re.compile(r"[^。!！?？~～\s]+[。!！?？~～]*")
# exemplar matchers compare a run of digits as one 0, and pieces up to this many characters
_DIGITS = re.compile(r"[0-9０-９]+")
_PREPARE_CHARS = 64
_STRIP = re.compile(r"[\s,，。.!！?？~～、:：;；\"'“”‘’()（）\[\]【】<>《》]+")
# a negated sentence (`polarity`): 不能保证, 无法退, 没有问题, 并不是, 不会 … (not the 不 of 是不是 / 爱买不买)
_NEGATED = re.compile(
    r"(?<!是)(?:不是|并不|并非|不能|不会|不可能|不敢|不用|不必|无法|没法|没办法|没有|没说|不一定|未必|绝不|决不|从不|从没|不保证|不存在)"
    r"(?!担心|着急|急|客气|关系|问题)"
)


def negated(text: str) -> bool:
    """Whether a sentence is negated (one of the negators of `_NEGATED`)."""
    return _NEGATED.search(text) is not None


def _clean(text: str) -> str:
    return _STRIP.sub("", text)


def _grams(text: str) -> list[str]:
    """Every character 1-, 2- and 3-gram occurrence of `text` (built by C-level maps, not slicing)."""
    bigrams = list(map(add, text, text[1:]))
    return [*text, *bigrams, *map(add, bigrams, text[2:])]


def char_ngrams(text: str, n_max: int = 3) -> Counter:
    if n_max == 3:
        return Counter(_grams(text))
    return Counter(text[i : i + n] for n in range(1, n_max + 1) for i in range(len(text) - n + 1))


def _norm(vec: Counter) -> float:
    counts = list(vec.values())
    return math.sqrt(sum(map(mul, counts, counts)))


def cosine(a: Counter, b: Counter, norm_a: float, norm_b: float) -> float:
    if not norm_a or not norm_b:
        return 0.0
    return sum(a[k] * b[k] for k in a.keys() & b.keys()) / (norm_a * norm_b)


# the grams of all exemplar matchers
_EXEMPLAR_GRAMS: set[str] = set()


class TemplateMatcher:
    """Cosine similarity of char n-grams between message sentences and template sentences.

    `polarity`: compare a sentence only with templates negated as it is. `skip_quoted`: leave
    quoted text (「…」, 您说…) out of a sentence before comparing (see the module docstring)."""

    def __init__(self, templates, threshold: float, polarity: bool = False, skip_quoted: bool = False):
        self.templates = list(templates)
        self.threshold = threshold
        self.polarity = polarity
        self.skip_quoted = skip_quoted
        # per template: negated or not (compared only with sentences alike, when `polarity`)
        self._negated = [negated(_clean(t)) for t in self.templates]
        self.best = Memo(self._best)  # (similarity, start, end) of the most template-like sentence
        self._vectors = []
        # a sentence far longer than every template is not a paraphrase of one
        self.max_chars = int(2.5 * max((len(_clean(t)) for t in self.templates), default=0)) + 4
        self._found = Memo(self._find)
        # for the bound in `_may_reach`: each template's characters and the largest count of
        # any of its 1-, 2- and 3-grams, summed
        self._bounds = []
        # gram → ((template, count), …): with many templates (exemplars of forbidden wordings) the
        # dot products with all of them come from one pass over the grams a sentence shares with any
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for i, t in enumerate(self.templates):
            vec = char_ngrams(_clean(t))
            self._vectors.append((vec, _norm(vec)))
            top = sum(max((c for g, c in vec.items() if len(g) == n), default=0) for n in (1, 2, 3))
            self._bounds.append((frozenset(_clean(t)), top, _norm(vec)))
            for gram, count in vec.items():
                self._postings.setdefault(gram, []).append((i, count))
        self._gram_keys = self._postings.keys()
        # many templates (exemplars of forbidden wordings): dot products from the postings, and
        # a text's pieces prepared once for all such matchers (those up to _PREPARE_CHARS long)
        self._many = len(self.templates) > 4 and self.max_chars <= _PREPARE_CHARS
        if self._many and not _EXEMPLAR_GRAMS.issuperset(self._postings):
            # sentence vectors keep only grams of some exemplar matcher: forget those kept so far
            _EXEMPLAR_GRAMS.update(self._postings)
            _SENTENCE_VECTORS.clear()
        self._piece_score = Memo(self._find_score)  # cleaned sentence → its similarity (`_find`)
        # a text's pieces, cleaned: shared by every exemplar matcher with the same settings
        self._prepared = _PREPARED.setdefault((polarity, skip_quoted), Memo(self._prepare))
        # for the bound in `_similarity_by_postings`: the largest gram count in a template, the
        # smallest norm
        self._max_count = max((c for vec, _ in self._vectors for c in vec.values()), default=0)
        self._min_norm = min((tn for _, tn in self._vectors if tn), default=0.0)

    def similarity(self, text: str) -> float:
        """The best cosine with a template; the same value as `cosine(char_ngrams(…), template, …)`,
        computed from the n-gram occurrences: the dot product is the sum of the template's count
        of each occurrence, the squared norm the number of occurrences when all are distinct.
        With `polarity`, only templates negated as `text` is count."""
        cleaned = _clean(text)
        if self._many:
            return self._similarity_by_postings(_DIGITS.sub("0", cleaned))
        grams = _grams(cleaned)
        if len(set(grams)) == len(grams):
            norm = math.sqrt(len(grams))
        else:
            norm = _norm(Counter(grams))
        if not norm:
            return 0.0
        vectors = self._vectors
        if self.polarity:
            neg = negated(cleaned)
            vectors = [v for v, n in zip(vectors, self._negated) if n == neg]
        return max(
            (sum(map(tv.get, grams, repeat(0))) / (norm * tn) if tn else 0.0 for tv, tn in vectors),
            default=0.0,
        )

    def _similarity_by_postings(self, cleaned: str, bound: bool = False) -> float:
        """`similarity` for many templates: the same integer dot products, summed from the
        postings of the grams the sentence shares with any template (usually a few).

        With `bound`, 0 when the sentence provably stays below the threshold: each of the s
        occurrences of a shared gram adds at most the largest template count to a dot product,
        so no cosine exceeds s × that / (‖sentence‖ × smallest template norm)."""
        counts, norm, neg = _SENTENCE_VECTORS(cleaned)
        if not norm:
            return 0.0
        shared = counts.keys() & self._gram_keys  # (counts holds only grams of some exemplar)
        if not shared:
            return 0.0
        if bound and sum(map(counts.__getitem__, shared)) * self._max_count < (self.threshold - 1e-9) * norm * self._min_norm:
            return 0.0
        dots = [0] * len(self._vectors)
        postings = self._postings
        for gram in shared:
            c = counts[gram]
            for i, tc in postings[gram]:
                dots[i] += c * tc
        polarity = self.polarity
        return max(
            (dot / (norm * tn) if tn else 0.0
             for dot, (_, tn), n in zip(dots, self._vectors, self._negated) if not polarity or n == neg),
            default=0.0,
        )

    def _piece_text(self, text: str, start: int, end: int, quoted) -> str:
        """The piece as compared: without what it quotes, when `skip_quoted`."""
        if not quoted:
            return text[start:end]
        keep = [True] * (end - start)
        for qs, qe in quoted:
            for i in range(max(qs, start), min(qe, end)):
                keep[i - start] = False
        return "".join(c for c, k in zip(text[start:end], keep) if k)

    def _pieces(self, text: str) -> list[tuple[int, int]]:
        """The pieces compared: each sentence and the whole text (with `polarity`, spaces end sentences)."""
        return _pieces(text, _SENTENCE_OR_SPACE if self.polarity else _SENTENCE)

    def _quoted(self, text: str):
        return quoted_spans(text) if self.skip_quoted else ()

    def _best(self, text: str) -> tuple[float, int, int]:
        best = (0.0, 0, 0)
        quoted = self._quoted(text)
        for start, end in self._pieces(text):
            if end - start > self.max_chars:
                continue
            score = self.similarity(self._piece_text(text, start, end, quoted))
            if score > best[0]:
                best = (score, start, end)
        return best

    def find(self, text: str) -> list[tuple[int, int, float]]:
        """[(start, end, similarity)] of the most template-like sentence if it reaches the
        threshold, else []. The same as `best`, but sentences that provably cannot reach the
        threshold are never compared (cached per text)."""
        return list(self._found(text))

    def _find(self, text: str) -> tuple[tuple[int, int, float], ...]:
        best = (0.0, 0, 0)
        if self._many:
            for start, end, cleaned in self._prepared(text):
                if end - start > self.max_chars:
                    continue
                score = self._piece_score(cleaned)  # sentences recur across messages
                if score > best[0]:
                    best = (score, start, end)
        else:
            quoted = self._quoted(text)
            for start, end in self._pieces(text):
                if end - start > self.max_chars:
                    continue
                cleaned = _clean(self._piece_text(text, start, end, quoted))
                if not self._may_reach(cleaned):
                    continue  # below the threshold, so never the best sentence of a match
                score = self.similarity(cleaned)
                if score > best[0]:
                    best = (score, start, end)
        score, start, end = best
        return ((start, end, score),) if score >= self.threshold else ()

    def _prepare(self, text: str) -> tuple[tuple[int, int, str], ...]:
        """(start, end, cleaned text compared) of each piece of `text` short enough for any
        exemplar matcher (`_PREPARE_CHARS`: exemplar matchers keep their templates shorter); a
        run of digits is compared as one 0 (exemplars hold no numbers: an order number or an amount
        neither matches nor dilutes a sentence, and sentences differing only in numbers share a score)."""
        pieces = [(start, end) for start, end in self._pieces(text) if end - start <= _PREPARE_CHARS]
        if not pieces:
            return ()
        quoted = self._quoted(text)
        return tuple((start, end, _DIGITS.sub("0", _clean(self._piece_text(text, start, end, quoted))))
                     for start, end in pieces)

    def _find_score(self, cleaned: str) -> float:
        return self._similarity_by_postings(cleaned, bound=True)

    def _may_reach(self, cleaned: str) -> bool:
        """False when no template can reach the threshold with this (cleaned) sentence.

        Only grams made of template characters count, so with c such characters the dot
        product is at most c × (largest 1-gram + 2-gram + 3-gram count of the template), while
        the sentence's norm is at least √(number of its gram occurrences)."""
        n = len(cleaned)
        occurrences = n + max(n - 1, 0) + max(n - 2, 0)
        if not occurrences:
            return False  # similarity 0
        root = math.sqrt(occurrences)
        for chars, top, norm in self._bounds:
            if norm and sum(map(chars.__contains__, cleaned)) * top / (root * norm) >= self.threshold - 1e-9:
                return True
        return False


def _sentence_vector(cleaned: str) -> tuple[dict, float, bool]:
    counts = Counter(_grams(cleaned))
    return {g: counts[g] for g in counts.keys() & _EXEMPLAR_GRAMS}, _norm(counts), negated(cleaned)


# cleaned sentence → (its counts of the grams any exemplar matcher holds, its norm, negated?), shared by
# every exemplar matcher (forgotten when a new matcher brings new grams)
_SENTENCE_VECTORS = Memo(_sentence_vector)
# (polarity, skip_quoted) → text → its pieces short enough to compare (start, end, cleaned), shared likewise
_PREPARED: dict[tuple[bool, bool], Memo] = {}


def _pieces(text: str, sentence: re.Pattern = _SENTENCE) -> list[tuple[int, int]]:
    """Each sentence of the text, and the whole text when it has several."""
    pieces = [(m.start(), m.end()) for m in sentence.finditer(text)]
    if len(pieces) > 1:
        pieces.append((0, len(text)))
    return pieces


class ExemplarMatcher:
    """A block's `similar_to` sentences as a matcher: the most template-like sentence of a message, when it
    reaches the block's `threshold`. In a `forbid` block the exemplars follow its exceptions (see above);
    `screen` (text → bool), when given, rules replies out before any comparison (the conduct model's
    hostility screen, `csqa.checks.matchers.conduct.hostility_screen`)."""

    costly = True

    def __init__(self, templates, threshold: float, polarity: bool = False, skip_quoted: bool = False, screen=None):
        self.templates = TemplateMatcher(templates, threshold, polarity=polarity, skip_quoted=skip_quoted)
        self.screen = screen
        self.spans = Memo(self._spans)

    def _spans(self, text: str) -> tuple[Span, ...]:
        if self.screen is not None and not self.screen(text):
            return ()
        return tuple((s, e, text[s:e]) for s, e, _ in self.templates.find(text))
