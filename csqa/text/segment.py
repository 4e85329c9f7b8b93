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
from pathlib import Path

from csqa.paths import corpora_dir

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


def is_emoji_token(token: str) -> bool:
    """True for an emoji or a platform emoticon like [微笑] (masks such as [数字x] excluded)."""
    if EMOJI.fullmatch(token):
        return True
    return bool(re.fullmatch(_BRACKET_TOKEN, token)) and not token.endswith("x]")


class Segmenter:
    """jieba tokenizer with a domain dictionary and a per-process cache of results."""

    def __init__(self, dictionary: Path | None = None, hmm: bool = False, cache_size: int = 200_000):
        import jieba

        self.hmm = hmm
        self.dictionary = Path(dictionary) if dictionary else corpora_dir() / DEFAULT_DICTIONARY
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
    bounds = [0]
    for tok in tokens:
        bounds.append(bounds[-1] + len(tok))
    return bounds


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The process-wide segmenter (dictionary loaded once per process)."""
    return Segmenter()


def segment(text: str) -> list[str]:
    """Tokens of a normalized text with the default segmenter."""
    return list(default_segmenter().tokens(text))
