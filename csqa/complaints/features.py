"""Feature extraction for the complaint classifier: normalized text -> jieba words + char n-grams.

The functions here are referenced by the saved scikit-learn pipeline, so keep their
names and behaviour stable (renaming one breaks loading of shipped models).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from csqa.text import normalize_text, segment

# Tokens that carry no signal for the classifier: spaces and lone punctuation.
_SKIP = re.compile(r"^[\s,.!?;:'\"()\[\]{}<>~`@#$%^&*+=|\\/_\-。,、!?;:“”‘’()【】《》…·]+$")
# Masks are replaced by their kind so [订单x] and a raw order number look alike.
_LONG_NUMBER = re.compile(r"\d{6,}")


def normalize_batch(texts: Iterable[str]) -> list[str]:
    """normalize_text over a batch; None/NaN become ''. Long digit runs become [数字x]."""
    out = []
    for t in texts:
        if t is None or (isinstance(t, float) and t != t):
            t = ""
        out.append(_LONG_NUMBER.sub("[数字x]", normalize_text(str(t))))
    return out


def word_tokens(text: str) -> list[str]:
    """Word unigrams and bigrams of an already normalized text (jieba + domain dictionary)."""
    toks = [t.lower() for t in segment(text) if not _SKIP.match(t)]
    return toks + [a + " " + b for a, b in zip(toks, toks[1:])]


def punct_profile(texts: Sequence[str]) -> list[dict[str, float]]:
    """Shape cues as a dict per text: question marks, exclamation runs, length bucket."""
    feats = []
    for t in texts:
        n = len(t)
        feats.append(
            {
                "q": float(t.count("?") > 0),
                "ex": float(t.count("!") > 0),
                "ex3": float("!!" in t),
                "len_short": float(n <= 8),
                "len_long": float(n >= 60),
            }
        )
    return feats
