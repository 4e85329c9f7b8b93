"""Complaint classifier: taxonomy, corpus, training reproducibility, safe loading, API, CLI."""
from __future__ import annotations

import csv
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from csqa.complaints import (
    CATEGORIES,
    CATEGORY_NAMES_ZH,
    CLASSES,
    SEVERITIES,
    SEVERITY_NAMES_ZH,
    ComplaintClassifier,
    ModelLoadError,
    load_classifier,
    train,
)
from csqa.complaints.cli import classify, evaluate
from csqa.complaints.cli import train as train_cmd
from csqa.complaints.model import card_path_for, default_corpus_path, default_model_path, sha256_file
from csqa.complaints.taxonomy import serious_cues
from csqa.text import normalize_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "complaints" / "complaints.csv"


@pytest.fixture(scope="module")
def shipped() -> ComplaintClassifier:
    return load_classifier()


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """A stratified slice of the shipped corpus, small enough to train in a second or two."""
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    parts = [g.head(60 if c == "none" else 30) for c, g in df.groupby("category")]
    path = tmp_path_factory.mktemp("corpus") / "small.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small_model(small_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model")
    _, path = train(small_corpus, out, seed=3, cv_folds=0)
    return path


# --------------------------------------------------------------------------- taxonomy
def test_taxonomy_codes_and_chinese_names():
    assert CATEGORIES == ("none", "product", "logistics", "service", "payment", "system", "price", "other")
    assert [CATEGORY_NAMES_ZH[c] for c in CATEGORIES] == ["非投诉", "商品质量", "物流配送", "服务态度", "支付退款", "系统故障", "价格促销", "其他"]
    assert SEVERITIES == ("none", "normal", "serious")
    assert SEVERITY_NAMES_ZH["serious"] == "重大投诉"
    for code in CATEGORIES:
        cls = CLASSES[code]
        assert cls.name_zh == CATEGORY_NAMES_ZH[code]
        assert cls.definition and len(cls.examples) >= 3


def test_taxonomy_doc_lists_every_class():
    doc = (REPO / "corpora" / "complaints" / "TAXONOMY.md").read_text(encoding="utf-8")
    for code, name in CATEGORY_NAMES_ZH.items():
        assert f"`{code}`" in doc and name in doc
    for word in ("12315", "骗子", "多次投诉"):
        assert word in doc


@pytest.mark.parametrize(
    "text",
    ["再不处理我就打12315", "你们就是骗子", "充电器冒烟差点着火", "投诉了三次还没解决", "我要起诉你们", "找媒体曝光你们"],
)
def test_serious_cues_found(text):
    assert serious_cues(normalize_text(text))


@pytest.mark.parametrize("text", ["快递太慢了", "请问这个是正品吗", "这个不是骗子吧?", "退款还没到"])
def test_serious_cues_absent(text):
    assert not serious_cues(normalize_text(text))


# --------------------------------------------------------------------------- corpus
def test_corpus_size_columns_and_classes():
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    assert list(df.columns) == ["text", "category", "severity", "source_style"]
    assert len(df) >= 4000
    assert set(df.category) == set(CATEGORIES)
    assert set(df.severity) == set(SEVERITIES)
    assert df.text.is_unique and (df.text.str.strip() != "").all()
    assert ((df.category == "none") == (df.severity == "none")).all()
    assert {"chat_short", "chat_long", "review", "weibo"} <= set(df.source_style)
    counts = df.category.value_counts()
    assert counts.min() >= 200
    # noise customers really write: masks, emoji, traditional characters
    assert df.text.str.contains(r"\[订单x\]").sum() > 50
    assert df.text.str.contains("[😡😤🙄😭👍😊]").sum() > 50
    assert df.text.str.contains("[這個們麼謝還]").sum() > 30


