"""Agent conduct beyond the phrase lists: how rude, arguing, buck-passing, bare-refusing, over-promising,
slangy, leaking or off-platform replies read, learnt from replies people wrote (corpora/conduct).

Phrase lists catch the obvious wordings; reviewers also mark what no keyword gives away:

Bad (rude, no swear word): 「插头插好了吗？遥控器电池装了吗？这些最基本的都不检查就来问」
Bad (buck_passing, no 不归我管): 「这个是驿站的问题，您跟驿站沟通吧」
Bad (over_promise): 「放心，明天肯定到」
Good (a firm, polite correction): 「您好，页面标注的是 M 码胸围 96cm，您收到的尺码和订单一致，可以为您办理换货」

A rule uses the model with a `conduct` matcher in its forbid block (`conduct: rude`, `conduct_threshold`):
a reply is flagged when the model's probability for that kind reaches the threshold; the finding's span is
the clause of the reply the model scores highest. The rule's exceptions (quoting the customer, negation)
then apply as to any other match.

The same model also says what a reply does for the customer — answer, deferral (请私信, 我们会反馈 with no
time), question or filler — for the outcome checks (csqa.checks.outcome): the ``reply`` head, learnt from
replies people wrote and labelled (corpora/conduct/replies.csv).

The model: character 1–3-gram and word TF-IDF of the reply, one logistic regression per kind and a 4-class
one for the reply's kind, stored as plain arrays (csqa.textmodel.files: nothing pickled, the card checked
first) in models/conduct_model.*. Probabilities are kept per distinct text; `prefetch` works them out for a
whole batch at once.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from csqa.core.memo import TEXTS_PER_MEMO, Memo
from csqa.core.paths import corpora_dir, models_dir
from csqa.textmodel.files import load_verified, save_model, sha256_file, write_card
from csqa.textmodel.linear import TEXT, LinearModel

KINDS = ("rude", "argue", "buck_passing", "bare_refusal", "over_promise", "privacy_leak", "off_platform", "slang")
REPLY = "reply"
HOSTILE = ("rude", "argue", "buck_passing", "over_promise", "bare_refusal")  # the head that says what a reply does: answer / deferral / question / filler
MODEL_STEM = "conduct_model"
DEFAULT_SEED = 20261207
DEFAULT_CONFIG = {"char_ngrams": [1, 3], "char_min_df": 2, "word_max_features": 60_000, "C": 4.0, "class_weight": "balanced"}
BATCH_SIZE = 4096
# clauses, to place a finding: sentence and clause punctuation, and runs of spaces (exports join messages)
_WORD_CHARS = re.compile(r"[^\W_]")  # letters, digits and Chinese characters: the words a reply is made of
_CLAUSE = re.compile(r"[^。.!！?？;；\n]+[。.!！?？;；]*|[^。.!！?？;；\n]+$")


def default_model_path() -> Path:
    return models_dir() / f"{MODEL_STEM}.npz"


def default_corpus_path() -> Path:
    return corpora_dir() / "conduct" / "conduct.csv"


def replies_path_for(corpus_path: Path) -> Path:
    """The reply-kind corpus beside a conduct corpus (replies.csv), which may be absent."""
    return Path(corpus_path).with_name("replies.csv")


class ConductModel:
    """P(kind) of agent replies for each kind, per distinct (normalized) text."""

    def __init__(self, model: LinearModel, card: dict | None = None, path: Path | None = None):
        missing = [k for k in model.heads if k not in KINDS and k != REPLY]
        if missing:
            raise ValueError(f"unknown conduct kinds {missing}")
        self.model = model
        self.kinds = tuple(k for k in model.heads if k != REPLY)
        self.reply_classes = tuple(model.heads[REPLY].classes) if REPLY in model.heads else ()
        self.card = card or {}
        self.path = path
        self._proba: dict[str, np.ndarray] = {}  # text -> P per kind (in self.kinds order)

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", "unsaved"))

    def _compute(self, texts: list[str]) -> np.ndarray:
        """(len(texts), kinds + reply classes): P of each conduct kind, then the reply head's distribution."""
        from csqa.textmodel.features import normalize_batch

        out = np.zeros((len(texts), len(self.kinds) + len(self.reply_classes)))
        for start in range(0, len(texts), BATCH_SIZE):
            batch = normalize_batch(texts[start:start + BATCH_SIZE])
            parts = self.model.block_parts(TEXT, batch)
            rows = slice(start, start + len(batch))
            for j, kind in enumerate(self.kinds):
                head = self.model.heads[kind]
                out[rows, j] = head.probabilities(parts[kind] + head.intercept)[:, 1]
            if self.reply_classes:
                head = self.model.heads[REPLY]
                out[rows, len(self.kinds):] = head.probabilities(parts[REPLY] + head.intercept)
        return out

    def prefetch(self, texts: Sequence[str]) -> None:
        """Work out the probabilities of the texts not yet known, in batches (a worker calls it per batch)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._proba]
        if not todo:
            return
        if len(self._proba) + len(todo) > TEXTS_PER_MEMO:
            self._proba.clear()
        for t, row in zip(todo, self._compute(todo)):
            self._proba[t] = row

    def _row(self, text: str) -> np.ndarray:
        row = self._proba.get(text)
        if row is None:
            self.prefetch([text])
            row = self._proba.get(text)
            if row is None:  # the memo was just emptied for room: work it out alone
                row = self._compute([text])[0]
        return row

    def hostility(self, text: str) -> float:
        """The largest probability of the hostile kinds (rude, argue, buck_passing, over_promise, bare_refusal):
        a reply far below it on all of them is one no exemplar of those kinds needs to be compared with."""
        row = self._row(text)
        return float(max(row[self.kinds.index(k)] for k in HOSTILE if k in self.kinds))

    def probability(self, text: str, kind: str) -> float:
        return float(self._row(text)[self.kinds.index(kind)])

    def probabilities(self, text: str) -> dict[str, float]:
        return dict(zip(self.kinds, self._row(text)[: len(self.kinds)].tolist()))

    def reply_kind(self, text: str) -> str:
        """answer / deferral / question / filler: the most probable kind of what the reply does."""
        if not self.reply_classes:
            raise ValueError("this conduct model has no reply head")
        return self.reply_classes[int(self._row(text)[len(self.kinds):].argmax())]

    def spans(self, text: str, kind: str, threshold: float, quoted: bool = False, allowed=(), min_chars: int = 1
              ) -> list[tuple[int, int, str]]:
        """[(start, end, clause)] of the clause scoring highest for `kind` when the reply reaches the threshold.

        With `quoted`, what the agent quotes (“…”, 「…」, 您说…) is left out before the reply is scored, and so
        is every `allowed` phrase (保证正品 is a promise policy allows): the reply is judged by its own words."""
        if kind not in self.kinds:
            return []
        own = own_words(text, quoted, allowed)
        if self._row(own)[self.kinds.index(kind)] < threshold or len(_WORD_CHARS.findall(own)) < min_chars:
            return []
        text_scored = own
        clauses = [(m.start(), m.end()) for m in _CLAUSE.finditer(text) if text_scored[m.start():m.end()].strip()]
        if len(clauses) <= 1:
            s, e = clauses[0] if clauses else (0, len(text))
            return [(s, e, text[s:e])]
        j = self.kinds.index(kind)
        scores = self._compute([text_scored[s:e] for s, e in clauses])[:, j]
        s, e = clauses[int(scores.argmax())]
        while e > s and text[e - 1].isspace():
            e -= 1
        while s < e and text[s].isspace():
            s += 1
        return [(s, e, text[s:e])]


def own_words(text: str, quoted: bool, allowed=()) -> str:
    """`text` with quoted speech and allowed phrases blanked out (same length, so offsets hold); `text`
    itself when there is nothing to blank. Kept per (text, quoted, allowed): every conduct rule asks."""
    return _OWN_WORDS((text, quoted, tuple(allowed)))


def _own_words(key: tuple[str, bool, tuple]) -> str:
    from csqa.checks.negation import quoted_spans

    text, quoted, allowed = key
    blanks: list[tuple[int, int]] = list(quoted_spans(text)) if quoted else []
    for phrase in allowed:
        start = text.find(phrase)
        while start >= 0:
            blanks.append((start, start + len(phrase)))
            start = text.find(phrase, start + 1)
    if not blanks:
        return text
    chars = list(text)
    for s, e in blanks:
        chars[s:e] = " " * (e - s)
    return "".join(chars)


# one key per text and way of blanking (each conduct rule's quoted/allowed): several per text, so room for
# a batch's texts under each (at TEXTS_PER_MEMO, 6000 chats emptied it 4 times: 89k misses for 45k keys)
_OWN_WORDS = Memo(_own_words, size=8 * TEXTS_PER_MEMO)


_DEFAULT: ConductModel | None = None


def default_model() -> ConductModel:
    """The shipped conduct model, loaded once per process (after its card is checked)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_conduct_model()
    return _DEFAULT


