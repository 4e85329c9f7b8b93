"""Exact, scikit-learn-free prediction for the complaint classifier's fitted pipelines.

The shipped pipelines are ``FeatureUnion(TF-IDF of word_tokens, TF-IDF of char n-grams)
-> CalibratedClassifierCV(linear SVM, sigmoid)``. Run through scikit-learn, every pipeline
re-analyzes every text (segmentation, n-grams, one dict lookup per feature) and needs all of
scikit-learn imported (seconds at start-up). Here the fitted parameters are copied into
plain numpy arrays and dicts (:func:`compile_pipeline`, the only function that touches
scikit-learn objects), and :class:`SharedFeaturizer` analyzes each batch of texts once
for all models: character n-grams as numbers made of their code points (vectorized over
the whole batch), words as token ids with bigrams looked up as id pairs, then numpy per
model. The word analyzer repeats ``features.word_tokens`` (jieba tokens, _SKIP, lower,
"a b" bigrams); change one, change the other — the verification below catches a mismatch.

The arithmetic is scikit-learn 1.x's, operation for operation and in the same order —
float32 counts, ``log(tf) + 1``, × idf, an L2 norm summed row by row in float64,
the sparse × dense product summed column by column in storage order, ``a·f + b`` and
``1 / (1 + exp(-x))`` per calibrator, the same normalization — so the probabilities are
bit-identical, not merely close. ``train`` verifies that on the whole corpus before it
ships a compiled model, and ``load_classifier`` checks it on sample texts whenever it
compiles a pipeline itself; either way a mismatch means the scikit-learn path is used.

Compiled models are pickled into model files: keep the names and fields of Block,
Calibrated and LinearTfidfModel stable (or retrain with ``csqa train``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat
from typing import Callable, Sequence

import numpy as np

WORD, CHAR = "word", "char"
_FEW_ROWS = 4  # when this few rows are still being summed, finish each one on its own
_FEW_STEPS = 32


@dataclass
class Block:
    """One TF-IDF vectorizer of the feature union, as plain data."""

    kind: str  # "word" (csqa.complaints.features.word_tokens) or "char" (character n-grams)
    vocabulary: dict[str, int]
    idf: np.ndarray | None
    sublinear_tf: bool
    norm: str | None
    binary: bool
    dtype: str
    ngram_range: tuple[int, int] = (1, 1)
    lowercase: bool = True

    @property
    def analyzer_key(self) -> tuple:
        return (WORD,) if self.kind == WORD else (CHAR, tuple(self.ngram_range), bool(self.lowercase))


@dataclass
class Calibrated:
    """One calibrated linear classifier: decision = X·coefᵀ + intercept, then a sigmoid per output."""

    coef: np.ndarray  # (n_outputs, n_features) float64: the estimator's coef_ itself
    intercept: np.ndarray  # (n_outputs,)
    class_index: list[int]  # column of each output in the probability matrix
    a: list  # sigmoid slopes (numpy float64 scalars, as fitted)
    b: list


@dataclass
class LinearTfidfModel:
    """A fitted ``normalize -> FeatureUnion(TF-IDF…) -> CalibratedClassifierCV(sigmoid)`` pipeline."""

    blocks: list[Block]
    classes: list[str]
    calibrated: list[Calibrated]
    offsets: list[int] = field(default_factory=list)  # first column of each block in the union

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)


# --------------------------------------------------------------------------- compiling
def compile_pipeline(pipeline) -> LinearTfidfModel | None:
    """Copy a fitted pipeline's parameters, or None when it is not of the supported shape."""
    try:
        return _compile(pipeline)
    except _Unsupported:
        return None


class _Unsupported(Exception):
    pass


def _require(cond: bool) -> None:
    if not cond:
        raise _Unsupported


