"""Complaint classifier: training, model card, safe loading and batch prediction.

Model = two scikit-learn pipelines sharing one design:
  normalize (csqa.text) -> FeatureUnion(jieba word 1-2-grams TF-IDF, char 1-3-gram TF-IDF)
  -> linear classifier with calibrated probabilities.
* ``category``: 8 classes (none + 7 complaint categories); P(complaint) = 1 - P(none).
* ``severity``: serious vs normal, trained on the complaint rows only; at prediction time a
  complaint is serious when that model says so *or* a serious cue (12315, 骗子, 着火,
  投诉了三次…) is present (``taxonomy.serious_cues``).

The model file is written with joblib next to a JSON model card holding its sha256; the
loader checks the hash and the library versions *before* unpickling anything.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from csqa.complaints.errors import CorpusError, ModelLoadError
from csqa.complaints.taxonomy import CATEGORIES, SEVERITIES, serious_cues
from csqa.paths import corpora_dir, models_dir
from csqa.memo import TEXTS_PER_MEMO

MODEL_FILENAME = "complaint_classifier.joblib"
CARD_SUFFIX = ".card.json"
CARD_FORMAT = 1
DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED = 20261123
BATCH_SIZE = 4096

# The configuration chosen by measurement (see corpora/complaints/DATASHEET.md and
# benchmarks/bench_complaints.py); ``train(..., config=...)`` accepts overrides.
DEFAULT_CONFIG: dict = {
    "word": True,
    "char": (1, 3),
    "char_max_features": 200_000,
    "word_max_features": 100_000,
    "estimator": "svc",  # svc = LinearSVC + sigmoid calibration; lr = LogisticRegression(lbfgs); sgd
    "C": 0.5,
    "class_weight": "balanced",
    "severity_rules": True,
}


def default_corpus_path() -> Path:
    return corpora_dir() / "complaints" / "complaints.csv"


def default_model_path() -> Path:
    return models_dir() / MODEL_FILENAME


def card_path_for(model_path: Path) -> Path:
    model_path = Path(model_path)
    name = model_path.name
    stem = name[: -len(".joblib")] if name.endswith(".joblib") else model_path.stem
    return model_path.with_name(stem + CARD_SUFFIX)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _library_version(module: str, distribution: str, default: str | None = None) -> str:
    """A library's version without importing it (importing scikit-learn takes seconds)."""
    import sys

    mod = sys.modules.get(module)
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        import importlib

        mod = importlib.import_module(module)
        version = getattr(mod, "__version__", default)
        if version is None:
            raise
        return str(version)


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": _library_version("sklearn", "scikit-learn"),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": _library_version("joblib", "joblib"),
        "jieba": _library_version("jieba", "jieba", default="unknown"),
    }


