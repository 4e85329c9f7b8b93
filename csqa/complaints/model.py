"""Complaint classifier: two questions, two estimators, the chat around each message.

1. *Is the customer dissatisfied?* — ``dissatisfied``, a binary logistic regression;
2. *about what?* — ``aspect``, a 7-way logistic regression fitted on the complaints only
   (config "estimator" offers LinearSVC + calibration and two naive Bayes for these two; all are saved as
   the same plain linear heads; the logistic regression was kept on real text, see ``DEFAULT_CONFIG``);
   severity stays model + cues: ``severity`` (serious vs normal, on the complaints) or a serious cue
   (12315, 骗子, 着火, 投诉了三次…, ``taxonomy.serious_cues``).

Every text comes with its context: for a chat message, the agent turn just before it (没有了 after
还有其他问题吗 is an answer, not a complaint); for a review or a Weibo post, nothing. Features, fitted
once for all three heads: character 1–3-gram and word 1–2-gram TF-IDF of the text, word TF-IDF of the
context (`csqa.textmodel.features`). Each block is L2-normalized on its own, so a head's decision is the
sum of a text part and a context part (`csqa.textmodel.linear`).

P(complaint) = P(dissatisfied); P(category) = P(dissatisfied) · P(aspect = category); a text is a
complaint when P(dissatisfied) ≥ the threshold, chosen on the tune part of the real-text development set
(benchmarks/bench_complaints.py), as are C and the features — never by in-corpus cross-validation.

The model file is plain data: ``complaint_classifier.npz`` (arrays, read with ``allow_pickle=False``) and
``complaint_classifier.json`` (vocabularies, classes, settings), next to the model card
``complaint_classifier.card.json`` with the sha256 of both and what the model was trained on. The loader
checks the card before it reads a byte of the model; nothing it reads can run code. ``csqa train`` on the
same corpus with the same seed and library versions writes the same three files, bit for bit.
"""
from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from csqa.complaints.errors import CorpusError, ModelLoadError
from csqa.textmodel.files import load_verified, save_model, sha256_file, write_card
from csqa.textmodel.linear import CHAR, CONTEXT, LEXICON, TEXT, WORD, Block, Head, LinearModel, _CharAnalyzer
from csqa.complaints.taxonomy import CATEGORIES, COMPLAINT_CATEGORIES, SEVERITIES, serious_cues
from csqa.core.memo import TEXTS_PER_MEMO
from csqa.core.paths import corpora_dir, models_dir

MODEL_STEM = "complaint_classifier"
MODEL_FILENAME = MODEL_STEM + ".npz"
META_SUFFIX = ".json"
CARD_SUFFIX = ".card.json"
DEFAULT_SEED = 20261123
BATCH_SIZE = 4096
HEADS = ("dissatisfied", "aspect", "severity")

# Chosen on the tune part of the real-text development set (benchmarks/choose_complaint_model.py;
# corpora/complaints/DATASHEET.md has the comparison). ``train(..., config=...)`` accepts overrides.
# "estimator" is that of the two questions (dissatisfied, aspect; one of ESTIMATORS), severity is always a
# logistic regression; C_<head> is the estimator's C (the naive Bayes estimators take "nb_alpha", default 1.0,
# instead); "word_max_features": 0 leaves the word block out.
DEFAULT_CONFIG: dict = {
    "char_ngrams": [1, 3],
    "char_min_df": 2,
    "char_max_features": 150_000,
    "word_max_features": 80_000,
    "context": True,
    "context_max_features": 5_000,
    "lexicon": True,
    "C_dissatisfied": 4.0,
    "C_aspect": 4.0,
    "C_severity": 2.0,
    "class_weight": "balanced",
    "threshold": 0.4,
    "serious_threshold": 0.5,
    "severity_rules": True,
    "estimator": "logreg",
}