def _compile(pipeline) -> LinearTfidfModel:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
    from sklearn.linear_model._base import LinearClassifierMixin
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from csqa.complaints import features

    _require(type(pipeline) is Pipeline and len(pipeline.steps) == 3)
    norm_step, union, clf = (s for _, s in pipeline.steps)
    _require(type(norm_step) is FunctionTransformer and norm_step.func is features.normalize_batch)
    _require(type(union) is FeatureUnion and union.transformer_weights is None)
    blocks: list[Block] = []
    for _, vec in union.transformer_list:
        _require(type(vec) is TfidfVectorizer and type(vec._tfidf) is TfidfTransformer)
        _require(vec.input == "content" and vec.preprocessor is None and not vec.strip_accents)
        tf = vec._tfidf
        _require(tf.norm in (None, "l2"))
        idf = getattr(tf, "idf_", None)  # TfidfTransformer.transform: `if hasattr(self, "idf_")`
        _require(idf is None or (type(idf) is np.ndarray and idf.ndim == 1 and len(idf) == len(vec.vocabulary_)))
        common = dict(
            vocabulary={str(k): int(v) for k, v in vec.vocabulary_.items()},
            idf=idf,
            sublinear_tf=bool(tf.sublinear_tf),
            norm=tf.norm,
            binary=bool(vec.binary),
            dtype=np.dtype(vec.dtype).name,
        )
        if vec.analyzer is features.word_tokens:
            blocks.append(Block(WORD, **common))
        elif vec.analyzer == "char":
            blocks.append(Block(CHAR, ngram_range=tuple(vec.ngram_range), lowercase=bool(vec.lowercase), **common))
        else:
            raise _Unsupported
    _require(np.dtype(blocks[0].dtype) in (np.float32, np.float64))
    _require(all(b.dtype == blocks[0].dtype for b in blocks))
    offsets = list(np.cumsum([0] + [len(b.vocabulary) for b in blocks[:-1]]))
    n_features = sum(len(b.vocabulary) for b in blocks)

    _require(type(clf) is CalibratedClassifierCV)
    classes = [c for c in clf.classes_]
    sorted_classes = np.unique(np.asarray(clf.classes_))
    calibrated = []
    for cc in clf.calibrated_classifiers_:
        _require(type(cc).__name__ == "_CalibratedClassifier" and cc.method == "sigmoid")
        est = cc.estimator
        _require(isinstance(est, LinearClassifierMixin))
        _require(type(est).decision_function is LinearClassifierMixin.decision_function)
        coef = est.coef_
        _require(type(coef) is np.ndarray and coef.dtype == np.float64 and coef.ndim == 2 and coef.shape[1] == n_features)
        _require(list(np.asarray(cc.classes)) == list(np.asarray(clf.classes_)))
        n_out = coef.shape[0]
        _require(len(cc.calibrators) == n_out)
        _require(all(type(c).__name__ == "_SigmoidCalibration" for c in cc.calibrators))
        pos = np.searchsorted(np.unique(np.asarray(cc.classes)), np.asarray(est.classes_))
        if len(classes) == 2:
            _require(n_out == 1)
            pos = pos[:1]
        else:
            _require(n_out == len(est.classes_))
        calibrated.append(
            Calibrated(
                coef=coef,
                intercept=np.asarray(est.intercept_, dtype=np.float64).copy(),
                class_index=[int(p) for p in pos],
                a=[c.a_ for c in cc.calibrators],
                b=[c.b_ for c in cc.calibrators],
            )
        )
    _require(len(calibrated) > 0 and list(sorted_classes) == list(np.asarray(clf.classes_)))
    return LinearTfidfModel(blocks=blocks, classes=[str(c) for c in classes], calibrated=calibrated, offsets=[int(o) for o in offsets])