def load_conduct_model(path: str | Path | None = None) -> ConductModel:
    model_path = Path(path) if path is not None else default_model_path()
    if model_path.is_dir():
        model_path = model_path / f"{MODEL_STEM}.npz"
    model, _, card = load_verified(model_path, "言行模型", "csqa train --kind conduct")  # (--no-model: none needed)
    return ConductModel(model, card, model_path)


# --------------------------------------------------------------------------- training (scikit-learn)
def read_corpus(path: Path):
    import pandas as pd

    from csqa.textmodel.errors import CorpusError

    path = Path(path)
    if not path.exists():
        raise CorpusError(f"找不到语料文件 {path} / corpus file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in ("agent", "kinds") if c not in df.columns]
    if missing:
        raise CorpusError(f"语料 {path} 缺少列 {missing} (需要 agent, kinds) / missing columns {missing}")
    bad = sorted({k for v in df["kinds"] for k in filter(None, v.split(";"))} - set(KINDS))
    if bad:
        raise CorpusError(f"语料 {path} 含未知类型 {bad}; 可用 {list(KINDS)} / unknown kinds")
    return df[df["agent"].str.strip() != ""].reset_index(drop=True)


def fit(df, config: dict | None = None, seed: int = DEFAULT_SEED, replies=None) -> dict:
    """{"features": ColumnTransformer, kind: LogisticRegression …, "reply": …}: the scikit-learn reference.

    The features are fitted on the conduct replies and the reply-kind replies together; each head on its own
    rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from csqa.complaints.model import input_frame
    from csqa.textmodel import features

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    vectorizers = ColumnTransformer([
        ("char", TfidfVectorizer(analyzer="char", ngram_range=tuple(cfg["char_ngrams"]), min_df=cfg["char_min_df"],
                                 sublinear_tf=True, lowercase=True), TEXT),
        ("word", TfidfVectorizer(analyzer=features.word_tokens, max_features=cfg["word_max_features"], sublinear_tf=True), TEXT),
    ], sparse_threshold=1.0)
    texts = df["agent"].tolist() + ([] if replies is None else replies["agent"].tolist())
    x_all = vectorizers.fit_transform(input_frame(texts))
    x = x_all[: len(df)]
    fitted = {"features": vectorizers}
    if replies is not None and len(replies):
        fitted[REPLY] = LogisticRegression(C=cfg["C"], class_weight=cfg["class_weight"], max_iter=3000,
                                           random_state=seed).fit(x_all[len(df):], replies["reply"].to_numpy())
    kinds = df["kinds"].str.split(";")
    for kind in KINDS:
        y = kinds.apply(lambda v, k=kind: k in v).astype(int).to_numpy()
        if 5 <= y.sum() <= len(y) - 5:
            fitted[kind] = LogisticRegression(C=cfg["C"], class_weight=cfg["class_weight"], max_iter=3000,
                                              random_state=seed).fit(x, y)
    return fitted


def to_linear(fitted: dict) -> LinearModel:
    from csqa.complaints.model import to_linear as complaints_to_linear

    return complaints_to_linear(fitted, heads=tuple(k for k in (*KINDS, REPLY) if k in fitted), binary=("no", "yes"))


def train(corpus_path: Path | str | None = None, out_dir: Path | str | None = None, seed: int = DEFAULT_SEED,
          config: dict | None = None) -> tuple[ConductModel, Path]:
    """Train on a conduct corpus and write <out_dir>/conduct_model.{npz,json,card.json}, bit for bit the same
    for the same corpus, seed and library versions."""
    from csqa.complaints.model import library_versions

    corpus_path = Path(corpus_path) if corpus_path else default_corpus_path()
    out_dir = Path(out_dir) if out_dir else models_dir()
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    df = read_corpus(corpus_path)
    replies_path = replies_path_for(corpus_path)
    replies = None
    if replies_path.exists():
        import pandas as pd

        replies = pd.read_csv(replies_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    model = to_linear(fit(df, cfg, seed, replies))
    model_path, _ = save_model(model, {}, out_dir, MODEL_STEM)
    kinds = df["kinds"].str.split(";")
    card = write_card(model_path, {
        "id_prefix": "conduct",
        "task": "客服言行: 每类违规的概率 / agent conduct: probability of each kind",
        "heads": list(model.heads),
        "corpus": {"file": corpus_path.name, "sha256": sha256_file(corpus_path), "rows": int(len(df)),
                   "kind_counts": {k: int(kinds.apply(lambda v, k=k: k in v).sum()) for k in KINDS}},
        "replies": None if replies is None else {
            "file": replies_path.name, "sha256": sha256_file(replies_path), "rows": int(len(replies)),
            "counts": {k: int(v) for k, v in replies["reply"].value_counts().sort_index().items()}},
        "seed": seed,
        "config": cfg,
        "real_text": "benchmarks/bench_rules.py (written agent replies, blind-labelled; see corpora/conduct/DATASHEET.md)",
        "libraries": library_versions(),
        "created_by": "csqa.checks.conduct_model.train",
    })
    return ConductModel(model, card, model_path), model_path
