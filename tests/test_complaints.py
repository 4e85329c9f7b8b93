"""Complaint classifier: taxonomy, the written corpus, training reproducibility, a model file that cannot run code,
numpy scoring equal to the scikit-learn reference, the chat context, API and CLI."""
from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
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
from csqa.cli.models import classify, evaluate
from csqa.cli.models import train as train_cmd
from csqa.complaints.model import (
    card_path_for,
    default_corpus_path,
    default_model_path,
    input_frame,
    meta_path_for,
    sha256_file,
)
from csqa.complaints.taxonomy import serious_cues
from csqa.text import normalize_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "complaints" / "complaints.csv"
MODEL_FILES = ("complaint_classifier.npz", "complaint_classifier.json", "complaint_classifier.card.json")


@pytest.fixture(scope="module")
def shipped() -> ComplaintClassifier:
    return load_classifier()


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """A stratified slice of the shipped corpus, small enough to train in a second or two."""
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    parts = [g.head(80 if c == "none" else 40) for c, g in df.groupby("category")]
    path = tmp_path_factory.mktemp("corpus") / "small.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small(small_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    clf, path = train(small_corpus, out, seed=3)
    return clf, path


@pytest.fixture(scope="module")
def small_model(small) -> Path:
    return small[1]


def _copy_model(model_path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(model_path.parent / name, folder / name)
    return folder / MODEL_FILES[0]


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
def test_corpus_is_written_text_with_its_context():
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    assert list(df.columns) == ["text", "context", "category", "severity", "style", "domain", "family", "writer"]
    assert len(df) >= 8000
    assert set(df.category) == set(CATEGORIES) and set(df.severity) == set(SEVERITIES)
    assert (df.text.str.strip() != "").all() and not df.duplicated(["text", "context"]).any()
    assert ((df.category == "none") == (df.severity == "none")).all()
    assert set(df["style"]) == {"chat", "review", "weibo"}
    chats = df[df["style"] == "chat"]
    assert (chats.context != "").mean() > 0.3 and (df[df["style"] != "chat"].context == "").all()
    # the families the real-text errors came from are there on purpose
    for family in ("aspect_praise", "acknowledgement", "question", "statement", "complaint_implicit", "complaint_mild",
                   "complaint_sarcastic", "complaint_calm_report", "complaint_multi"):
        assert (df.family == family).sum() >= 50, family
    assert df.category.value_counts().min() >= 250
    # no template generator any more: the corpus is assembled from the writers' files
    assert not (REPO / "corpora" / "complaints" / "build_corpus.py").exists()


def test_datasheet_reports_the_corpus_as_it_is():
    sheet = (REPO / "corpora" / "complaints" / "DATASHEET.md").read_text(encoding="utf-8")
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    assert f"{len(df):,}" in sheet or str(len(df)) in sheet
    for word in ("near-duplicate", "5-gram", "vocabulary", "length", "real"):
        assert word in sheet


# --------------------------------------------------------------------------- training
def test_train_is_reproducible_bit_for_bit(small_corpus, tmp_path):
    train(small_corpus, tmp_path / "a", seed=11)
    train(small_corpus, tmp_path / "b", seed=11)
    for name in MODEL_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_shipped_model_is_what_csqa_train_writes(tmp_path):
    """`csqa train` with the defaults reproduces the shipped model and its card, bit for bit."""
    res = CliRunner().invoke(train_cmd, ["-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in MODEL_FILES:
        assert (tmp_path / name).read_bytes() == (default_model_path().parent / name).read_bytes(), name


def test_card_contents(small, small_corpus):
    clf, path = small
    card = json.loads(card_path_for(path).read_text(encoding="utf-8"))
    assert card["model_sha256"] == sha256_file(path)
    assert card["meta_sha256"] == sha256_file(meta_path_for(path))
    assert card["corpus"]["sha256"] == sha256_file(small_corpus)
    assert card["classes"] == list(CATEGORIES)
    assert set(card["heads"]) >= {"dissatisfied", "aspect"}
    for lib in ("scikit-learn", "numpy", "pandas", "jieba"):
        assert card["libraries"][lib]
    assert "train" in card["metrics"] and card["settings"]["threshold"] == clf.threshold
    assert "created" not in card  # no clock in the card: the same training writes the same card


def test_shipped_card_matches_shipped_corpus():
    card = json.loads(card_path_for(default_model_path()).read_text(encoding="utf-8"))
    assert card["corpus"]["sha256"] == sha256_file(default_corpus_path())
    assert card["corpus"]["rows"] >= 8000


# --------------------------------------------------------------------------- numpy scoring = the scikit-learn reference
def test_numpy_probabilities_equal_the_scikit_learn_pipelines(small):
    clf, _ = small
    fitted = clf.fitted
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False).sample(400, random_state=1)
    texts = df.text.tolist() + [t for t, _ in CLEAR] + ["", " ", "好的", "太差了" * 200, "這個東西還沒發貨嗎"]
    contexts = df.context.tolist() + [""] * (len(texts) - len(df))
    contexts[-1] = "请问还有其他问题吗"
    x = fitted["features"].transform(input_frame(texts, contexts))
    for head in ("dissatisfied", "aspect", "severity"):
        if fitted.get(head) is None:
            continue
        want = fitted[head].predict_proba(x)
        got = clf.model.predict_proba(head, input_frame(texts, contexts)["text"].tolist(),
                                      input_frame(texts, contexts)["context"].tolist())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=head)


def test_the_context_is_part_of_the_judgement(shipped):
    """The agent turn before a message moves the decision; each part is remembered per distinct text."""
    plain = shipped.predict(["没有了"]).complaint_probability.iloc[0]
    after_closing = shipped.predict(["没有了"], ["请问还有其他可以帮到您的吗?"]).complaint_probability.iloc[0]
    after_question = shipped.predict(["没有了"], ["快递到了吗? 包裹里的配件都在吗?"]).complaint_probability.iloc[0]
    assert len({round(plain, 6), round(after_closing, 6), round(after_question, 6)}) == 3
    assert after_closing < 0.5


def test_scoring_load_never_imports_sklearn():
    code = ("import sys; from csqa.complaints import load_classifier; c = load_classifier(); "
            "c.predict(['快递太慢了'], ['请问有什么可以帮您']); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("False")


def test_verdict_cache_gives_the_same_answers(shipped):
    texts = [t for t, _ in CLEAR] * 3
    contexts = (["", "请问还有其他问题吗"] * len(texts))[: len(texts)]
    fresh = ComplaintClassifier(shipped.model, shipped.settings, card=shipped.card)
    want = fresh.predict(texts, contexts)
    got = shipped.verdicts(texts, contexts)
    got_again = shipped.verdicts(texts, contexts)
    assert got == got_again
    assert [g[0] for g in got] == want.complaint_category.tolist()
    np.testing.assert_allclose([g[2] for g in got], want.complaint_probability)


def test_verdicts_survive_the_memo_forgetting_its_oldest(shipped, monkeypatch):
    """A batch that pushes the memo past its size still answers every text it asked about (a cached text
    forgotten to make room was once a KeyError)."""
    from csqa.complaints import model as model_mod

    monkeypatch.setattr(model_mod, "VERDICT_CACHE_SIZE", 5)
    clf = ComplaintClassifier(shipped.model, shipped.settings)
    first = [f"在吗{i}" for i in range(4)]
    clf.verdicts(first)
    batch = first + [f"快递{i}天了还没到" for i in range(6)]
    got = clf.verdicts(batch)
    assert [g[0] for g in got] == clf.predict(batch).complaint_category.tolist()


# --------------------------------------------------------------------------- safe loading
def test_tampered_model_or_meta_is_refused(small_model, tmp_path):
    for target in ("complaint_classifier.npz", "complaint_classifier.json"):
        dst = _copy_model(small_model, tmp_path / target)
        path = dst.parent / target
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(ModelLoadError) as err:
            load_classifier(dst)
        msg = str(err.value)
        assert "sha256" in msg and "篡改" in msg and "tampered" in msg


class _Trap:
    """Unpickling this object writes a marker file: proof that something was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("unpickled",))


def test_a_crafted_pickle_with_a_matching_card_never_runs(small_model, tmp_path):
    """The card proves a file is the one it describes, not that it is safe: the loader reads only
    arrays without pickles and JSON, so a pickled object in the .npz fails to load and runs nothing."""
    marker = tmp_path / "marker.txt"
    dst = _copy_model(small_model, tmp_path / "evil")
    with zipfile.ZipFile(dst, "a") as zf:  # an object array holding the trap, pickled by numpy
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([_Trap(str(marker))], dtype=object), allow_pickle=True)
        zf.writestr("idf_0.npy", buf.getvalue())
    card_path = card_path_for(dst)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["model_sha256"] = sha256_file(dst)  # an attacker recomputes the card
    card_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError):
        load_classifier(dst)
    assert not marker.exists()
    # a plain pickle named like the model is refused the same way
    dst.write_bytes(pickle.dumps(_Trap(str(marker))))
    card["model_sha256"] = sha256_file(dst)
    card_path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError):
        load_classifier(dst)
    assert not marker.exists()


def test_missing_card_meta_or_incompatible_numpy_refused(small_model, tmp_path):
    dst = _copy_model(small_model, tmp_path / "m")
    card_path_for(dst).unlink()
    with pytest.raises(ModelLoadError, match="card"):
        load_classifier(dst)
    dst = _copy_model(small_model, tmp_path / "n")
    meta_path_for(dst).unlink()
    with pytest.raises(ModelLoadError, match="complaint_classifier.json"):
        load_classifier(dst)
    dst = _copy_model(small_model, tmp_path / "o")
    card = json.loads(card_path_for(dst).read_text(encoding="utf-8"))
    card["libraries"]["numpy"] = "1.26.4"
    card_path_for(dst).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="numpy 1.26.4"):
        load_classifier(dst)


def test_missing_model_file_message(tmp_path):
    with pytest.raises(ModelLoadError, match="csqa train"):
        load_classifier(tmp_path / "nothing.npz")
    with pytest.raises(ModelLoadError, match="不是 csqa 模型文件"):
        load_classifier(tmp_path / "old_model.joblib")


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
    wrong = [(t, want, g) for (t, want), g in zip(CLEAR, df.complaint_category) if want != g]
    assert len(wrong) <= 2, wrong  # plain cases, but the model is judged on real text (bench_complaints.py)


def test_serious_severity(shipped):
    df = shipped.predict(["退款拖了半个月,再不退我就打12315投诉你们", "你们就是骗子,卖假货", "充电宝充电的时候冒烟了,差点着火",
                          "快递慢了一天,有点着急"])
    assert df.complaint_severity.tolist()[:3] == ["serious", "serious", "serious"]
    assert df.complaint_severity.iloc[3] in ("normal", "none")


def test_predict_proba_matches_predict(shipped):
    texts = [t for t, _ in CLEAR]
    classes, p = shipped.predict_proba(texts)
    assert classes == shipped.classes == list(CATEGORIES)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    df = shipped.predict(texts)
    np.testing.assert_allclose(df.complaint_probability, 1 - p[:, 0], atol=1e-6)
    best = np.asarray(classes)[1:][p[:, 1:].argmax(axis=1)]
    assert [c if f else "none" for c, f in zip(best, df.is_complaint)] == df.complaint_category.tolist()


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
    # a Weibo @handle is addressing, not content
    c = shipped.predict(["@某某客服 退款怎么还没到账?"]).complaint_probability.iloc[0]
    assert c == pytest.approx(a, abs=1e-6)


def test_batches_give_the_same_result(shipped):
    from csqa.complaints import model as model_mod

    texts = [t + str(i) for i, (t, _) in enumerate(CLEAR * 300)]  # > BATCH_SIZE distinct texts
    assert len(set(texts)) > model_mod.BATCH_SIZE
    fresh = ComplaintClassifier(shipped.model, shipped.settings)
    whole = fresh.predict(texts)
    pieces = pd.concat([ComplaintClassifier(shipped.model, shipped.settings).predict(texts[i:i + 700])
                        for i in range(0, len(texts), 700)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, pieces)


# --------------------------------------------------------------------------- CLI
def _write(path: Path, rows, header, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_cli_classify_gb18030_with_proba_and_context(tmp_path, small_model):
    src = tmp_path / "留言.csv"
    _write(src, [[1, "快递一个星期还没到,什么情况", ""], [2, "没有了", "请问还有其他问题吗"]], ["id", "买家留言", "客服上一句"],
           encoding="gb18030")
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(classify, [str(src), "--text-column", "买家留言", "--context-column", "客服上一句", "-o", str(out),
                                        "--proba", "--model", str(small_model)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert {"complaint_category", "complaint_severity", "complaint_probability"} <= set(df.columns)
    assert [c for c in df.columns if c.startswith("proba_")] == [f"proba_{c}" for c in CATEGORIES]
    assert df["买家留言"].tolist() == ["快递一个星期还没到,什么情况", "没有了"]
    assert "已分类 2 条" in res.output
    clf = load_classifier(small_model)
    want = clf.predict(["快递一个星期还没到,什么情况", "没有了"], ["", "请问还有其他问题吗"])
    np.testing.assert_allclose(df.complaint_probability, want.complaint_probability.round(4))


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
    res = runner.invoke(classify, [str(src), "--text-column", "msg", "--context-column", "ctx", "-o", str(tmp_path / "o.csv"),
                                   "--model", str(small_model)])
    assert res.exit_code == 1 and "--context-column" in res.output
    res = runner.invoke(classify, [str(tmp_path / "missing.csv"), "--text-column", "msg", "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 1 and "找不到输入文件" in res.output
    res = runner.invoke(classify, [str(src), "--text-column", "msg", "-o", str(tmp_path / "o.csv"), "--model",
                                   str(tmp_path / "none.npz")])
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
    pred = shipped.predict([t for t, _ in CLEAR])
    assert metrics["n"] == len(CLEAR)
    assert metrics["accuracy"] == pytest.approx(np.mean(pred.complaint_category == [c for _, c in CLEAR]), abs=1e-4)
    cm = pd.read_csv(rep / "confusion_matrix.csv", index_col=0, encoding="utf-8-sig")
    assert int(cm.to_numpy().sum()) == len(CLEAR)


def test_cli_evaluate_unknown_label(tmp_path, small_model):
    src = tmp_path / "labelled.csv"
    _write(src, [["快递慢", "物流问题"]], ["text", "category"])
    res = CliRunner().invoke(evaluate, [str(src), "--model", str(small_model)])
    assert res.exit_code == 1 and "未知类别" in res.output and "Traceback" not in res.output


def test_cli_train(tmp_path, small_corpus):
    res = CliRunner().invoke(train_cmd, ["--corpus", str(small_corpus), "-o", str(tmp_path), "--seed", "5"])
    assert res.exit_code == 0, res.output
    for name in MODEL_FILES:
        assert (tmp_path / name).exists()
    assert "已训练模型" in res.output
    res = CliRunner().invoke(train_cmd, ["--corpus", str(tmp_path / "none.csv"), "-o", str(tmp_path)])
    assert res.exit_code == 1 and "找不到语料文件" in res.output


# --------------------------------------------------------------------------- development labels
def test_dev_labels_hold_ids_not_text():
    texts = pd.read_csv(REPO / "benchmarks" / "devset" / "text_labels.csv", dtype=str, keep_default_na=False)
    assert list(texts.columns) == ["id", "category", "severity", "split", "disagreements", "pending"]
    assert len(texts) == 700 and set(texts.category) <= set(CATEGORIES) and set(texts.severity) <= set(SEVERITIES)
    assert texts.id.str.fullmatch(r"(jd:[0-9a-f-]+:\d+|stc3:\d+|shop:\d+|waimai:\d+)").all()
    assert (texts.pending == "0").all()  # every disagreement adjudicated
    chats = pd.read_csv(REPO / "benchmarks" / "devset" / "chat_labels.csv", dtype=str, keep_default_na=False)
    assert len(chats) == 400 and chats.id.str.fullmatch(r"[0-9a-f-]+").all() and (chats.pending == "0").all()
    assert chats.violations.str.fullmatch(r"(\d+:[a-z_]+(;\d+:[a-z_]+)*)?").all()  # turn and kind, no quoted text
    assert set(chats.split) == set(texts.split) == {"tune", "test"}


def test_benchmark_reads_real_texts_when_data_present():
    data = REPO.parent / "shared" / "data"
    if not (data / "stc3" / "train_data_cn.json").exists():
        pytest.skip("../shared/data not present")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_complaints

    items = bench_complaints.text_items("tune")
    assert len(items) > 300 and (items.text.str.strip() != "").all()
    assert set(items.source) == {"jd_chat", "weibo", "review"}
    assert (items[items.source == "jd_chat"].context != "").mean() > 0.8
