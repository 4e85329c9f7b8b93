"""The complaint classifier as plain arrays: TF-IDF blocks and linear heads, no scikit-learn.

Training fits scikit-learn pipelines (`csqa.complaints.model.build_pipeline`: a ColumnTransformer of
TF-IDF vectorizers, then a LogisticRegression per question). What scoring needs of them is data — each
vectorizer's vocabulary and idf, each head's coefficients, intercept and classes — and this module
turns a batch of (text, context) pairs into probabilities with numpy alone: the model file holds arrays
and JSON, nothing pickled, and a scoring run never imports scikit-learn (seconds at start-up).

The arithmetic is scikit-learn's (counts, `log(tf) + 1`, × idf, L2 norm per block, `X·coefᵀ + b`, then
the logistic or softmax function); `tests/test_complaint_model.py` checks that the probabilities equal
the pipelines' on the corpus and real texts. Each block is normalized on its own, so a head's decision is
the sum of one part per block: the part of a text and the part of a context are worked out once per
distinct text (chats repeat their lines) and added (`LinearModel.decisions`).

Analyzers: characters as numbers made of their code points (vectorized over a batch), words as token ids
with bigrams looked up as id pairs — the same features as `features.char_ngrams` / `features.word_tokens`.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Callable, Sequence

import numpy as np

WORD, CHAR, LEXICON = "word", "char", "lexicon"
TEXT, CONTEXT = "text", "context"


@dataclass
class Block:
    """One TF-IDF vectorizer: which field it reads, how it analyzes it, its vocabulary and idf."""

    name: str
    field: str  # "text" (the customer's words) or "context" (the agent turn before them)
    kind: str  # "word" (features.word_tokens / context_tokens) or "char" (character n-grams)
    terms: list[str]  # column j is terms[j]
    idf: np.ndarray
    ngram_range: tuple[int, int] = (1, 1)
    sublinear_tf: bool = True
    lexicon: dict[str, str] | None = None  # kind "lexicon": word -> tag (csqa.textmodel.lexicon)

    @property
    def analyzer_key(self) -> tuple:
        return (self.kind, tuple(self.ngram_range))


@dataclass
class Head:
    """One linear estimator: decision = Σ_blocks X_block · coef_blockᵀ + intercept."""

    name: str
    classes: list[str]
    coef: np.ndarray  # (n_outputs, n_features over all blocks, in block order); n_outputs = 1 when binary
    intercept: np.ndarray  # (n_outputs,)

    def probabilities(self, decision: np.ndarray) -> np.ndarray:
        """scikit-learn's LogisticRegression.predict_proba from the decision function."""
        if decision.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-decision[:, 0]))
            return np.column_stack([1.0 - p, p])
        z = decision - decision.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class LinearModel:
    """Blocks + heads; `predict_proba(head, texts, contexts)` with numpy only."""

    def __init__(self, blocks: list[Block], heads: dict[str, Head]):
        # what predicting imports, imported with the model: the set-up loads models before csqa score forks
        # its workers, which would otherwise each import scipy.sparse at their first batch (~0.15 s each)
        import scipy.sparse  # noqa: F401

        self.blocks = blocks
        self.heads = heads
        self.offsets = np.cumsum([0] + [len(b.terms) for b in blocks]).tolist()
        self._analyzers: dict[tuple, Callable] = {}
        self._columns: list[np.ndarray] = []  # per block: analyzer feature id -> column (-1: none)
        self._index: dict[tuple, dict[str, int]] = {}
        for b in blocks:  # each analyzer's features: the union of its blocks' terms, in first-seen order
            index = self._index.setdefault(b.analyzer_key, {})
            new = [t for t in dict.fromkeys(b.terms) if t not in index] if index else list(dict.fromkeys(b.terms))
            index.update(zip(new, range(len(index), len(index) + len(new))))
        for key, index in self._index.items():
            kind, ngram_range = key
            if kind == LEXICON:
                from csqa.textmodel.lexicon import LexiconTagger

                lexicon = next(b.lexicon for b in blocks if b.kind == LEXICON)
                self._analyzers[key] = _StringAnalyzer(LexiconTagger(lexicon or {}), index)
            else:
                self._analyzers[key] = _WordAnalyzer(index) if kind == WORD else _CharAnalyzer(index, ngram_range, True)
        for b in blocks:
            index = self._index[b.analyzer_key]
            cmap = np.full(len(index) + 1, -1, dtype=np.int64)
            cmap[list(map(index.__getitem__, b.terms))] = np.arange(len(b.terms), dtype=np.int64)
            self._columns.append(cmap)
        # per field: its blocks' columns, and every head's coefficients for them side by side
        # ((n_features_of_the_field, total outputs)), so one sparse product gives every head's part
        self._field_blocks = {f: [i for i, b in enumerate(blocks) if b.field == f] for f in {b.field for b in blocks}}
        self._head_slices: dict[str, slice] = {}
        start = 0
        for h, head in self.heads.items():
            self._head_slices[h] = slice(start, start + len(head.intercept))
            start += len(head.intercept)
        self._field_coef = {
            f: np.ascontiguousarray(np.vstack([
                np.vstack([head.coef[:, self.offsets[i]:self.offsets[i + 1]] for head in self.heads.values()]).T
                for i in idx]))
            for f, idx in self._field_blocks.items()}

    def block_parts(self, field: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """{head: (len(texts), n_outputs) decision parts} of the blocks reading `field`: the TF-IDF rows of
        those blocks, side by side, times the heads' coefficients (one sparse product for all heads)."""
        from scipy.sparse import csr_matrix

        texts = list(texts)
        n = len(texts)
        total = sum(len(head.intercept) for head in self.heads.values())
        idx = self._field_blocks.get(field, [])
        if n == 0 or not idx:
            out = np.zeros((n, total))
        else:
            analyzed: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
            rows_all, cols_all, vals_all = [], [], []
            offset = 0
            for i in idx:
                b = self.blocks[i]
                key = b.analyzer_key
                if key not in analyzed:
                    analyzed[key] = self._analyzers[key](texts)
                rows, ids = analyzed[key]
                cols = self._columns[i][ids]
                keep = cols >= 0
                r, c, v = _tfidf(b, rows[keep], cols[keep], n)
                rows_all.append(r)
                cols_all.append(c + offset)
                vals_all.append(v)
                offset += len(b.terms)
            x = csr_matrix((np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                           shape=(n, offset))
            out = np.asarray(x @ self._field_coef[field])
        return {h: out[:, s] for h, s in self._head_slices.items()}

    def decisions(self, text_parts: dict[str, np.ndarray], context_parts: dict[str, np.ndarray], head: str) -> np.ndarray:
        return text_parts[head] + context_parts[head] + self.heads[head].intercept

    def predict_proba(self, head: str, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """(n, n_classes) probabilities of one head for normalized texts (and contexts, '' for none)."""
        contexts = [""] * len(texts) if contexts is None else list(contexts)
        t = self.block_parts(TEXT, texts)
        c = self.block_parts(CONTEXT, contexts)
        return self.heads[head].probabilities(self.decisions(t, c, head))


def _tfidf(block: Block, rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of (row, column) -> TF-IDF values, L2-normalized per row, as TfidfVectorizer (float64)."""
    width = max(len(block.terms), 1)
    keys, counts = np.unique(rows * width + cols, return_counts=True)
    r = keys // width
    c = keys - r * width
    data = counts.astype(np.float64)
    if block.sublinear_tf:
        data = np.log(data) + 1.0
    data *= block.idf[c]
    sums = np.bincount(r, weights=data * data, minlength=n)
    norms = np.sqrt(sums)
    norms[norms == 0.0] = 1.0
    return r, c, data / norms[r]


# --------------------------------------------------------------------------- features
class _StringAnalyzer:
    """Any analyzer: the feature strings of each text, looked up one by one."""

    def __init__(self, analyze: Callable[[str], list[str]], index: dict[str, int]):
        self._analyze = analyze
        self._index = index

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        get = self._index.get
        flat: list[int] = []
        lengths: list[int] = []
        for t in texts:
            feats = self._analyze(t)
            flat.extend(map(get, feats, repeat(-1)))
            lengths.append(len(feats))
        return _known(np.array(flat, dtype=np.int64), _rows(lengths))


def _rows(lengths: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(lengths), dtype=np.int64), np.array(lengths, dtype=np.int64))


def _known(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ids >= 0
    return rows[keep], ids[keep]


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """values[k] for each key found in sorted_keys, -1 for the others."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, keys)
    pos[pos == len(sorted_keys)] = 0
    return np.where(sorted_keys[pos] == keys, values[pos], -1)


_CP_BITS = 21  # every code point is < 2**21, so up to three fit in 63 bits


class _CharAnalyzer:
    """``TfidfVectorizer(analyzer="char", ngram_range≤3)`` features of a whole batch at once.

    The preprocessed texts (lower-cased, whitespace runs folded as scikit-learn does) are
    joined and read as UTF-32 code points; an n-gram is the number made of its n code
    points, looked up in the sorted numbers of the vocabulary's n-grams. Same n-grams,
    same counts as the strings, without building a string per n-gram.
    """

    MAX_N = 3

    def __init__(self, index: dict[str, int], ngram_range: tuple[int, int], lowercase: bool):
        self._range = (int(ngram_range[0]), int(ngram_range[1]))
        self._lowercase = lowercase
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        terms = list(index)
        lengths = np.array(list(map(len, terms)), dtype=np.int64)
        all_gids = np.array(list(index.values()), dtype=np.int64)
        for n in range(self._range[0], self._range[1] + 1):
            of_n = np.flatnonzero(lengths == n)
            if len(of_n) == 0:
                continue
            k = self.keys([terms[i] for i in of_n.tolist()], n)
            order = np.argsort(k, kind="stable")
            self._tables[n] = (k[order], all_gids[of_n][order])

    @staticmethod
    def keys(terms: list[str], n: int) -> np.ndarray:
        """The number of each n-character term: its code points, _CP_BITS bits each, the first highest."""
        cps = np.frombuffer("".join(terms).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cps = cps.astype(np.uint64).reshape(len(terms), n)
        key = cps[:, 0].copy()
        for j in range(1, n):
            key <<= np.uint64(_CP_BITS)
            key |= cps[:, j]
        return key

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        from csqa.textmodel.features import _WHITE_SPACES

        sub = _WHITE_SPACES.sub
        if self._lowercase:
            docs = [sub(" ", t.lower()) for t in texts]
        else:
            docs = [sub(" ", t) for t in texts]
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        cps = np.frombuffer("".join(docs).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
        row_of = _rows(lengths.tolist())
        end_of = np.repeat(np.cumsum(lengths), lengths)  # end of each position's text
        starts = np.arange(len(cps), dtype=np.int64)
        all_rows, all_ids = [], []
        lo, hi = self._range
        for n in range(lo, hi + 1):
            if n not in self._tables or len(cps) < n:
                continue
            m = len(cps) - n + 1
            key = cps[:m].copy()
            for j in range(1, n):
                key <<= np.uint64(_CP_BITS)
                key |= cps[j : j + m]
            whole = starts[:m] + n <= end_of[:m]  # the n-gram lies inside one text
            sorted_keys, gids = self._tables[n]
            found = _lookup(sorted_keys, gids, key[whole])
            r, g = _known(found, row_of[:m][whole])
            all_rows.append(r)
            all_ids.append(g)
        if not all_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(all_rows), np.concatenate(all_ids)


class _WordAnalyzer:
    """``features.word_tokens`` features of a batch: unigrams and bigrams as numbers.

    Each token is mapped once (per process) to the id of its form (lower-cased; -2 when
    word_tokens drops it as punctuation/space, -1 when no vocabulary entry can use it).
    A bigram "a b" is looked up as the pair (id a, id b): every split of a vocabulary
    entry at one of its spaces is registered, so a pair is found exactly when
    ``a + " " + b`` is in the vocabulary — the same features as the strings.
    """

    MAX_TOKENS = 500_000

    def __init__(self, index: dict[str, int]):
        # every vocabulary entry is a form (its id: its place in the vocabulary, its unigram: its column);
        # the halves of a multi-word entry that are not entries themselves are forms with no unigram (-1)
        self._form_id: dict[str, int] = dict(zip(index, range(len(index))))
        unigram: list[int] = list(index.values())
        # every split of a multi-word entry at one of its spaces: (left, right, the entry's column)
        spaced = [t for t in index if " " in t]
        words = [t.split(" ") for t in spaced]
        two = [i for i, w in enumerate(words) if len(w) == 2]  # "a b", nearly all of them
        lefts, rights = [words[i][0] for i in two], [words[i][1] for i in two]
        gids = [index[spaced[i]] for i in two]
        for term, w in zip(spaced, words):
            if len(w) > 2:
                for k in range(1, len(w)):
                    lefts.append(" ".join(w[:k]))
                    rights.append(" ".join(w[k:]))
                    gids.append(index[term])
        halves = [f for f in dict.fromkeys(lefts + rights) if f not in self._form_id]
        self._form_id.update(zip(halves, range(len(index), len(index) + len(halves))))
        unigram.extend([-1] * len(halves))
        a = np.array(list(map(self._form_id.__getitem__, lefts)), dtype=np.int64)
        b = np.array(list(map(self._form_id.__getitem__, rights)), dtype=np.int64)
        pairs: dict[int, int] = dict(zip(((a << 32) | b).tolist(), gids))
        self._unigram = np.array(unigram + [-1], dtype=np.int64)  # id -1 -> -1
        keys = np.array(list(pairs), dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self._pair_keys = keys[order]
        self._pair_gids = np.array(list(pairs.values()), dtype=np.int64)[order]
        self._token_id: dict[str, int] = {}

    def _add_tokens(self, tokens) -> None:
        from csqa.textmodel.features import _SKIP

        get = self._form_id.get
        token_id = self._token_id
        for t in tokens:
            token_id[t] = -2 if _SKIP.match(t) else get(t.lower(), -1)

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        from csqa.text.segment import default_segmenter

        # tokens_many: the same tokens (and cache) as tokens() per text, with the texts not yet
        # cached cut by a few rjieba calls instead of one call each
        flat: list[str] = []
        lengths: list[int] = []
        for toks in default_segmenter().tokens_many(list(texts)):
            flat.extend(toks)
            lengths.append(len(toks))
        distinct = set(flat)
        new = distinct.difference(self._token_id)
        if new:
            if len(self._token_id) + len(new) > self.MAX_TOKENS:  # bounded: start afresh
                self._token_id.clear()
                new = distinct
            self._add_tokens(new)
        ids = np.array(list(map(self._token_id.__getitem__, flat)), dtype=np.int64)
        rows = _rows(lengths)
        kept = ids != -2  # dropped before the bigrams are formed, as in word_tokens
        ids, rows = ids[kept], rows[kept]
        uni_rows, uni = _known(self._unigram[ids], rows)
        a, b = ids[:-1], ids[1:]
        pair = (rows[:-1] == rows[1:]) & (a >= 0) & (b >= 0)
        bi = _lookup(self._pair_keys, self._pair_gids, (a[pair] << 32) | b[pair])
        bi_rows, bi = _known(bi, rows[:-1][pair])
        return np.concatenate([uni_rows, bi_rows]), np.concatenate([uni, bi])


