"""Segmentation: jieba with the csqa domain dictionary, tokens with offsets, cached.

Masks ([数字x], [订单x]), platform emoticons ([微笑]) and emoji are cut out before
jieba runs and come back as single tokens, so a mask never becomes `[`, `数字`, `x`, `]`.
Each distinct normalized text is segmented once per process (a bounded cache).
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

from csqa.core.paths import corpora_dir
from csqa.core.memo import TEXTS_PER_MEMO

# [数字x] masks and [微笑] emoticons: short bracketed labels without spaces.
_BRACKET_TOKEN = r"\[[^\[\]\s]{1,8}\]"
# Emoji: pictographs with optional variation selectors, skin tones and ZWJ joins.
_EMOJI = (
    r"(?:[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF]"
    r"[\uFE0F\U0001F3FB-\U0001F3FF]*"
    r"(?:\u200D[\U0001F000-\U0001FAFF\u2600-\u27BF][\uFE0F\U0001F3FB-\U0001F3FF]*)*)"
)
PROTECTED = re.compile(f"{_BRACKET_TOKEN}|{_EMOJI}")
EMOJI = re.compile(_EMOJI)

DEFAULT_DICTIONARY = "domain_dict.txt"


_BRACKET_RE = re.compile(_BRACKET_TOKEN)


def is_emoji_token(token: str) -> bool:
    """True for an emoji or a platform emoticon like [微笑] (masks such as [数字x] excluded)."""
    if token.isascii() and not token.startswith("["):
        return False
    if EMOJI.fullmatch(token):
        return True
    return bool(_BRACKET_RE.fullmatch(token)) and not token.endswith("x]")


BACKENDS = ("jieba", "rjieba")


def available_backend(preferred: str = "auto") -> str:
    """`auto` picks rjieba (the same dictionary and algorithm in Rust, ~20× faster) when installed."""
    if preferred == "auto":
        try:
            import rjieba  # noqa: F401

            return "rjieba"
        except ImportError:
            return "jieba"
    if preferred not in BACKENDS:
        raise ValueError(f"unknown segmenter {preferred!r}; choose one of auto, {', '.join(BACKENDS)}")
    return preferred


class _RJieba:
    """rjieba behind jieba's small interface (lcut, add_word)."""

    def __init__(self):
        import rjieba

        self._tok = rjieba.Jieba()

    def lcut(self, text: str, HMM: bool = False) -> list[str]:  # noqa: N803 - jieba's spelling
        return self._tok.cut(text, HMM)

    def add_word(self, word: str, freq=None, tag=None) -> None:
        if freq is None:
            freq = self._tok.suggest_freq(word)
        self._tok.add_word(word, freq, tag)


# Joins texts cut in one rjieba call (see Segmenter._cut_many): neither CJK nor an ASCII word
# character nor whitespace (a text that holds it is cut on its own).
_SEPARATOR = "\x00"
_GROUP_CHARS = 1 << 16