def test_corpus_generator_is_deterministic():
    proc = subprocess.run(
        [sys.executable, str(REPO / "corpora" / "complaints" / "build_corpus.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- training
def test_train_is_reproducible(small_corpus, tmp_path):
    a, pa = train(small_corpus, tmp_path / "a", seed=11, cv_folds=3)
    b, pb = train(small_corpus, tmp_path / "b", seed=11, cv_folds=3)
    assert a.card["metrics"] == b.card["metrics"]
    assert a.card["metrics"]["cross_validation"]["folds"] == 3
    assert sha256_file(pa) == sha256_file(pb)
    texts = ["物流三天没更新了", "请问有货吗"]
    np.testing.assert_allclose(a.predict_proba(texts)[1], b.predict_proba(texts)[1])


def test_card_contents(small_model, small_corpus):
    card = json.loads(card_path_for(small_model).read_text(encoding="utf-8"))
    assert card["model_sha256"] == sha256_file(small_model)
    assert card["corpus"]["sha256"] == sha256_file(small_corpus)
    assert card["classes"] == sorted(CATEGORIES)
    for lib in ("scikit-learn", "numpy", "joblib", "pandas", "jieba"):
        assert card["libraries"][lib]
    assert card["created"].endswith("Z")
    assert "train" in card["metrics"]


def test_shipped_card_matches_shipped_corpus():
    card = json.loads(card_path_for(default_model_path()).read_text(encoding="utf-8"))
    assert card["corpus"]["sha256"] == sha256_file(default_corpus_path())
    assert card["corpus"]["rows"] >= 4000
    assert card["metrics"]["cross_validation"]["macro_f1"] > 0.9


# --------------------------------------------------------------------------- safe loading
def test_tampered_model_is_refused(small_model, tmp_path):
    dst = tmp_path / "complaint_classifier.joblib"
    shutil.copy(small_model, dst)
    shutil.copy(card_path_for(small_model), card_path_for(dst))
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as err:
        load_classifier(dst)
    msg = str(err.value)
    assert "sha256" in msg and "篡改" in msg and "tampered" in msg


class _Trap:
    """Unpickling this object writes a marker file: proof that a file was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("unpickled",))


def test_never_unpickles_a_file_whose_hash_differs(small_model, tmp_path):
    marker = tmp_path / "marker.txt"
    dst = tmp_path / "complaint_classifier.joblib"
    with open(dst, "wb") as fh:
        pickle.dump(_Trap(str(marker)), fh)
    shutil.copy(card_path_for(small_model), card_path_for(dst))  # the card of another file
    with pytest.raises(ModelLoadError):
        load_classifier(dst)
    assert not marker.exists()


def test_missing_card_or_incompatible_versions_refused(small_model, tmp_path):
    dst = tmp_path / "complaint_classifier.joblib"
    shutil.copy(small_model, dst)
    with pytest.raises(ModelLoadError, match="说明卡"):
        load_classifier(dst)
    card = json.loads(card_path_for(small_model).read_text(encoding="utf-8"))
    card["libraries"]["scikit-learn"] = "0.24.2"
    card_path_for(dst).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="scikit-learn 0.24.2"):
        load_classifier(dst)


def test_missing_model_file_message(tmp_path):
    with pytest.raises(ModelLoadError, match="csqa train"):
        load_classifier(tmp_path / "nothing.joblib")


def test_load_from_folder(small_model):
    clf = load_classifier(small_model.parent)
    assert clf.sha256 == sha256_file(small_model)
    assert clf.model_id.startswith("complaints-")


# --------------------------------------------------------------------------- predictions
CLEAR = [
    ("你好,请问这款有没有黑色的?", "none"),
    ("麻烦帮我开一下电子发票,抬头是公司的,谢谢", "none"),
    ("收到了,质量很好,物流也快,五星好评👍", "none"),
    ("[订单x]降价了,帮我申请一下价保", "none"),
    ("好的,谢谢", "none"),
    ("刚收到的手机屏幕就有坏点,这质量也太差了", "product"),
    ("衣服洗了一次就掉色,做工很差,差评", "product"),
    ("下单一个星期了还没发货,到底什么时候发?", "logistics"),
    ("物流信息五天没更新了,是不是丢件了", "logistics"),
    ("你们客服什么态度?问两句就不耐烦,还直接不回了", "service"),
    ("退货都签收一周了,退款还没到账", "payment"),
    ("莫名其妙扣了我十块话费,我没开过这个业务", "payment"),
    ("APP一直闪退,根本没法下单", "system"),
    ("家里宽带又断网了,三天两头断", "system"),
    ("刚买完第二天就降价两百,这不是坑人吗", "price"),
    ("天天给我发垃圾短信,半夜也发,烦死了", "other"),
]


def test_predict_columns_and_types(shipped):
    df = shipped.predict([t for t, _ in CLEAR])
    assert list(df.columns) == ["complaint_category", "complaint_severity", "complaint_probability", "is_complaint"]
    assert len(df) == len(CLEAR)
    assert df.is_complaint.dtype == bool
    assert df.complaint_probability.between(0, 1).all()
    assert (df.is_complaint == (df.complaint_probability >= shipped.threshold)).all()
    assert ((df.complaint_category == "none") == ~df.is_complaint).all()
    assert ((df.complaint_severity == "none") == ~df.is_complaint).all()


def test_clear_examples(shipped):
    df = shipped.predict([t for t, _ in CLEAR])
    got = df.complaint_category.tolist()
    wrong = [(t, want, g) for (t, want), g in zip(CLEAR, got) if want != g]
    assert not wrong, wrong


def test_serious_severity(shipped):
    df = shipped.predict(
        ["退款拖了半个月,再不退我就打12315投诉你们", "你们就是骗子,卖假货", "充电宝充电的时候冒烟了,差点着火", "快递慢了一天"]
    )
    assert df.complaint_severity.tolist() == ["serious", "serious", "serious", "normal"]


def test_predict_proba_matches_predict(shipped):
    texts = [t for t, _ in CLEAR]
    classes, p = shipped.predict_proba(texts)
    assert classes == shipped.classes == sorted(CATEGORIES)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    df = shipped.predict(texts)
    np.testing.assert_allclose(df.complaint_probability, 1 - p[:, classes.index("none")], atol=1e-6)


def test_predict_edge_inputs(shipped):
    df = shipped.predict([])
    assert len(df) == 0 and "complaint_category" in df.columns
    df = shipped.predict(["", None, float("nan"), "😡😡😡", "<p>快递&nbsp;一周了还没到</p>"])
    assert len(df) == 5
    assert df.complaint_category.iloc[0] == "none"
    assert df.complaint_category.iloc[4] == "logistics"


def test_normalization_inside_predict(shipped):
    a = shipped.predict(["退款怎么还没到账?"]).complaint_probability.iloc[0]
    b = shipped.predict(["退款怎麼還沒到賬？"]).complaint_probability.iloc[0]
    assert a == pytest.approx(b, abs=1e-6)


def test_batches_give_the_same_result(shipped):
    from csqa.complaints import model as model_mod

    texts = [t for t, _ in CLEAR] * 300  # > BATCH_SIZE rows
    assert len(texts) > model_mod.BATCH_SIZE
    df = shipped.predict(texts)
    first = df.iloc[: len(CLEAR)].reset_index(drop=True)
    last = df.iloc[-len(CLEAR):].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, last)


# --------------------------------------------------------------------------- CLI
def _write(path: Path, rows, header, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_cli_classify_gb18030_with_proba(tmp_path, small_model):
    src = tmp_path / "留言.csv"
    _write(src, [[1, "快递一个星期还没到,什么情况"], [2, "请问可以开发票吗"]], ["id", "买家留言"], encoding="gb18030")
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(classify, [str(src), "--text-column", "买家留言", "-o", str(out), "--proba", "--model", str(small_model)])
    assert res.exit_code == 0, res.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert {"complaint_category", "complaint_severity", "complaint_probability"} <= set(df.columns)
    assert [c for c in df.columns if c.startswith("proba_")] == [f"proba_{c}" for c in sorted(CATEGORIES)]
    assert df["买家留言"].tolist() == ["快递一个星期还没到,什么情况", "请问可以开发票吗"]
    assert "已分类 2 条" in res.output


def test_cli_classify_xlsx(tmp_path, small_model):
    src = tmp_path / "in.xlsx"
    pd.DataFrame({"内容": ["退款还没到账", "谢谢"]}).to_excel(src, index=False)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(classify, [str(src), "--text-column", "内容", "-o", str(out), "--model", str(small_model)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 2


def test_cli_classify_errors_are_one_line(tmp_path, small_model):
    src = tmp_path / "in.csv"
    _write(src, [["hi"]], ["msg"])
    runner = CliRunner()
    res = runner.invoke(classify, [str(src), "--text-column", "text", "-o", str(tmp_path / "o.csv"), "--model", str(small_model)])
    assert res.exit_code == 1
    assert "「text」" in res.output and "msg" in res.output and "--text-column" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(classify, [str(tmp_path / "missing.csv"), "--text-column", "msg", "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 1 and "找不到输入文件" in res.output
    res = runner.invoke(classify, [str(src), "--text-column", "msg", "-o", str(tmp_path / "o.csv"), "--model", str(tmp_path / "none.joblib")])
    assert res.exit_code == 1 and "csqa train" in res.output and "Traceback" not in res.output


def test_cli_evaluate_report(tmp_path, shipped):
    src = tmp_path / "labelled.csv"
    rows = [[t, CATEGORY_NAMES_ZH[c]] for t, c in CLEAR]  # Chinese label names are accepted
    _write(src, rows, ["留言", "类别"])
    rep = tmp_path / "report"
    res = CliRunner().invoke(evaluate, [str(src), "--text-column", "留言", "--label-column", "类别", "-o", str(rep)])
    assert res.exit_code == 0, res.output
    assert "macro-F1" in res.output and "混淆矩阵" in res.output and "精确率" in res.output
    for name in ("metrics.json", "confusion_matrix.csv", "errors.csv", "report.txt"):
        assert (rep / name).exists()
    metrics = json.loads((rep / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n"] == len(CLEAR) and metrics["macro_f1"] == 1.0
    cm = pd.read_csv(rep / "confusion_matrix.csv", index_col=0, encoding="utf-8-sig")
    assert int(np.trace(cm.to_numpy())) == len(CLEAR)


def test_cli_evaluate_unknown_label(tmp_path, small_model):
    src = tmp_path / "labelled.csv"
    _write(src, [["快递慢", "物流问题"]], ["text", "category"])
    res = CliRunner().invoke(evaluate, [str(src), "--model", str(small_model)])
    assert res.exit_code == 1 and "未知类别" in res.output and "Traceback" not in res.output


def test_cli_train(tmp_path, small_corpus):
    res = CliRunner().invoke(train_cmd, ["--corpus", str(small_corpus), "-o", str(tmp_path), "--seed", "5", "--cv-folds", "0"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "complaint_classifier.joblib").exists()
    assert (tmp_path / "complaint_classifier.card.json").exists()
    assert "已训练模型" in res.output
    res = CliRunner().invoke(train_cmd, ["--corpus", str(tmp_path / "none.csv"), "-o", str(tmp_path)])
    assert res.exit_code == 1 and "找不到语料文件" in res.output


# --------------------------------------------------------------------------- benchmark labels
def test_dev_labels_hold_ids_not_text():
    path = REPO / "benchmarks" / "complaints_dev_labels.csv"
    df = pd.read_csv(path, dtype=str)
    assert list(df.columns) == ["source", "ref", "category", "severity"]
    assert 150 <= len(df) <= 400
    assert set(df.category) <= set(CATEGORIES) and set(df.severity) <= set(SEVERITIES)
    assert df.ref.str.fullmatch(r"\d+:[0-9a-f-]+").all()


def test_benchmark_resolves_labels_when_data_present():
    data = REPO.parent / "shared" / "data"
    if not (data / "stc3" / "train_data_cn.json").exists():
        pytest.skip("../shared/data not present")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_complaints

    items = bench_complaints.load_dev()
    assert len(items) >= 150 and all(i["text"] for i in items)