# --------------------------------------------------------------------------- features
@dataclass
class Analyzed:
    """Known features of a batch of texts: per analyzer, (row, combined feature id) pairs."""

    n: int
    rows: dict[tuple, np.ndarray]
    ids: dict[tuple, np.ndarray]


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
        by_n: dict[int, tuple[list[int], list[int]]] = {}
        for term, gid in index.items():
            n = len(term)
            if self._range[0] <= n <= self._range[1]:
                keys, gids = by_n.setdefault(n, ([], []))
                keys.append(self._key(term))
                gids.append(gid)
        for n, (keys, gids) in by_n.items():
            k = np.array(keys, dtype=np.uint64)
            order = np.argsort(k, kind="stable")
            self._tables[n] = (k[order], np.array(gids, dtype=np.int64)[order])

    @staticmethod
    def _key(term: str) -> int:
        key = 0
        for ch in term:
            key = (key << _CP_BITS) | ord(ch)
        return key

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        from csqa.complaints.features import _WHITE_SPACES

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
        self._form_id: dict[str, int] = {}
        unigram: list[int] = []

        def form_id(form: str) -> int:
            fid = self._form_id.get(form)
            if fid is None:
                fid = self._form_id[form] = len(self._form_id)
                unigram.append(-1)
            return fid

        pairs: dict[int, int] = {}
        for term, gid in index.items():
            unigram[form_id(term)] = gid
            pos = term.find(" ")
            while pos >= 0:
                a, b = form_id(term[:pos]), form_id(term[pos + 1 :])
                pairs[(a << 32) | b] = gid
                pos = term.find(" ", pos + 1)
        self._unigram = np.array(unigram + [-1], dtype=np.int64)  # id -1 -> -1
        keys = np.array(list(pairs), dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self._pair_keys = keys[order]
        self._pair_gids = np.array(list(pairs.values()), dtype=np.int64)[order]
        self._token_id: dict[str, int] = {}

    def _add_tokens(self, tokens) -> None:
        from csqa.complaints.features import _SKIP

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


class SharedFeaturizer:
    """Analyzes each text once for several compiled models that share analyzers."""

    def __init__(self, models: Sequence[LinearTfidfModel], fast: bool = True):
        from csqa.complaints import features

        self._models = list(models)  # keeps the id()s used as keys below valid
        self._index: dict[tuple, dict[str, int]] = {}
        for m in models:
            for b in m.blocks:
                index = self._index.setdefault(b.analyzer_key, {})
                for term in b.vocabulary:
                    if term not in index:
                        index[term] = len(index)
        self._analyzer: dict[tuple, Callable] = {}
        for key, index in self._index.items():
            if key[0] == WORD:
                self._analyzer[key] = _WordAnalyzer(index) if fast else _StringAnalyzer(features.word_tokens, index)
            else:
                _, ngram_range, lowercase = key
                if fast and ngram_range[1] <= _CharAnalyzer.MAX_N:
                    self._analyzer[key] = _CharAnalyzer(index, ngram_range, lowercase)
                else:
                    self._analyzer[key] = _StringAnalyzer(
                        lambda t, r=ngram_range, lc=lowercase: features.char_ngrams(t, r, lc), index
                    )
        # per (model, block): combined id -> the block's column; one extra slot so id -1 maps to -1
        self._colmap: dict[tuple[int, int], np.ndarray] = {}
        for m in models:
            for i, b in enumerate(m.blocks):
                index = self._index[b.analyzer_key]
                cmap = np.full(len(index) + 1, -1, dtype=np.int64)
                for term, col in b.vocabulary.items():
                    cmap[index[term]] = col
                self._colmap[(id(m), i)] = cmap
        # (n_features, n_outputs) copies of the coefficients: gathering rows is faster
        self._coef_t = {id(cal): np.ascontiguousarray(cal.coef.T) for m in models for cal in m.calibrated}

    def analyze(self, texts: Sequence[str]) -> Analyzed:
        rows: dict[tuple, np.ndarray] = {}
        ids: dict[tuple, np.ndarray] = {}
        texts = list(texts)
        for key, analyzer in self._analyzer.items():
            rows[key], ids[key] = analyzer(texts)
        return Analyzed(len(texts), rows, ids)

    # ----------------------------------------------------------------------- prediction
    def predict_proba(self, model: LinearTfidfModel, data: Analyzed, subset: np.ndarray | None = None) -> np.ndarray:
        """Probabilities [rows × classes], as ``pipeline[1:].predict_proba`` gives them."""
        if subset is None:
            n = data.n
            renumber = None
        else:
            subset = np.asarray(subset, dtype=np.int64)
            n = len(subset)
            renumber = np.full(data.n, -1, dtype=np.int64)
            renumber[subset] = np.arange(n, dtype=np.int64)
        dtype = np.dtype(model.blocks[0].dtype)
        parts_rows, parts_cols, parts_data = [], [], []
        for i, block in enumerate(model.blocks):
            key = block.analyzer_key
            cols = self._colmap[(id(model), i)][data.ids[key]]
            rows = data.rows[key]
            keep = cols >= 0
            if renumber is not None:
                rows = renumber[rows]
                keep &= rows >= 0
            r, c, v = _tfidf_block(block, rows[keep], cols[keep], n, dtype)
            parts_rows.append(r)
            parts_cols.append(c + model.offsets[i])
            parts_data.append(v)
        # the union's columns: each row holds its word block's entries, then its char block's
        rows = np.concatenate(parts_rows)
        order = np.argsort(rows, kind="stable")
        rows, cols, vals = rows[order], np.concatenate(parts_cols)[order], np.concatenate(parts_data)[order]
        indptr = _indptr(rows, n)
        return _calibrated_proba(model, vals, cols, indptr, n, self._coef_t)


def _indptr(rows: np.ndarray, n: int) -> np.ndarray:
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr


def _tfidf_block(block: Block, rows: np.ndarray, cols: np.ndarray, n: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CountVectorizer counts -> TfidfTransformer.transform, entries sorted by (row, column)."""
    width = max(len(block.vocabulary), 1)
    keys, counts = np.unique(rows * width + cols, return_counts=True)
    r = keys // width
    c = keys - r * width
    data = counts.astype(dtype)
    if block.binary:
        data.fill(1)
    if block.sublinear_tf:
        np.log(data, data)
        data += 1.0
    if block.idf is not None:
        data *= block.idf[c]
    if block.norm == "l2" and len(data):
        # sklearn's inplace_csr_row_normalize_l2: float64 sum of squares in row order, then divide
        indptr = _indptr(r, n)
        sums = _row_sums_in_order((data * data).astype(np.float64), indptr)
        nonzero = sums != 0.0
        norms = np.sqrt(sums)
        per_entry = norms[r]
        scale = nonzero[r]
        data = np.where(scale, (data.astype(np.float64) / np.where(scale, per_entry, 1.0)).astype(dtype), data)
    return r, c, data


def _row_sums_in_order(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Each row's values added one at a time from 0.0 in storage order, as a C loop does.

    (numpy's sum/reduceat use pairwise summation, which rounds differently.) Rows are
    advanced together, one position per step, longest first; the last few long rows are
    finished with a cumulative sum, which also adds strictly in order.
    """
    n = len(indptr) - 1
    out = np.zeros((n,) + values.shape[1:], dtype=np.float64)
    if n == 0 or len(values) == 0:
        return out
    lengths = np.diff(indptr)
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    starts = indptr[:-1][order]
    max_len = int(lens[0])
    active = np.searchsorted(-lens, -np.arange(max_len), side="left")  # rows longer than k
    acc = np.zeros_like(out)
    for k in range(max_len):
        cnt = int(active[k])
        if cnt <= _FEW_ROWS and max_len - k > _FEW_STEPS:
            for i in range(cnt):
                seg = values[starts[i] + k : starts[i] + lens[i]]
                acc[i] = np.cumsum(np.concatenate((acc[i : i + 1], seg)), axis=0)[-1]
            break
        acc[:cnt] += values[starts[:cnt] + k]
    out[order] = acc
    return out


def _exp_or_inf(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def _expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit for float64: 1 / (1 + exp(-x)), exp from the C library (math.exp).

    numpy's own exp may differ in the last bit on some CPUs; + and / are IEEE everywhere.
    """
    neg = (-x).tolist()
    try:
        e = np.fromiter(map(math.exp, neg), dtype=np.float64, count=len(neg))
    except OverflowError:  # exp(-x) = inf there, and 1 / (1 + inf) = 0
        e = np.array([_exp_or_inf(v) for v in neg], dtype=np.float64)
    return 1.0 / (1.0 + e)


def _calibrated_proba(model: LinearTfidfModel, vals, cols, indptr, n: int, coef_t: dict) -> np.ndarray:
    n_classes = len(model.classes)
    mean_proba = np.zeros((n, n_classes))
    vals64 = vals.astype(np.float64)
    for cal in model.calibrated:
        # LinearClassifierMixin.decision_function: X @ coef.T + intercept (scipy's csr_matvecs order)
        contrib = vals64[:, None] * coef_t[id(cal)][cols]
        predictions = _row_sums_in_order(contrib, indptr) + cal.intercept
        proba = np.zeros((n, n_classes))
        for j, (class_idx, a, b) in enumerate(zip(cal.class_index, cal.a, cal.b)):
            if n_classes == 2:
                class_idx += 1
            proba[:, class_idx] = _expit(-(a * predictions[:, j] + b))
        if n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            uniform_proba = np.full_like(proba, 1 / n_classes)
            proba = np.divide(proba, denominator, out=uniform_proba, where=denominator != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        mean_proba += proba
    mean_proba /= len(model.calibrated)
    return mean_proba