class Segmenter:
    """jieba (the reference) or rjieba tokenizer with a domain dictionary and a per-process cache."""

    def __init__(self, dictionary: Path | None = None, hmm: bool = False, cache_size: int = TEXTS_PER_MEMO,
                 backend: str = "jieba"):
        self.hmm = hmm
        self.backend = available_backend(backend)
        self.dictionary = Path(dictionary) if dictionary else corpora_dir() / DEFAULT_DICTIONARY
        if self.backend == "rjieba":
            self._jieba = _RJieba()
        else:
            import jieba

            self._jieba = jieba.Tokenizer()
            self._jieba.initialize()
        self._load_dictionary(self.dictionary)
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _load_dictionary(self, path: Path) -> None:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                word = parts[0]
                freq = int(parts[1]) if len(parts) > 1 else None
                tag = parts[2] if len(parts) > 2 else None
                self._jieba.add_word(word, freq, tag)

    def add_words(self, words) -> None:
        """Add words (e.g. a rulebook's phrases) so jieba keeps them whole."""
        for word in words:
            if word and not PROTECTED.fullmatch(word):
                self._jieba.add_word(word)
        with self._lock:
            self._cache.clear()

    def _cut(self, text: str) -> list[str]:
        if PROTECTED.search(text) is None:  # most messages: no mask, emoticon or emoji
            return self._jieba.lcut(text, HMM=self.hmm) if text else []
        tokens: list[str] = []
        pos = 0
        for m in PROTECTED.finditer(text):
            if m.start() > pos:
                tokens.extend(self._jieba.lcut(text[pos : m.start()], HMM=self.hmm))
            tokens.append(m.group(0))
            pos = m.end()
        if pos < len(text):
            tokens.extend(self._jieba.lcut(text[pos:], HMM=self.hmm))
        return tokens

    def tokens_many(self, texts: list[str]) -> list[tuple[str, ...]]:
        """tokens() of each text (same results, same cache); the uncached ones are cut together."""
        cache = self._cache
        out = [cache.get(t) for t in texts]
        missing = [i for i, r in enumerate(out) if r is None]
        if not missing:
            return out
        todo = list(dict.fromkeys([texts[i] for i in missing]))
        cut = dict(zip(todo, self._cut_many(todo)))
        with self._lock:
            for text, result in cut.items():
                cache[text] = result
            while len(cache) > self._cache_size:
                cache.popitem(last=False)
        for i in missing:
            out[i] = cut[texts[i]]
        return out

    def _cut_many(self, texts: list[str]) -> list[tuple[str, ...]]:
        """tuple(_cut(t)) for each text, with one rjieba call per group of texts.

        rjieba (jieba-rs) cuts a text block by block: maximal runs of CJK / ASCII word
        characters are segmented on their own, and every other character outside whitespace
        becomes a token by itself. _SEPARATOR is such a character, so cutting
        a + _SEPARATOR + b gives cut(a) + [_SEPARATOR] + cut(b) when neither contains it.
        Protected tokens are set aside exactly as _cut does, and the plain runs between them
        are cut together; a text holding the separator is cut on its own.
        """
        if self.backend != "rjieba" or self.hmm:
            return [tuple(self._cut(t)) for t in texts]
        runs: list[str] = []  # the plain runs of all texts, cut together
        # per text: the index of its run when it has no protected token (most texts), else a list
        # of run indexes and protected tokens, None when it holds the separator
        layouts: list[int | list | None] = []
        search = PROTECTED.search
        for text in texts:
            if _SEPARATOR in text:
                layouts.append(None)
                continue
            if search(text) is None:
                if text:
                    layouts.append(len(runs))
                    runs.append(text)
                else:
                    layouts.append([])  # _cut("") is []
                continue
            layout: list[int | str] = []
            pos = 0
            for m in PROTECTED.finditer(text):
                if m.start() > pos:
                    layout.append(len(runs))
                    runs.append(text[pos : m.start()])
                layout.append(m.group(0))
                pos = m.end()
            if pos < len(text):
                layout.append(len(runs))
                runs.append(text[pos:])
            layouts.append(layout)
        run_tokens = self._cut_runs(runs)
        results: list[tuple[str, ...]] = []
        for text, layout in zip(texts, layouts):
            if type(layout) is int:
                results.append(run_tokens[layout])
            elif layout is None:
                results.append(tuple(self._cut(text)))
            else:
                tokens: list[str] = []
                for part in layout:
                    if type(part) is int:
                        tokens.extend(run_tokens[part])
                    else:
                        tokens.append(part)
                results.append(tuple(tokens))
        return results

    def _cut_runs(self, runs: list[str]) -> list[tuple[str, ...]]:
        """lcut of each (non-empty, separator-free) run as a tuple, about _GROUP_CHARS characters per call."""
        out: list[tuple[str, ...]] = []
        lcut = self._jieba.lcut
        start = 0
        while start < len(runs):
            end, size = start, 0
            while end < len(runs) and size < _GROUP_CHARS:
                size += len(runs[end]) + 1
                end += 1
            tokens = tuple(lcut(_SEPARATOR.join(runs[start:end]), HMM=False))  # slices of a tuple are tuples
            pos = 0
            for _ in range(start, end - 1):
                cut = tokens.index(_SEPARATOR, pos)
                out.append(tokens[pos:cut])
                pos = cut + 1
            out.append(tokens[pos:])
            start = end
        return out

    def tokens(self, text: str) -> tuple[str, ...]:
        """Tokens of an already normalized text; they concatenate back to the text."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        result = tuple(self._cut(text))
        with self._lock:
            self._cache[text] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


def token_bounds(tokens: tuple[str, ...]) -> list[int]:
    """Start offsets of each token plus the end offset: the word boundaries of the text."""
    return list(accumulate(map(len, tokens), initial=0))


@lru_cache(maxsize=4)
def default_segmenter(backend: str = "auto") -> Segmenter:
    """The process-wide segmenter (dictionary loaded once per process and backend).

    `auto` uses rjieba when it is installed: on the 11,861 real JD chat messages it gives
    token-for-token the same output as jieba with the same dictionary (HMM off) at ~13×
    the speed (benchmarks/bench_segment.py). `jieba` is the reference and always available.
    """
    return Segmenter(backend=available_backend(backend))


def segment(text: str) -> list[str]:
    """Tokens of a normalized text with the default segmenter."""
    return list(default_segmenter().tokens(text))
