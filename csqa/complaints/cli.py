"""Click commands for the complaint classifier: ``train``, ``classify``, ``evaluate``.

The main CLI group adds them with ``cli.add_command(train)`` etc. Every failure the user
can fix (missing file, missing column, bad model) ends as one clear line naming the file
or column and what to do, never a traceback.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from csqa.complaints.errors import ComplaintModelError
from csqa.complaints.taxonomy import CATEGORIES, CATEGORY_NAMES_ZH, SEVERITIES, SEVERITY_NAMES_ZH

_ZH_TO_CODE = {v: k for k, v in CATEGORY_NAMES_ZH.items()}
_ZH_TO_CODE.update({"产品质量": "product", "物流": "logistics", "支付/退款": "payment", "无": "none", "否": "none"})
_SEV_ZH_TO_CODE = {v: k for k, v in SEVERITY_NAMES_ZH.items()}
_SEV_ZH_TO_CODE.update({"一般": "normal", "重大": "serious", "严重": "serious"})


# --------------------------------------------------------------------------- reading tables
def read_table(path: Path) -> pd.DataFrame:
    """Read CSV/TSV/XLSX as strings; CSV encoding is detected (UTF-8 with/without BOM, GB18030)."""
    path = Path(path)
    if not path.exists():
        raise click.ClickException(f"找不到输入文件 {path},请检查路径。 / input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise click.ClickException(f"无法读取 Excel 文件 {path}: {exc} / cannot read the Excel file") from None
    raw = path.read_bytes()
    text = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise click.ClickException(f"无法识别 {path} 的编码 (支持 UTF-8 / GB18030),请另存为 UTF-8。 / unknown encoding, save the file as UTF-8")
    sep = "\t" if suffix == ".tsv" or (suffix != ".csv" and "\t" in text.split("\n", 1)[0]) else ","
    import io

    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"无法解析 CSV 文件 {path}: {exc} / cannot parse the CSV file") from None


def _require_column(df: pd.DataFrame, col: str, path: Path, option: str) -> None:
    if col not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise click.ClickException(f"文件 {path} 中没有列「{col}」;现有列: {cols}。请用 {option} 指定正确的列名。 / column {col!r} not found in {path}")


def _load_model(model: str | None):
    from csqa.complaints.model import load_classifier

    try:
        return load_classifier(model)
    except ComplaintModelError as exc:
        raise click.ClickException(str(exc)) from None


def _to_code(value: str, mapping: dict[str, str], allowed) -> str:
    v = str(value).strip()
    if v in allowed:
        return v
    if v.lower() in allowed:
        return v.lower()
    return mapping.get(v, v)


# --------------------------------------------------------------------------- train
@click.command("train")
@click.option("--corpus", type=click.Path(dir_okay=False, path_type=Path), default=None, help="带标注的语料 CSV (text,category[,severity]);默认 corpora/complaints/complaints.csv")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="模型输出目录;默认 models/")
@click.option("--seed", type=int, default=None, help="随机种子 (默认 20261123)")
@click.option("--cv-folds", type=int, default=0, show_default=True, help="语料内交叉验证折数 (0 = 不做;只说明语料自洽,不代表真实文本上的表现)")
@click.option("--kind", type=click.Choice(["complaints", "conduct"]), default="complaints", show_default=True,
              help="complaints: 投诉分类模型 (corpora/complaints); conduct: 客服言行与答复类型模型 (corpora/conduct)")
def train(corpus: Path | None, out_dir: Path | None, seed: int | None, cv_folds: int, kind: str) -> None:
    """训练模型 (默认投诉分类) / train a model (the complaint classifier by default) and write its model card."""
    from csqa.complaints.model import DEFAULT_SEED, card_path_for
    from csqa.complaints.model import train as train_model

    started = time.perf_counter()
    if kind == "conduct":
        from csqa.checks import conduct_model as conduct

        try:
            model, path = conduct.train(corpus, out_dir, conduct.DEFAULT_SEED if seed is None else seed)
        except ComplaintModelError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"已训练言行模型 / trained: {path}  ({time.perf_counter() - started:.1f} 秒)")
        click.echo(f"语料 / corpus: {model.card['corpus']['file']}, {model.card['corpus']['rows']} 条; "
                   f"答复类型 / replies: {(model.card.get('replies') or {}).get('rows', 0)} 条")
        click.echo(f"模型编号 / model_id: {model.model_id}")
        return
    try:
        clf, path = train_model(corpus, out_dir, DEFAULT_SEED if seed is None else seed, cv_folds=cv_folds)
    except ComplaintModelError as exc:
        raise click.ClickException(str(exc)) from None
    card = clf.card
    click.echo(f"已训练模型 / trained: {path}  ({time.perf_counter() - started:.1f} 秒)")
    click.echo(f"说明卡 / card: {card_path_for(path)}")
    click.echo(f"语料 / corpus: {card['corpus']['file']}, {card['corpus']['rows']} 条, sha256 {card['corpus']['sha256'][:12]}…")
    cv = (card.get("metrics") or {}).get("cross_validation")
    if cv:
        click.echo(
            f"交叉验证 ({cv['folds']} 折): 投诉识别 F1 {cv['complaint_f1']:.3f}, 8类 macro-F1 {cv['macro_f1']:.3f}, "
            f"重大投诉召回 {cv.get('serious_recall') if cv.get('serious_recall') is not None else 'n/a'}"
        )
    click.echo(f"模型编号 / model_id: {clf.model_id}")


# --------------------------------------------------------------------------- classify
@click.command("classify")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--text-column", required=True, help="文本所在的列名 / column holding the customer text")
@click.option("--context-column", default=None, help="客服上一句所在的列名 (聊天消息的上下文,可选) / the agent turn before each text")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出 CSV (UTF-8 BOM,Excel 可直接打开)")
@click.option("--proba", is_flag=True, help="另外输出每个类别的概率列 proba_<类别>")
@click.option("--model", type=click.Path(path_type=Path), default=None, help="模型文件或目录;默认使用 models/ 中的模型")
def classify(input_path: Path, text_column: str, context_column: str | None, out_path: Path, proba: bool,
             model: Path | None) -> None:
    """给 CSV/XLSX 中的每条文本判定是否投诉、类别与严重度 / classify each text of a table."""
    df = read_table(input_path)
    _require_column(df, text_column, input_path, "--text-column")
    contexts = None
    if context_column is not None:
        _require_column(df, context_column, input_path, "--context-column")
        contexts = df[context_column].fillna("").astype(str).tolist()
    clf = _load_model(model)
    texts = df[text_column].fillna("").astype(str).tolist()
    started = time.perf_counter()
    pred = clf.predict(texts, contexts)
    out = df.copy()
    out["complaint_category"] = pred["complaint_category"].to_numpy()
    out["complaint_category_zh"] = [CATEGORY_NAMES_ZH[c] for c in pred["complaint_category"]]
    out["complaint_severity"] = pred["complaint_severity"].to_numpy()
    out["complaint_probability"] = pred["complaint_probability"].round(4).to_numpy()
    if proba:
        classes, p = clf.predict_proba(texts, contexts)
        for j, c in enumerate(classes):
            out[f"proba_{c}"] = np.round(p[:, j], 4)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        from csqa.report.safety import safe_frame

        safe_frame(out).to_csv(out_path, index=False, encoding="utf-8-sig")  # (no formula from the texts)
    except OSError as exc:
        raise click.ClickException(f"无法写入 {out_path}: {exc.strerror} / cannot write the output file") from None
    n_c = int(pred["is_complaint"].sum())
    secs = time.perf_counter() - started
    click.echo(f"已分类 {len(texts)} 条,其中投诉 {n_c} 条 ({n_c / max(len(texts), 1):.1%}),重大投诉 {int((pred['complaint_severity'] == 'serious').sum())} 条;用时 {secs:.1f} 秒")
    counts = pred.loc[pred["is_complaint"], "complaint_category"].value_counts()
    if len(counts):
        click.echo("类别分布: " + ", ".join(f"{CATEGORY_NAMES_ZH[k]} {v}" for k, v in counts.items()))
    click.echo(f"结果已写入 / written: {out_path}")


# --------------------------------------------------------------------------- evaluate
@click.command("evaluate")
@click.argument("labelled", metavar="LABELLED", type=click.Path(path_type=Path))
@click.option("--text-column", default="text", show_default=True, help="文本列")
@click.option("--label-column", default="category", show_default=True, help="类别标注列 (英文代码或中文名)")
@click.option("--severity-column", default="severity", show_default=True, help="严重度标注列 (没有该列则跳过严重度)")
@click.option("--context-column", default=None, help="客服上一句所在的列名 (可选) / the agent turn before each text")
@click.option("--model", type=click.Path(path_type=Path), default=None, help="模型文件或目录;默认 models/ 中的模型")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="报告目录 (metrics.json, confusion_matrix.csv, errors.csv, report.txt)")
@click.option("--errors", "n_errors", type=int, default=15, show_default=True, help="显示最严重的错误条数")
def evaluate(labelled: Path, text_column: str, label_column: str, severity_column: str, context_column: str | None,
             model: Path | None, out_dir: Path | None, n_errors: int) -> None:
    """用带标注的文件评估模型 / evaluate the model on a labelled table."""
    from csqa.complaints.model import score_predictions

    df = read_table(labelled)
    _require_column(df, text_column, labelled, "--text-column")
    _require_column(df, label_column, labelled, "--label-column")
    gold = [_to_code(v, _ZH_TO_CODE, CATEGORIES) for v in df[label_column]]
    bad = sorted({g for g in gold if g not in CATEGORIES})
    if bad:
        raise click.ClickException(
            f"文件 {labelled} 的列「{label_column}」含未知类别 {bad[:5]};可用: {', '.join(CATEGORIES)} 或中文 {', '.join(CATEGORY_NAMES_ZH.values())} / unknown labels"
        )
    gold_sev = None
    if severity_column in df.columns:
        gold_sev = [_to_code(v, _SEV_ZH_TO_CODE, SEVERITIES) for v in df[severity_column]]
        bad = sorted({g for g in gold_sev if g not in SEVERITIES})
        if bad:
            raise click.ClickException(f"文件 {labelled} 的列「{severity_column}」含未知严重度 {bad[:5]};可用: {', '.join(SEVERITIES)} / unknown severities")
    contexts = None
    if context_column is not None:
        _require_column(df, context_column, labelled, "--context-column")
        contexts = df[context_column].fillna("").astype(str).tolist()
    clf = _load_model(model)
    texts = df[text_column].fillna("").astype(str).tolist()
    pred = clf.predict(texts, contexts)
    pc = pred["complaint_category"].tolist()
    ps = pred["complaint_severity"].tolist()
    m = score_predictions(gold, pc, gold_sev, ps if gold_sev is not None else None)
    labels = [c for c in CATEGORIES if c in set(gold) | set(pc)]
    cm = pd.crosstab(pd.Categorical(gold, categories=labels), pd.Categorical(pc, categories=labels), dropna=False)
    cm.index = [f"{CATEGORY_NAMES_ZH[c]}({c})" for c in labels]
    cm.columns = [f"{CATEGORY_NAMES_ZH[c]}({c})" for c in labels]
    cm.index.name = "标注\\预测"

    lines = [f"模型 {clf.model_id} 在 {labelled} 上的评估 ({m['n']} 条)"]
    lines.append(f"准确率 accuracy {m['accuracy']:.3f};8类 macro-F1 {m['macro_f1']:.3f};投诉识别 (是/否) F1 {m['complaint_f1']:.3f}")
    if gold_sev is not None:
        sr = m.get("serious_recall")
        sp = m.get("serious_precision")
        lines.append(f"重大投诉 召回 {'n/a' if sr is None else f'{sr:.3f}'},精确率 {'n/a' if sp is None else f'{sp:.3f}'}")
    lines.append("")
    lines.append(f"{'类别':<10}{'精确率':>8}{'召回率':>8}{'F1':>8}{'条数':>8}")
    for lab, v in m["per_class"].items():
        lines.append(f"{CATEGORY_NAMES_ZH[lab] + '(' + lab + ')':<16}{v['precision']:>8.3f}{v['recall']:>8.3f}{v['f1']:>8.3f}{v['support']:>8d}")
    lines.append("")
    lines.append("混淆矩阵 (行 = 标注, 列 = 预测):")
    lines.append(cm.to_string())
    proba = pred["complaint_probability"].to_numpy()
    wrong_idx = [i for i in range(len(gold)) if gold[i] != pc[i] or (gold_sev is not None and gold_sev[i] != ps[i])]
    wrong_idx.sort(key=lambda i: -abs(float(gold[i] != "none") - proba[i]))
    errors = pd.DataFrame(
        {
            "text": [texts[i] for i in wrong_idx],
            "gold_category": [gold[i] for i in wrong_idx],
            "predicted_category": [pc[i] for i in wrong_idx],
            "gold_severity": [gold_sev[i] if gold_sev is not None else "" for i in wrong_idx],
            "predicted_severity": [ps[i] for i in wrong_idx],
            "complaint_probability": [round(float(proba[i]), 4) for i in wrong_idx],
        }
    )
    lines.append("")
    lines.append(f"错误 {len(wrong_idx)} 条,最严重的 {min(n_errors, len(wrong_idx))} 条:")
    for _, r in errors.head(n_errors).iterrows():
        sev = f"/{r['gold_severity']}→{r['predicted_severity']}" if gold_sev is not None else ""
        short = r["text"].replace("\n", " ")
        short = short[:70] + ("…" if len(short) > 70 else "")
        lines.append(f"  [{CATEGORY_NAMES_ZH[r['gold_category']]}→{CATEGORY_NAMES_ZH[r['predicted_category']]}{sev} p={r['complaint_probability']:.2f}] {short}")
    report = "\n".join(lines)
    click.echo(report)
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "metrics.json").write_text(json.dumps({"model_id": clf.model_id, "input": str(labelled), **m}, ensure_ascii=False, indent=2), encoding="utf-8")
            from csqa.report.safety import safe_frame

            safe_frame(cm).to_csv(out_dir / "confusion_matrix.csv", encoding="utf-8-sig")
            safe_frame(errors).to_csv(out_dir / "errors.csv", index=False, encoding="utf-8-sig")
            (out_dir / "report.txt").write_text(report + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"无法写入报告目录 {out_dir}: {exc.strerror} / cannot write the report") from None
        click.echo(f"\n报告已保存到 / report saved to: {out_dir}")


COMMANDS = [train, classify, evaluate]
