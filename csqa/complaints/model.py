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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from csqa.complaints.errors import CorpusError, ModelLoadError
from csqa.complaints.taxonomy import CATEGORIES, SEVERITIES, serious_cues
from csqa.paths import corpora_dir, models_dir

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


def library_versions() -> dict[str, str]:
    import jieba
    import joblib
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "jieba": getattr(jieba, "__version__", "unknown"),
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
@dataclass
class ComplaintClassifier:
    """A fitted complaint classifier (category + severity) with its card."""

    category_model: object
    severity_model: object | None
    threshold: float = DEFAULT_THRESHOLD
    severity_rules: bool = True
    card: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def classes(self) -> list[str]:
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

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(classes, probabilities [n_texts × n_classes]); rows sum to 1."""
        from csqa.complaints.features import normalize_batch

        chunks = []
        norm_model = self.category_model
        for batch in self._batches(texts):
            norm = normalize_batch(batch)
            # skip the pipeline's own normalize step: the text is normalized once here
            chunks.append(norm_model[1:].predict_proba(norm))
        if not chunks:
            return self.classes, np.zeros((0, len(self.classes)))
        return self.classes, np.vstack(chunks)

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: complaint_category, complaint_severity, complaint_probability, is_complaint."""
        from csqa.complaints.features import normalize_batch

        texts = list(texts)
        cats: list[str] = []
        sevs: list[str] = []
        probs: list[float] = []
        classes = self.classes
        none_idx = classes.index("none") if "none" in classes else None
        for batch in self._batches(texts):
            norm = normalize_batch(batch)
            proba = self.category_model[1:].predict_proba(norm)
            if none_idx is None:
                p_complaint = np.ones(len(norm))
            else:
                p_complaint = 1.0 - proba[:, none_idx]
            masked = proba.copy()
            if none_idx is not None:
                masked[:, none_idx] = -1.0
            best = np.asarray(classes)[masked.argmax(axis=1)]
            is_c = p_complaint >= self.threshold
            serious = np.zeros(len(norm), dtype=bool)
            if is_c.any():
                idx = np.flatnonzero(is_c)
                if self.severity_model is not None:
                    sev_model = self.severity_model
                    sp = sev_model[1:].predict_proba([norm[i] for i in idx])
                    s_classes = list(sev_model.classes_)
                    serious[idx] = sp[:, s_classes.index("serious")] >= 0.5 if "serious" in s_classes else False
                if self.severity_rules:
                    for i in idx:
                        if not serious[i] and serious_cues(norm[i]):
                            serious[i] = True
            for i in range(len(norm)):
                if is_c[i]:
                    cats.append(str(best[i]))
                    sevs.append("serious" if serious[i] else "normal")
                else:
                    cats.append("none")
                    sevs.append("none")
            probs.extend(float(round(p, 6)) for p in p_complaint)
        return pd.DataFrame(
            {
                "complaint_category": pd.Series(cats, dtype=object),
                "complaint_severity": pd.Series(sevs, dtype=object),
                "complaint_probability": pd.Series(probs, dtype=float),
                "is_complaint": pd.Series([p >= self.threshold for p in probs], dtype=bool),
            }
        )

    def evaluate(self, texts: Sequence[str], categories: Sequence[str], severities: Sequence[str] | None = None) -> dict:
        pred = self.predict(texts)
        return score_predictions(
            list(categories), pred["complaint_category"].tolist(), None if severities is None else list(severities), pred["complaint_severity"].tolist()
        )


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
    (and the same model bytes). Returns (classifier, model_path).
    """
    import joblib
    import sklearn

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
    payload = {
        "format": CARD_FORMAT,
        "category_model": cat_model,
        "severity_model": sev_model,
        "threshold": threshold,
        "severity_rules": cfg["severity_rules"],
    }
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
    }
    card_path_for(model_path).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    clf.card = card
    clf.path = model_path
    _ = sklearn  # imported for the version check at load time
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
    import joblib

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
    try:
        payload = joblib.load(model_path)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"模型文件 {model_path} 无法加载: {exc} / cannot load model file") from exc
    if not isinstance(payload, dict) or payload.get("format") != CARD_FORMAT or "category_model" not in payload:
        raise ModelLoadError(f"模型文件 {model_path} 格式不对 / unexpected model file format")
    clf = ComplaintClassifier(
        payload["category_model"],
        payload.get("severity_model"),
        threshold=float(card.get("threshold", payload.get("threshold", DEFAULT_THRESHOLD))),
        severity_rules=bool(payload.get("severity_rules", True)),
        card=card,
        path=model_path,
    )
    if clf.classes != list(card.get("classes", [])):
        raise ModelLoadError(f"模型类别 {clf.classes} 与说明卡 {card.get('classes')} 不符 / classes differ from card")
    return clf