# Estimators of the dissatisfied and aspect heads; each is linear, so `to_linear` saves it as plain arrays:
# - logreg: LogisticRegression;
# - linearsvc: LinearSVC whose decision is made a probability on 5-fold out-of-fold decisions
#   (CalibratedClassifierCV, ensemble=False): Platt's sigmoid for two classes (a threshold is a probability),
#   temperature scaling for more (softmax of the decisions over a temperature: the SVM's argmax unchanged);
# - complementnb / multinomialnb: ComplementNB / MultinomialNB on the same TF-IDF features ("balanced"
#   class weight as sample weights).
ESTIMATORS = ("logreg", "linearsvc", "complementnb", "multinomialnb")
CALIBRATION_FOLDS = 5


def default_corpus_path() -> Path:
    return corpora_dir() / "complaints" / "complaints.csv"


def default_model_path() -> Path:
    return models_dir() / MODEL_FILENAME


def meta_path_for(model_path: Path) -> Path:
    return Path(model_path).with_name(_stem(model_path) + META_SUFFIX)


def card_path_for(model_path: Path) -> Path:
    return Path(model_path).with_name(_stem(model_path) + CARD_SUFFIX)


def _stem(model_path: Path) -> str:
    name = Path(model_path).name
    return name[: -len(".npz")] if name.endswith(".npz") else Path(model_path).stem


def _library_version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": _library_version("scikit-learn"),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "jieba": _library_version("jieba"),
        "rjieba": _library_version("rjieba"),
    }


# --------------------------------------------------------------------------- the estimators
def build_features(config: dict | None = None):
    """The unfitted ColumnTransformer over a frame with columns text and context (normalized)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer

    from csqa.textmodel import features

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    blocks = [
        ("char", TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg["char_ngrams"]), min_df=cfg["char_min_df"],
                                 max_features=cfg["char_max_features"], sublinear_tf=True, lowercase=True), TEXT),
    ]
    if cfg["word_max_features"]:
        blocks.append(("word", TfidfVectorizer(analyzer=features.word_tokens, max_features=cfg["word_max_features"],
                                               sublinear_tf=True), TEXT))
    if cfg["lexicon"]:
        from csqa.textmodel.lexicon import LexiconTagger, lexicon_entries

        blocks.append(("lexicon", TfidfVectorizer(analyzer=LexiconTagger(lexicon_entries()), lowercase=False,
                                                  sublinear_tf=True), TEXT))
    if cfg["context"]:
        blocks.append(("context", TfidfVectorizer(analyzer=features.context_tokens, min_df=2,
                                                  max_features=cfg["context_max_features"], sublinear_tf=True), CONTEXT))
    return ColumnTransformer(blocks, sparse_threshold=1.0)


def estimator_of(name: str, config: dict | None = None) -> str:
    """The estimator of a head: the configured one for the two questions, logreg for severity."""
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    kind = cfg["estimator"] if name in ("dissatisfied", "aspect") else "logreg"
    if kind not in ESTIMATORS:
        raise ValueError(f"unknown estimator {kind!r}; choose one of {list(ESTIMATORS)}")
    return kind


def build_head(name: str, config: dict | None = None, seed: int = DEFAULT_SEED):
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    kind = estimator_of(name, cfg)
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=cfg[f"C_{name}"], class_weight=cfg["class_weight"], max_iter=3000, random_state=seed)
    if kind == "linearsvc":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        svc = LinearSVC(C=cfg[f"C_{name}"], class_weight=cfg["class_weight"], dual=True, max_iter=20_000, random_state=seed)
        method = "sigmoid" if name in _BINARY_CLASSES else "temperature"
        return CalibratedClassifierCV(svc, method=method, ensemble=False,
                                      cv=StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed))
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    return (ComplementNB if kind == "complementnb" else MultinomialNB)(alpha=float(cfg.get("nb_alpha", 1.0)))


def _fit_head(name: str, x, y, config: dict, seed: int):
    est = build_head(name, config, seed)
    if estimator_of(name, config) in ("complementnb", "multinomialnb") and config["class_weight"] == "balanced":
        from sklearn.utils.class_weight import compute_sample_weight

        return est.fit(x, y, sample_weight=compute_sample_weight("balanced", y))
    return est.fit(x, y)


def input_frame(texts: Sequence[str], contexts: Sequence[str] | None = None) -> pd.DataFrame:
    """Normalized (text, context) columns, the classifier's input."""
    from csqa.textmodel.features import normalize_batch

    texts = list(texts)
    contexts = [""] * len(texts) if contexts is None else list(contexts)
    if len(contexts) != len(texts):
        raise ValueError("texts and contexts differ in length")
    return pd.DataFrame({TEXT: normalize_batch(texts), CONTEXT: normalize_batch(contexts)})