# --------------------------------------------------------------------------- pipeline
def build_pipeline(config: dict | None = None, seed: int = DEFAULT_SEED, binary: bool = False):
    """An unfitted sklearn Pipeline for the given feature/estimator configuration."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import LinearSVC

    from csqa.complaints import features

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    parts = []
    if cfg["word"]:
        parts.append(
            (
                "word",
                TfidfVectorizer(
                    analyzer=features.word_tokens,
                    sublinear_tf=True,
                    min_df=1,
                    max_features=cfg["word_max_features"],
                    dtype=np.float32,
                ),
            )
        )
    if cfg["char"]:
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=tuple(cfg["char"]),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=cfg["char_max_features"],
                    lowercase=True,
                    dtype=np.float32,
                ),
            )
        )
    if not parts:
        raise ValueError("at least one of word/char features is needed")
    est_name = cfg["estimator"]
    cw = cfg["class_weight"]
    if est_name == "svc":
        clf = CalibratedClassifierCV(
            LinearSVC(C=cfg["C"], class_weight=cw, random_state=seed), method="sigmoid", cv=3, ensemble=False
        )
    elif est_name == "lr":
        clf = LogisticRegression(C=cfg["C"] * 10, class_weight=cw, solver="lbfgs", random_state=seed, max_iter=1000)
    elif est_name == "sgd":
        clf = CalibratedClassifierCV(
            SGDClassifier(loss="modified_huber", alpha=1e-5 / cfg["C"], class_weight=cw, random_state=seed, max_iter=50, tol=None),
            method="sigmoid",
            cv=3,
            ensemble=False,
        )
    else:
        raise ValueError(f"unknown estimator {est_name!r}")
    return Pipeline(
        [
            ("normalize", FunctionTransformer(features.normalize_batch)),
            ("features", FeatureUnion(parts)),
            ("clf", clf),
        ]
    )


# --------------------------------------------------------------------------- corpus
def read_corpus(path: Path | str) -> pd.DataFrame:
    """Read a labelled corpus CSV (text, category[, severity]); raises CorpusError."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"找不到语料文件 {path} / corpus file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - reported as one clear line
        raise CorpusError(f"无法读取语料 {path}: {exc} / cannot read corpus") from exc
    missing = [c for c in ("text", "category") if c not in df.columns]
    if missing:
        raise CorpusError(f"语料 {path} 缺少列 {missing} (需要 text, category[, severity]) / missing columns {missing}")
    bad = sorted(set(df["category"]) - set(CATEGORIES))
    if bad:
        raise CorpusError(f"语料 {path} 含未知类别 {bad}; 可用类别 {list(CATEGORIES)} / unknown categories")
    if "severity" not in df.columns:
        df["severity"] = np.where(df["category"] == "none", "none", "normal")
    bad = sorted(set(df["severity"]) - set(SEVERITIES))
    if bad:
        raise CorpusError(f"语料 {path} 含未知严重度 {bad}; 可用 {list(SEVERITIES)} / unknown severities")
    df = df[df["text"].str.strip() != ""].reset_index(drop=True)
    if df["category"].nunique() < 2:
        raise CorpusError(f"语料 {path} 至少需要两个类别 / need at least two categories")
    return df


# --------------------------------------------------------------------------- metrics
def _round(x: float) -> float:
    return float(round(float(x), 4))


