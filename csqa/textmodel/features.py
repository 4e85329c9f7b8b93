"""Feature extraction for the complaint classifier: normalized text -> jieba words + char n-grams,
and the agent turn before a customer message -> its words (the context).

Training (scikit-learn's TfidfVectorizer with these analyzers) and scoring (`csqa.complaints.linear`,
numpy) must see the same features: tests/test_complaint_model.py checks that they do.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from operator import add

from csqa.text import normalize_text, segment  # noqa: F401 - segment: kept for callers of features.segment
from csqa.text.segment import default_segmenter

# Tokens that carry no signal for the classifier: spaces and lone punctuation.
_SKIP = re.compile(r"^[\s,.!?;:'\"()\[\]{}<>~`@#$%^&*+=|\\/_\-。,、!?;:“”‘’()【】《》…·]+$")
# Masks are replaced by their kind so [订单x] and a raw order number look alike.
_LONG_NUMBER = re.compile(r"\d{6,}")
# Addressing, not content: Weibo @handles (@中国联通客服 would teach "客服" = a service complaint) and links.
_ADDRESSING = re.compile(r"@[^\s@,，。.!！?？:：;；、…]+|https?://\S+")
# scikit-learn's whitespace folding before character n-grams (VectorizerMixin._white_spaces)
_WHITE_SPACES = re.compile(r"\s\s+")

# token -> its lower-cased form, or None when _SKIP drops it (tokens recur endlessly)
_TOKEN_FORM: dict[str, str | None] = {}
_TOKEN_FORM_MAX = 200_000


def normalize_batch(texts: Iterable[str]) -> list[str]:
    """normalize_text over a batch; None/NaN become ''. Long digit runs become [数字x]; @handles and links go."""
    out = []
    sub, drop = _LONG_NUMBER.sub, _ADDRESSING.sub
    for t in texts:
        if t is None or (isinstance(t, float) and t != t):
            t = ""
        out.append(sub("[数字x]", drop(" ", normalize_text(str(t))).strip()))
    return out


def _token_form(token: str) -> str | None:
    form = None if _SKIP.match(token) else token.lower()
    if len(_TOKEN_FORM) >= _TOKEN_FORM_MAX:
        _TOKEN_FORM.clear()
    _TOKEN_FORM[token] = form
    return form


def word_tokens(text: str) -> list[str]:
    """Word unigrams and bigrams of an already normalized text (jieba + domain dictionary)."""
    get = _TOKEN_FORM.get
    toks = []
    for t in default_segmenter().tokens(text):
        form = get(t, 0)
        if form == 0:
            form = _token_form(t)
        if form is not None:
            toks.append(form)
    if len(toks) > 1:
        return toks + [a + " " + b for a, b in zip(toks, toks[1:])]
    return toks


def context_tokens(text: str) -> list[str]:
    """Word unigrams of the agent turn before a customer message (its context), normalized text.

    The context says what the customer answers: 没有了 after 还有其他问题吗 closes the chat, 没有了
    after 快递到了吗 reports a loss. Unigrams are enough for that and cheap (agent turns recur)."""
    get = _TOKEN_FORM.get
    toks = []
    for t in default_segmenter().tokens(text):
        form = get(t, 0)
        if form == 0:
            form = _token_form(t)
        if form is not None:
            toks.append(form)
    return toks


def char_ngrams(text: str, ngram_range: tuple[int, int] = (1, 3), lowercase: bool = True) -> list[str]:
    """The character n-grams scikit-learn's ``TfidfVectorizer(analyzer="char")`` makes of a text.

    Same multiset (and order) as sklearn's lower-casing preprocessor + ``_char_ngrams``,
    built with C-level loops: the (n+1)-grams are the n-grams each extended by one character.
    """
    if lowercase:
        text = text.lower()
    text = _WHITE_SPACES.sub(" ", text)
    min_n, max_n = ngram_range
    chars = list(text)
    grams = chars[:] if min_n <= 1 else []
    prev = chars
    for n in range(2, min(max_n, len(text)) + 1):
        prev = list(map(add, prev, text[n - 1 :]))  # prev[i] == text[i : i + n]
        if n >= min_n:
            grams += prev
    return grams