def fit(df: pd.DataFrame, config: dict | None = None, seed: int = DEFAULT_SEED) -> dict:
    """Fit the features and the heads on a corpus frame (text, context, category, severity).

    Returns {"features": ColumnTransformer, "dissatisfied": …, "aspect": …, "severity": … or None}:
    scikit-learn objects, the reference the plain-array model (`to_linear`) must agree with."""
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    frame = input_frame(df["text"].tolist(), df["context"].tolist() if "context" in df else None)
    features = build_features(cfg)
    x = features.fit_transform(frame)
    category = df["category"].to_numpy()
    complaint = category != "none"
    fitted = {"features": features}
    fitted["dissatisfied"] = _fit_head("dissatisfied", x, complaint.astype(int), cfg, seed)
    fitted["aspect"] = _fit_head("aspect", x[complaint], category[complaint], cfg, seed)
    serious = df["severity"].to_numpy()[complaint] == "serious"
    fitted["severity"] = (_fit_head("severity", x[complaint], serious.astype(int), cfg, seed)
                          if 6 <= serious.sum() <= len(serious) - 6 else None)
    return fitted


def linear_parameters(est) -> tuple[list, np.ndarray, np.ndarray]:
    """(classes, coef, intercept) of a fitted head such that its predict_proba is the logistic function of
    X·coefᵀ + intercept (two classes: one row) or the softmax of it (more) — what `Head.probabilities` does.

    LogisticRegression is that already; a calibrated LinearSVC (CalibratedClassifierCV, ensemble=False) is its
    decision w·x + b through Platt's sigmoid 1/(1 + exp(a·f + c)) (two classes) or a temperature (softmax of
    β·f; two classes: of (−f, f)); naive Bayes is the softmax of its joint log-likelihood X·log θᵀ (+ log prior
    for MultinomialNB)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    classes = list(est.classes_)
    if isinstance(est, LogisticRegression):
        return classes, np.asarray(est.coef_, dtype=np.float64), np.asarray(est.intercept_, dtype=np.float64)
    if isinstance(est, CalibratedClassifierCV):
        if len(est.calibrated_classifiers_) != 1:
            raise ValueError("a calibrated head must be fitted with ensemble=False to be one linear head")
        cal = est.calibrated_classifiers_[0]
        w = np.asarray(cal.estimator.coef_, dtype=np.float64)
        b = np.asarray(cal.estimator.intercept_, dtype=np.float64)
        if cal.method == "sigmoid" and len(classes) == 2:
            a, c = float(cal.calibrators[0].a_), float(cal.calibrators[0].b_)
            return classes, -a * w, -(a * b + c)
        if cal.method == "temperature":
            beta = float(cal.calibrators[0].beta_)
            scale = 2.0 * beta if len(classes) == 2 else beta
            return classes, scale * w, scale * b
        raise ValueError(f"calibration {cal.method!r} with {len(classes)} classes is not one linear head")
    if isinstance(est, (ComplementNB, MultinomialNB)):
        log_theta = np.asarray(est.feature_log_prob_, dtype=np.float64)
        prior = (np.asarray(est.class_log_prior_, dtype=np.float64) if isinstance(est, MultinomialNB)
                 else np.zeros(len(classes)))
        if len(classes) == 2:
            return classes, (log_theta[1] - log_theta[0])[None, :], np.array([prior[1] - prior[0]])
        return classes, log_theta, prior
    raise ValueError(f"no linear head for {type(est).__name__}")


_BINARY_CLASSES = {"dissatisfied": ["no", "yes"], "severity": ["normal", "serious"]}


def to_linear(fitted: dict, heads: Sequence[str] = HEADS, binary: Sequence[str] = ("no", "yes")) -> LinearModel:
    """The fitted scikit-learn objects as plain arrays (`csqa.textmodel.linear`); a binary head's classes are
    named (no, yes) unless named above."""
    from csqa.textmodel import features as feats

    blocks = []
    for name, vec, column in fitted["features"].transformers_:
        if name == "remainder":
            continue
        terms = [None] * len(vec.vocabulary_)
        for term, j in vec.vocabulary_.items():
            terms[j] = str(term)
        from csqa.textmodel.lexicon import LexiconTagger

        lexicon = None
        if isinstance(vec.analyzer, LexiconTagger):
            kind, lexicon = LEXICON, dict(vec.analyzer.entries)
        else:
            kind = CHAR if vec.analyzer == "char" else WORD
            if kind == WORD and vec.analyzer not in (feats.word_tokens, feats.context_tokens):
                raise ValueError(f"unsupported analyzer in block {name}")
            if kind == CHAR and vec.ngram_range[1] > _CharAnalyzer.MAX_N:
                raise ValueError(f"block {name}: numpy scoring reads character n-grams of up to "
                                 f"{_CharAnalyzer.MAX_N} characters, not {vec.ngram_range[1]}")
        blocks.append(Block(name, column, kind, terms, np.asarray(vec.idf_, dtype=np.float64),
                            tuple(vec.ngram_range) if kind == CHAR else (1, 1), bool(vec.sublinear_tf), lexicon))
    out = {}
    for name in heads:
        est = fitted.get(name)
        if est is None:
            continue
        classes, coef, intercept = linear_parameters(est)
        classes = [str(c) for c in classes]
        if classes == ["0", "1"]:  # a yes/no head fitted on 0/1; a head of two named classes keeps its names
            classes = list(_BINARY_CLASSES.get(name, binary))
        out[name] = Head(name, classes, coef, intercept)
    return LinearModel(blocks, out)


# --------------------------------------------------------------------------- corpus
def read_corpus(path: Path | str) -> pd.DataFrame:
    """Read a labelled corpus CSV (text, category[, severity][, context]); raises CorpusError."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"找不到语料文件 {path} / corpus file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001 - reported as one clear line
        raise CorpusError(f"无法读取语料 {path}: {exc} / cannot read corpus") from exc
    missing = [c for c in ("text", "category") if c not in df.columns]
    if missing:
        raise CorpusError(f"语料 {path} 缺少列 {missing} (需要 text, category[, severity][, context]) / missing columns {missing}")
    bad = sorted(set(df["category"]) - set(CATEGORIES))
    if bad:
        raise CorpusError(f"语料 {path} 含未知类别 {bad}; 可用类别 {list(CATEGORIES)} / unknown categories")
    if "severity" not in df.columns:
        df["severity"] = np.where(df["category"] == "none", "none", "normal")
    bad = sorted(set(df["severity"]) - set(SEVERITIES))
    if bad:
        raise CorpusError(f"语料 {path} 含未知严重度 {bad}; 可用 {list(SEVERITIES)} / unknown severities")
    if "context" not in df.columns:
        df["context"] = ""
    df = df[df["text"].str.strip() != ""].reset_index(drop=True)
    if (df["category"] == "none").all() or (df["category"] != "none").sum() < 2:
        raise CorpusError(f"语料 {path} 需要投诉与非投诉两种文本 / need both complaints and non-complaints")
    if df.loc[df["category"] != "none", "category"].nunique() < 2:
        raise CorpusError(f"语料 {path} 的投诉至少需要两个类别 / complaints need at least two categories")
    return df