def score_predictions(y_true_cat, y_pred_cat, y_true_sev=None, y_pred_sev=None) -> dict:
    """The metrics reported everywhere: binary complaint F1, macro-F1, serious recall."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support, recall_score

    y_true_cat = np.asarray(y_true_cat)
    y_pred_cat = np.asarray(y_pred_cat)
    labels = [c for c in CATEGORIES if c in set(y_true_cat) | set(y_pred_cat)]
    out = {
        "n": int(len(y_true_cat)),
        "accuracy": _round(np.mean(y_true_cat == y_pred_cat)) if len(y_true_cat) else 0.0,
        "macro_f1": _round(f1_score(y_true_cat, y_pred_cat, labels=[c for c in labels if c in set(y_true_cat)], average="macro", zero_division=0)),
        "complaint_f1": _round(f1_score(y_true_cat != "none", y_pred_cat != "none", zero_division=0)),
    }
    p, r, f, s = precision_recall_fscore_support(y_true_cat, y_pred_cat, labels=labels, zero_division=0)
    out["per_class"] = {
        lab: {"precision": _round(p[i]), "recall": _round(r[i]), "f1": _round(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    if y_true_sev is not None and y_pred_sev is not None:
        yt = np.asarray(y_true_sev) == "serious"
        yp = np.asarray(y_pred_sev) == "serious"
        out["serious_recall"] = _round(recall_score(yt, yp, zero_division=0)) if yt.any() else None
        out["serious_precision"] = _round((yt & yp).sum() / yp.sum()) if yp.any() else None
    return out


# --------------------------------------------------------------------------- classifier
VERDICT_CACHE_SIZE = TEXTS_PER_MEMO  # see csqa.memo


class ComplaintClassifier:
    """A fitted complaint classifier (category + severity) with its card.

    ``category_model`` / ``severity_model`` are the fitted scikit-learn pipelines. A model
    loaded from a file predicts with their compiled form (``csqa.complaints.linear``: the
    same numbers without scikit-learn, every text analyzed once for both models) and
    unpickles the pipelines only when something asks for them.
    """

    def __init__(
        self,
        category_model=None,
        severity_model=None,
        threshold: float = DEFAULT_THRESHOLD,
        severity_rules: bool = True,
        card: dict | None = None,
        path: Path | None = None,
        *,
        compiled=None,
        pipelines=None,
    ):
        self._category_model = category_model
        self._severity_model = severity_model
        self._pipelines = pipelines  # () -> (category_model, severity_model), for lazy loading
        self.threshold = threshold
        self.severity_rules = severity_rules
        self.card = card if card is not None else {}
        self.path = path
        self._compiled = compiled
        self._fast = self._featurizer(compiled)
        self._verdicts: dict[str, tuple[str, str, float, bool]] = {}

    @staticmethod
    def _featurizer(compiled):
        if compiled is None:
            return None
        from csqa.complaints.linear import SharedFeaturizer

        cat, sev = compiled
        return SharedFeaturizer([m for m in (cat, sev) if m is not None]), cat, sev

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fast"] = None  # keyed by object ids: rebuilt after unpickling
        state["_verdicts"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fast = self._featurizer(self._compiled)

    def __repr__(self) -> str:
        return f"ComplaintClassifier(model_id={self.model_id!r}, threshold={self.threshold}, compiled={self._fast is not None})"

    def _load_pipelines(self) -> None:
        if self._pipelines is not None:
            self._category_model, self._severity_model = self._pipelines()
            self._pipelines = None

    @property
    def category_model(self):
        self._load_pipelines()
        return self._category_model

    @property
    def severity_model(self):
        self._load_pipelines()
        return self._severity_model

    @property
    def compiled(self) -> bool:
        """True when predictions run on the compiled models (no scikit-learn needed)."""
        return self._fast is not None

    @property
    def classes(self) -> list[str]:
        if self._fast is not None:
            return list(self._fast[1].classes)
        return [str(c) for c in self.category_model.classes_]

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", "unsaved"))

    @property
    def sha256(self) -> str:
        return str(self.card.get("model_sha256", ""))

    def _batches(self, texts: Sequence[str]):
        texts = list(texts)
        for start in range(0, len(texts), BATCH_SIZE):
            yield texts[start : start + BATCH_SIZE]

    def _category_proba(self, norm: list[str]):
        """(probabilities, analyzed features or None) of normalized texts."""
        if self._fast is not None:
            fz, cat, _ = self._fast
            data = fz.analyze(norm)
            return fz.predict_proba(cat, data), data
        # skip the pipeline's own normalize step: the text is normalized once by the caller
        return self.category_model[1:].predict_proba(norm), None

    def _severity_proba(self, norm: list[str], idx: np.ndarray, data) -> tuple[list[str], np.ndarray]:
        if self._fast is not None and self._fast[2] is not None:
            fz, _, sev = self._fast
            return list(sev.classes), fz.predict_proba(sev, data, subset=idx)
        sev_model = self.severity_model
        return list(sev_model.classes_), sev_model[1:].predict_proba([norm[i] for i in idx])

    def _has_severity_model(self) -> bool:
        if self._fast is not None:
            return self._fast[2] is not None
        return self.severity_model is not None

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(classes, probabilities [n_texts × n_classes]); rows sum to 1."""
        from csqa.complaints.features import normalize_batch

        chunks = [self._category_proba(normalize_batch(batch))[0] for batch in self._batches(texts)]
        if not chunks:
            return self.classes, np.zeros((0, len(self.classes)))
        return self.classes, np.vstack(chunks)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: complaint_category, complaint_severity, complaint_probability, is_complaint."""
        cats, sevs, probs, flags = self._predict_lists(texts)
        return pd.DataFrame(
            {
                "complaint_category": pd.Series(cats, dtype=object),
                "complaint_severity": pd.Series(sevs, dtype=object),
                "complaint_probability": pd.Series(probs, dtype=float),
                "is_complaint": pd.Series(flags, dtype=bool),
            }
        )

    def verdicts(self, texts: Sequence[str]) -> list[tuple[str, str, float, bool]]:
        """(category, severity, probability, is_complaint) per text, as ``predict`` gives them.

        Remembers the verdicts of the last VERDICT_CACHE_SIZE distinct texts: chats repeat
        the same lines ("好的", "在吗") across batches. A text's verdict never depends on the
        other texts of its batch, so cached and fresh verdicts are the same.
        """
        cache = self._verdicts
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if not todo:
            return [cache[t] for t in texts]
        cats, sevs, probs, flags = self._predict_lists(todo)
        fresh = dict(zip(todo, zip(cats, sevs, probs, flags)))
        out = [fresh[t] if t in fresh else cache[t] for t in texts]
        cache.update(fresh)
        overflow = len(cache) - VERDICT_CACHE_SIZE
        if overflow > 0:  # forget the oldest
            for key in list(islice(cache, overflow)):
                del cache[key]
        return out

    def _predict_lists(self, texts: Sequence[str]) -> tuple[list[str], list[str], list[float], list[bool]]:
        from csqa.complaints.features import normalize_batch

        texts = list(texts)
        cats: list[str] = []
        sevs: list[str] = []
        probs: list[float] = []
        classes = self.classes
        none_idx = classes.index("none") if "none" in classes else None
        has_severity = self._has_severity_model()
        for batch in self._batches(texts):
            norm = normalize_batch(batch)
            proba, data = self._category_proba(norm)
            if none_idx is None:
                p_complaint = np.ones(len(norm))
            else:
                p_complaint = 1.0 - proba[:, none_idx]
            masked = proba.copy()
            if none_idx is not None:
                masked[:, none_idx] = -1.0
            best = np.asarray(classes)[masked.argmax(axis=1)].tolist()
            is_c = p_complaint >= self.threshold
            serious = np.zeros(len(norm), dtype=bool)
            if is_c.any():
                idx = np.flatnonzero(is_c)
                if has_severity:
                    s_classes, sp = self._severity_proba(norm, idx, data)
                    serious[idx] = sp[:, s_classes.index("serious")] >= 0.5 if "serious" in s_classes else False
                if self.severity_rules:
                    for i in idx.tolist():
                        if not serious[i] and serious_cues(norm[i]):
                            serious[i] = True
            for c, flag, ser in zip(best, is_c.tolist(), serious.tolist()):
                if flag:
                    cats.append(str(c))
                    sevs.append("serious" if ser else "normal")
                else:
                    cats.append("none")
                    sevs.append("none")
            probs.extend(np.round(p_complaint, 6).tolist())  # == float(round(p, 6)) per element
        return cats, sevs, probs, [p >= self.threshold for p in probs]

    def evaluate(self, texts: Sequence[str], categories: Sequence[str], severities: Sequence[str] | None = None) -> dict:
        pred = self.predict(texts)
        return score_predictions(
            list(categories), pred["complaint_category"].tolist(), None if severities is None else list(severities), pred["complaint_severity"].tolist()
        )


# --------------------------------------------------------------------------- model file
# Payload format 2 (what `train` writes): a joblib file holding only builtins —
#   {"format": 2, "threshold", "severity_rules",
#    "compiled": pickle of (category, severity) csqa.complaints.linear.LinearTfidfModel | None,
#    "pipelines": pickle of {"category_model", "severity_model"} (scikit-learn pipelines)}
# so a scoring run unpickles numpy arrays and dicts only and never imports scikit-learn.
# The pipelines' large arrays and vocabularies are stored once, in "compiled", and are
# referenced from "pipelines" by persistent id. Format 1 (older files): the joblib dump
# of {"format": 1, "category_model", "severity_model", "threshold", "severity_rules"}.
PAYLOAD_FORMAT = 2
PAYLOAD_FORMATS = (1, 2)

# Texts on which a compiled model must give exactly the pipeline's probabilities before it
# is used for a model file that has no verified compiled form (format 1).
VERIFY_TEXTS = (
    "", " ", "好的", "在吗?", "谢谢!!!", "OK ok Ｏｋ", "a  b\t\tc\n\nd",
    "快递一个星期还没到,什么情况?", "刚收到的手机屏幕就有坏点,这质量也太差了", "退货都签收一周了,退款还没到账",
    "退款拖了半个月,再不退我就打12315投诉你们", "你们就是骗子,卖假货😡😡", "[订单x]降价了,帮我申请一下价保",
    "订单号 1234567890123 物流三天没更新", "這個東西還沒發貨嗎?謝謝", "APP一直闪退,根本没法下单", "太差了" * 200,
)


def _pipeline_shared_objects(cat_model, sev_model, compiled) -> dict[int, tuple]:
    """id(object inside the pipelines) -> persistent id, for the parts "compiled" holds too."""
    shared: dict[int, tuple] = {}
    for mi, (pipe, comp) in enumerate(zip((cat_model, sev_model), compiled)):
        if pipe is None or comp is None:
            continue
        for bi, (_, vec) in enumerate(pipe[1].transformer_list):
            shared[id(vec.vocabulary_)] = ("vocabulary", mi, bi)
            idf = getattr(vec._tfidf, "idf_", None)
            if idf is not None and idf is comp.blocks[bi].idf:
                shared[id(idf)] = ("idf", mi, bi)
        for ci, cc in enumerate(pipe[-1].calibrated_classifiers_):
            if cc.estimator.coef_ is comp.calibrated[ci].coef:
                shared[id(cc.estimator.coef_)] = ("coef", mi, ci)
    return shared


def _shared_object(key: tuple, compiled):
    kind, mi, i = key
    comp = compiled[mi]
    if kind == "vocabulary":  # as scikit-learn left it: numpy int64 column numbers, same order
        return {term: np.int64(col) for term, col in comp.blocks[i].vocabulary.items()}
    if kind == "idf":
        return comp.blocks[i].idf
    if kind == "coef":
        return comp.calibrated[i].coef
    raise ModelLoadError(f"模型文件引用了未知对象 {key} / unknown reference in the model file")


def model_payload(cat_model, sev_model, compiled, threshold: float, severity_rules: bool) -> dict:
    """The format-2 payload `train` writes (see above)."""
    import io
    import pickle

    pipelines = {"category_model": cat_model, "severity_model": sev_model}
    buf = io.BytesIO()
    if compiled is not None:
        shared = _pipeline_shared_objects(cat_model, sev_model, compiled)

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                return shared.get(id(obj))

        _Pickler(buf, protocol=5).dump(pipelines)
    else:
        pickle.dump(pipelines, buf, protocol=5)
    return {
        "format": PAYLOAD_FORMAT,
        "threshold": threshold,
        "severity_rules": severity_rules,
        "compiled": pickle.dumps(compiled, protocol=5) if compiled is not None else None,
        "pipelines": buf.getvalue(),
    }


class _PipelinesLoader:
    """Unpickles the scikit-learn pipelines of a format-2 payload (imports scikit-learn) when called."""

    def __init__(self, blob: bytes, compiled):
        self.blob = blob
        self.compiled = compiled

    def __call__(self):
        import io
        import pickle

        compiled = self.compiled

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, key):
                if compiled is None:
                    raise pickle.UnpicklingError("unexpected persistent id")
                return _shared_object(tuple(key), compiled)

        try:
            models = _Unpickler(io.BytesIO(self.blob)).load()
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"模型文件中的 scikit-learn 模型无法加载: {exc} / cannot load the pipelines") from exc
        return models["category_model"], models.get("severity_model")


def compile_verified(cat_model, sev_model, texts: Sequence[str]):
    """(category, severity) compiled models, or None unless they reproduce the pipelines'
    probabilities exactly (bit for bit) on ``texts`` and VERIFY_TEXTS."""
    from csqa.complaints.features import normalize_batch
    from csqa.complaints.linear import SharedFeaturizer, compile_pipeline

    cat_c = compile_pipeline(cat_model)
    sev_c = compile_pipeline(sev_model) if sev_model is not None else None
    if cat_c is None or (sev_model is not None and sev_c is None):
        return None
    fz = SharedFeaturizer([m for m in (cat_c, sev_c) if m is not None])
    texts = list(texts) + list(VERIFY_TEXTS)
    for start in range(0, len(texts), BATCH_SIZE):
        norm = normalize_batch(texts[start : start + BATCH_SIZE])
        data = fz.analyze(norm)
        pairs = [(cat_model, cat_c)] + ([(sev_model, sev_c)] if sev_c is not None else [])
        for pipe, comp in pairs:
            want = pipe[1:].predict_proba(norm)
            got = fz.predict_proba(comp, data)
            if want.shape != got.shape or not np.array_equal(want, got):
                return None
    return cat_c, sev_c


def _read_plain_payload(model_path: Path):
    """A format-2 payload read without joblib or scikit-learn; None for any other file."""
    import io
    import pickle
    import zlib

    class _NotPlain(Exception):
        pass

    class _BuiltinsOnly(pickle.Unpickler):
        def find_class(self, module, name):
            raise _NotPlain

        def persistent_load(self, pid):
            raise _NotPlain

    raw = model_path.read_bytes()
    if raw[:1] != b"\x78":  # joblib's zlib-compressed files (compress=3) are one zlib stream
        return None
    try:
        obj = _BuiltinsOnly(io.BytesIO(zlib.decompress(raw))).load()
    except Exception:  # noqa: BLE001 - format 1, another compressor: joblib reads it
        return None
    if isinstance(obj, dict) and obj.get("format") == PAYLOAD_FORMAT:
        return obj
    return None


# --------------------------------------------------------------------------- training
def fit_models(df: pd.DataFrame, config: dict | None = None, seed: int = DEFAULT_SEED):
    """Fit (category_model, severity_model or None) on a corpus frame."""
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    cat_model = build_pipeline(cfg, seed)
    cat_model.fit(df["text"].tolist(), df["category"].to_numpy())
    comp = df[df["category"] != "none"]
    sev_model = None
    if comp["severity"].nunique() == 2 and comp["severity"].value_counts().min() >= 6:
        sev_model = build_pipeline(cfg, seed)
        sev_model.fit(comp["text"].tolist(), comp["severity"].to_numpy())
    return cat_model, sev_model


def cross_validate(df: pd.DataFrame, config: dict | None = None, seed: int = DEFAULT_SEED, folds: int = 5) -> dict:
    """Stratified k-fold metrics on the corpus (deterministic for a seed)."""
    from sklearn.model_selection import StratifiedKFold

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    y = df["category"].to_numpy()
    n_min = int(pd.Series(y).value_counts().min())
    folds = max(2, min(folds, n_min))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    pred_cat = np.empty(len(df), dtype=object)
    pred_sev = np.empty(len(df), dtype=object)
    for tr, te in skf.split(np.zeros(len(y)), y):
        cat_m, sev_m = fit_models(df.iloc[tr], cfg, seed)
        clf = ComplaintClassifier(cat_m, sev_m, severity_rules=cfg["severity_rules"])
        p = clf.predict(df["text"].iloc[te].tolist())
        pred_cat[te] = p["complaint_category"].to_numpy()
        pred_sev[te] = p["complaint_severity"].to_numpy()
    m = score_predictions(y, pred_cat, df["severity"].to_numpy(), pred_sev)
    m["folds"] = folds
    return m


def train(
    corpus_path: Path | str | None = None,
    out_dir: Path | str | None = None,
    seed: int = DEFAULT_SEED,
    config: dict | None = None,
    cv_folds: int = 5,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[ComplaintClassifier, Path]:
    """Train on a labelled CSV and write <out_dir>/complaint_classifier.joblib + card.

    Deterministic: the same corpus, seed and library versions give the same metrics
    (and the same model bytes). Returns (classifier, model_path). The file holds the
    fitted pipelines and, when it reproduces them exactly on the corpus, their compiled
    form (``csqa.complaints.linear``), which scoring uses without importing scikit-learn.
    """
    import joblib

    corpus_path = Path(corpus_path) if corpus_path else default_corpus_path()
    out_dir = Path(out_dir) if out_dir else models_dir()
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    df = read_corpus(corpus_path)
    started = time.perf_counter()
    cv = cross_validate(df, cfg, seed, cv_folds) if cv_folds and cv_folds > 1 else None
    cat_model, sev_model = fit_models(df, cfg, seed)
    clf = ComplaintClassifier(cat_model, sev_model, threshold=threshold, severity_rules=cfg["severity_rules"])
    train_metrics = clf.evaluate(df["text"].tolist(), df["category"].tolist(), df["severity"].tolist())
    seconds = time.perf_counter() - started

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILENAME
    compiled = compile_verified(cat_model, sev_model, df["text"].tolist())
    payload = model_payload(cat_model, sev_model, compiled, threshold, cfg["severity_rules"])
    tmp = model_path.with_suffix(".joblib.tmp")
    joblib.dump(payload, tmp, compress=3)
    tmp.replace(model_path)
    model_sha = sha256_file(model_path)
    corpus_sha = sha256_file(corpus_path)
    counts = df["category"].value_counts()
    card = {
        "card_format": CARD_FORMAT,
        "model_id": f"complaints-{model_sha[:12]}",
        "model_file": model_path.name,
        "model_sha256": model_sha,
        "task": "客服会话投诉识别: 类别 + 严重度 / complaint category + severity",
        "classes": [str(c) for c in cat_model.classes_],
        "severities": list(SEVERITIES),
        "threshold": threshold,
        "corpus": {
            "file": corpus_path.name,
            "sha256": corpus_sha,
            "rows": int(len(df)),
            "class_counts": {c: int(counts.get(c, 0)) for c in CATEGORIES},
            "serious_rows": int((df["severity"] == "serious").sum()),
        },
        "seed": seed,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "metrics": {"train": train_metrics, "cross_validation": cv},
        "training_seconds": round(seconds, 1),
        "libraries": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "created_by": "csqa.complaints.train",
        "payload_format": PAYLOAD_FORMAT,
        "compiled": compiled is not None,
    }
    card_path_for(model_path).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    clf = ComplaintClassifier(
        cat_model, sev_model, threshold=threshold, severity_rules=cfg["severity_rules"], card=card, path=model_path, compiled=compiled
    )
    return clf, model_path


# --------------------------------------------------------------------------- loading
def _major_minor(v: str) -> tuple[str, ...]:
    return tuple(str(v).split(".")[:2])


def check_card(model_path: Path, card: dict) -> None:
    """Raise ModelLoadError unless the file hash and library versions match the card."""
    expected = card.get("model_sha256")
    if not expected:
        raise ModelLoadError(f"模型说明卡缺少 model_sha256,拒绝加载 {model_path} / model card has no sha256; refusing to load")
    actual = sha256_file(model_path)
    if actual != expected:
        raise ModelLoadError(
            f"模型文件 {model_path} 的 sha256 与说明卡不符 (文件 {actual[:12]}…, 说明卡 {expected[:12]}…): "
            "文件可能被篡改或损坏,拒绝加载。请用 `csqa train` 重新训练或恢复原文件。 / "
            "model file hash does not match its card: tampered or corrupt, refusing to unpickle; retrain with `csqa train`."
        )
    libs = card.get("libraries", {})
    now = library_versions()
    for lib in ("scikit-learn", "numpy", "joblib"):
        want = libs.get(lib)
        have = now[lib]
        if want is None:
            raise ModelLoadError(f"模型说明卡缺少 {lib} 版本,拒绝加载 {model_path} / card lacks the {lib} version")
        same = _major_minor(want) == _major_minor(have) if lib == "scikit-learn" else want.split(".")[0] == have.split(".")[0]
        if not same:
            raise ModelLoadError(
                f"模型 {model_path} 由 {lib} {want} 训练,当前为 {have},版本不兼容。请用 `csqa train` 重新训练。 / "
                f"model was trained with {lib} {want}, this environment has {have}: incompatible; retrain with `csqa train`."
            )


def load_classifier(path: str | Path | None = None) -> ComplaintClassifier:
    """Load a saved classifier after checking its card (None = the shipped model).

    ``path`` may be the .joblib file or the folder that holds it.
    """
    model_path = Path(path) if path is not None else default_model_path()
    if model_path.is_dir():
        model_path = model_path / MODEL_FILENAME
    if not model_path.exists():
        raise ModelLoadError(
            f"找不到模型文件 {model_path}。请先运行 `csqa train` 生成模型。 / model file not found: {model_path}; run `csqa train`."
        )
    card_path = card_path_for(model_path)
    if not card_path.exists():
        raise ModelLoadError(
            f"找不到模型说明卡 {card_path},无法校验模型,拒绝加载。 / model card {card_path.name} missing; refusing to load an unverified model."
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"模型说明卡 {card_path} 无法解析: {exc} / model card is not valid JSON") from exc
    check_card(model_path, card)
    payload = _read_plain_payload(model_path)
    if payload is None:
        import joblib

        try:
            payload = joblib.load(model_path)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"模型文件 {model_path} 无法加载: {exc} / cannot load model file") from exc
    fmt = payload.get("format") if isinstance(payload, dict) else None
    if fmt not in PAYLOAD_FORMATS or ("category_model" if fmt == 1 else "pipelines") not in payload:
        raise ModelLoadError(f"模型文件 {model_path} 格式不对 / unexpected model file format")
    threshold = float(card.get("threshold", payload.get("threshold", DEFAULT_THRESHOLD)))
    severity_rules = bool(payload.get("severity_rules", True))
    if fmt == 1:
        cat_model, sev_model = payload["category_model"], payload.get("severity_model")
        clf = ComplaintClassifier(
            cat_model, sev_model, threshold=threshold, severity_rules=severity_rules, card=card, path=model_path,
            compiled=compile_verified(cat_model, sev_model, ()),
        )
    else:
        import pickle

        try:
            compiled = pickle.loads(payload["compiled"]) if payload.get("compiled") is not None else None
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"模型文件 {model_path} 无法加载: {exc} / cannot load model file") from exc
        pipelines = _PipelinesLoader(payload["pipelines"], compiled)
        if compiled is None:
            cat_model, sev_model = pipelines()
            clf = ComplaintClassifier(cat_model, sev_model, threshold=threshold, severity_rules=severity_rules, card=card, path=model_path)
        else:
            clf = ComplaintClassifier(
                threshold=threshold, severity_rules=severity_rules, card=card, path=model_path, compiled=compiled, pipelines=pipelines
            )
    if clf.classes != list(card.get("classes", [])):
        raise ModelLoadError(f"模型类别 {clf.classes} 与说明卡 {card.get('classes')} 不符 / classes differ from card")
    return clf