# --------------------------------------------------------------------------- metrics
def _round(x: float) -> float:
    return float(round(float(x), 4))


def score_predictions(y_true_cat, y_pred_cat, y_true_sev=None, y_pred_sev=None) -> dict:
    """The metrics reported everywhere: complaint yes/no F1, 8-way macro-F1, per-class F1, serious recall."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support, recall_score

    y_true_cat = np.asarray(y_true_cat)
    y_pred_cat = np.asarray(y_pred_cat)
    labels = [c for c in CATEGORIES if c in set(y_true_cat) | set(y_pred_cat)]
    out = {
        "n": int(len(y_true_cat)),
        "accuracy": _round(np.mean(y_true_cat == y_pred_cat)) if len(y_true_cat) else 0.0,
        "macro_f1": _round(f1_score(y_true_cat, y_pred_cat, labels=[c for c in labels if c in set(y_true_cat)],
                                    average="macro", zero_division=0)),
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
VERDICT_CACHE_SIZE = TEXTS_PER_MEMO  # see csqa.core.memo


class ComplaintClassifier:
    """A complaint classifier ready to predict (numpy only), with its card.

    ``fitted`` holds the scikit-learn objects when the model was trained in this process (the notebook
    compares and inspects them); a loaded model has only the plain arrays.
    """

    def __init__(self, model: LinearModel, settings: dict, card: dict | None = None, path: Path | None = None,
                 fitted: dict | None = None):
        self.model = model
        self.settings = settings
        self.threshold = float(settings["threshold"])
        self.serious_threshold = float(settings.get("serious_threshold", 0.5))
        self.severity_rules = bool(settings.get("severity_rules", True))
        self.card = card if card is not None else {}
        self.path = path
        self.fitted = fitted
        self._parts: dict[tuple[str, str], dict] = {}  # (field, normalized text) -> decision parts per head
        self._verdicts: dict[tuple[str, str], tuple[str, str, float, bool]] = {}

    def __repr__(self) -> str:
        return f"ComplaintClassifier(model_id={self.model_id!r}, threshold={self.threshold})"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_parts"], state["_verdicts"], state["fitted"] = {}, {}, None
        return state

    @property
    def classes(self) -> list[str]:
        return list(CATEGORIES)

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", "unsaved"))

    @property
    def sha256(self) -> str:
        return str(self.card.get("model_sha256", ""))

    # ---- probabilities -------------------------------------------------------------------------
    def _parts_of(self, field: str, norm: list[str]) -> dict[str, np.ndarray]:
        """Decision parts of distinct normalized texts of one field, remembered per text."""
        cache = self._parts
        todo = [t for t in dict.fromkeys(norm) if (field, t) not in cache]
        for start in range(0, len(todo), BATCH_SIZE):
            batch = todo[start:start + BATCH_SIZE]
            parts = self.model.block_parts(field, batch)
            for i, t in enumerate(batch):
                cache[(field, t)] = {h: v[i] for h, v in parts.items()}
        rows = [cache[(field, t)] for t in norm]
        out = {h: np.array([r[h] for r in rows]).reshape(len(rows), -1) for h in self.model.heads}
        if len(cache) > 2 * VERDICT_CACHE_SIZE:
            cache.clear()
        return out

    def _heads_proba(self, texts: Sequence[str], contexts: Sequence[str] | None):
        frame = input_frame(texts, contexts)
        norm, ctx = frame[TEXT].tolist(), frame[CONTEXT].tolist()
        t = self._parts_of(TEXT, norm)
        c = self._parts_of(CONTEXT, ctx)
        proba = {h: self.model.heads[h].probabilities(self.model.decisions(t, c, h)) for h in self.model.heads}
        return norm, proba

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
        """(classes, probabilities [n × 8]): P(none) = 1 − P(dissatisfied), P(c) = P(dissatisfied)·P(aspect = c)."""
        texts = list(texts)
        out = np.zeros((len(texts), len(CATEGORIES)))
        if not texts:
            return self.classes, out
        _, proba = self._heads_proba(texts, contexts)
        p_yes = proba["dissatisfied"][:, 1]
        out[:, 0] = 1.0 - p_yes
        aspect = self.model.heads["aspect"]
        for j, c in enumerate(aspect.classes):
            out[:, CATEGORIES.index(c)] = p_yes * proba["aspect"][:, j]
        return self.classes, out

    def _predict_lists(self, texts: Sequence[str], contexts: Sequence[str] | None):
        texts = list(texts)
        if not texts:
            return [], [], [], []
        norm, proba = self._heads_proba(texts, contexts)
        p_yes = proba["dissatisfied"][:, 1]
        aspect = np.asarray(self.model.heads["aspect"].classes)[proba["aspect"].argmax(axis=1)]
        serious = (proba["severity"][:, 1] >= self.serious_threshold) if "severity" in proba else np.zeros(len(texts), bool)
        cats, sevs, flags = [], [], []
        for i, p in enumerate(p_yes.tolist()):
            flag = p >= self.threshold
            flags.append(flag)
            if not flag:
                cats.append("none")
                sevs.append("none")
                continue
            cats.append(str(aspect[i]))
            grave = bool(serious[i]) or (self.severity_rules and serious_cues(norm[i]))
            sevs.append("serious" if grave else "normal")
        return cats, sevs, np.round(p_yes, 6).tolist(), flags

    def predict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per text: complaint_category, complaint_severity, complaint_probability, is_complaint."""
        cats, sevs, probs, flags = self._predict_lists(texts, contexts)
        return pd.DataFrame({
            "complaint_category": pd.Series(cats, dtype=object),
            "complaint_severity": pd.Series(sevs, dtype=object),
            "complaint_probability": pd.Series(probs, dtype=float),
            "is_complaint": pd.Series(flags, dtype=bool),
        })

    def verdicts(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[tuple[str, str, float, bool]]:
        """(category, severity, probability, is_complaint) per (text, context), as ``predict`` gives them;
        remembered for the last VERDICT_CACHE_SIZE distinct pairs (chats repeat their lines)."""
        texts = list(texts)
        contexts = [""] * len(texts) if contexts is None else list(contexts)
        keys = list(zip(texts, contexts))
        cache = self._verdicts
        todo = [k for k in dict.fromkeys(keys) if k not in cache]
        if not todo:
            return [cache[k] for k in keys]
        fresh = dict(zip(todo, zip(*self._predict_lists([t for t, _ in todo], [c for _, c in todo]))))
        out = [fresh[k] if k in fresh else cache[k] for k in keys]  # before the oldest are forgotten
        cache.update(fresh)
        overflow = len(cache) - VERDICT_CACHE_SIZE
        if overflow > 0:
            for key in list(islice((k for k in cache if k not in fresh), overflow)):
                del cache[key]
        return out

    def evaluate(self, texts, categories, severities=None, contexts=None) -> dict:
        pred = self.predict(texts, contexts)
        return score_predictions(list(categories), pred["complaint_category"].tolist(),
                                 None if severities is None else list(severities), pred["complaint_severity"].tolist())


# --------------------------------------------------------------------------- training
def train(corpus_path: Path | str | None = None, out_dir: Path | str | None = None, seed: int = DEFAULT_SEED,
          config: dict | None = None, cv_folds: int = 0) -> tuple[ComplaintClassifier, Path]:
    """Train on a labelled CSV and write <out_dir>/complaint_classifier.{npz,json,card.json}.

    Deterministic: the same corpus, seed, config and library versions give the same three files.
    ``cv_folds`` > 1 adds in-corpus cross-validation to the card (optimistic by construction: it is no
    measure of real text, which bench_complaints.py gives)."""
    corpus_path = Path(corpus_path) if corpus_path else default_corpus_path()
    out_dir = Path(out_dir) if out_dir else models_dir()
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    df = read_corpus(corpus_path)
    fitted = fit(df, cfg, seed)
    model = to_linear(fitted)
    settings = {k: cfg[k] for k in ("threshold", "serious_threshold", "severity_rules")}
    model_path, _ = save_model(model, settings, out_dir, MODEL_STEM)
    clf = ComplaintClassifier(model, settings, fitted=fitted)
    train_metrics = clf.evaluate(df["text"].tolist(), df["category"].tolist(), df["severity"].tolist(), df["context"].tolist())
    counts = df["category"].value_counts()
    card = write_card(model_path, {
        "id_prefix": "complaints",
        "task": "客服会话投诉识别: 是否不满 + 针对什么 + 严重度 / dissatisfied?, about what?, how serious",
        "classes": list(CATEGORIES),
        "heads": {name: head.classes for name, head in model.heads.items()},
        "settings": settings,
        "corpus": {
            "file": Path(corpus_path).name,
            "sha256": sha256_file(corpus_path),
            "rows": int(len(df)),
            "with_context": int((df["context"].str.strip() != "").sum()),
            "class_counts": {c: int(counts.get(c, 0)) for c in CATEGORIES},
            "serious_rows": int((df["severity"] == "serious").sum()),
        },
        "seed": seed,
        "config": cfg,
        "metrics": {"train": train_metrics,
                    "cross_validation": cross_validate(df, cfg, seed, cv_folds) if cv_folds and cv_folds > 1 else None},
        "real_text": "benchmarks/bench_complaints.py (real, blind-labelled texts; see corpora/complaints/DATASHEET.md)",
        "libraries": library_versions(),
        "created_by": "csqa.complaints.train",
    })
    return ComplaintClassifier(model, settings, card=card, path=model_path, fitted=fitted), model_path


def cross_validate(df: pd.DataFrame, config: dict | None = None, seed: int = DEFAULT_SEED, folds: int = 5) -> dict:
    """Stratified k-fold metrics on the corpus itself (deterministic for a seed)."""
    from sklearn.model_selection import StratifiedKFold

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    y = df["category"].to_numpy()
    folds = max(2, min(folds, int(pd.Series(y).value_counts().min())))
    pred_cat = np.empty(len(df), dtype=object)
    pred_sev = np.empty(len(df), dtype=object)
    for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        part = df.iloc[tr]
        clf = ComplaintClassifier(to_linear(fit(part, cfg, seed)), {k: cfg[k] for k in ("threshold", "serious_threshold", "severity_rules")})
        p = clf.predict(df["text"].iloc[te].tolist(), df["context"].iloc[te].tolist())
        pred_cat[te] = p["complaint_category"].to_numpy()
        pred_sev[te] = p["complaint_severity"].to_numpy()
    m = score_predictions(y, pred_cat, df["severity"].to_numpy(), pred_sev)
    m["folds"] = folds
    return m


# --------------------------------------------------------------------------- loading
def resolve_model_path(path: str | Path | None) -> Path:
    model_path = Path(path) if path is not None else default_model_path()
    if model_path.is_dir():
        model_path = model_path / MODEL_FILENAME
    return model_path


def load_classifier(path: str | Path | None = None) -> ComplaintClassifier:
    """Load a saved classifier after checking its card (None = the shipped model).

    ``path`` may be the .npz file or the folder that holds the model's three files."""
    model_path = resolve_model_path(path)
    model, settings, card = load_verified(model_path, "投诉分类模型", "csqa train")
    if "dissatisfied" not in model.heads or "aspect" not in model.heads:
        raise ModelLoadError(f"模型 {model_path} 缺少 dissatisfied / aspect 两个判断 / the dissatisfied and aspect heads are required")
    aspect = model.heads["aspect"].classes
    if not set(aspect) <= set(COMPLAINT_CATEGORIES):
        raise ModelLoadError(f"模型类别 {aspect} 不在投诉分类体系内 / aspect classes outside the taxonomy")
    return ComplaintClassifier(model, settings, card=card, path=model_path)
