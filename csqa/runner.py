"""`csqa score`: the I/O edges around the pure pipeline (ingest in, outputs out)."""
from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from csqa import __version__
from csqa.errors import CsqaError
from csqa.ingest import IngestOptions, read_inputs
from csqa.pipeline import ScoreOptions, Timer, load_complaint_model, mask_function, prepare_rulebook, score_frame
from csqa.report.html import render_html
from csqa.report.tables import agents_table, check_statistics, conversations_table, findings_table
from csqa.outputs import write_outputs
from csqa.text.segment import default_segmenter


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, disable=disable, unit="会话", desc="质检", file=sys.stderr, leave=False)


def run_score(inputs, outdir: Path, encoding=None, column_map=None, role_map=None, rulebook=None, select=(),
              ignore=(), model=None, use_model=True, mask=True, quiet=False, engine="local") -> dict:
    timer = Timer()
    started = datetime.now().astimezone()
    t0 = time.perf_counter()
    options = ScoreOptions(rulebook=rulebook, select=list(select), ignore=list(ignore), model=model,
                           use_model=use_model, mask=mask, quiet=quiet)
    segmenter = default_segmenter()
    loaded, book = prepare_rulebook(options, segmenter)
    classifier = _classifier(options)
    timer.add("setup", time.perf_counter() - t0)

    t1 = time.perf_counter()
    ingest = read_inputs(inputs, IngestOptions(encoding=encoding, column_map=column_map or {}, role_map=role_map or {}))
    timer.add("ingest", time.perf_counter() - t1)
    messages = ingest.messages
    n_convs = messages["conversation_id"].nunique() if len(messages) else 0
    with _progress(n_convs, quiet) as bar:
        results = score_frame(messages, book, classifier, mask_function(mask), segmenter, timer, bar.update)

    t2 = time.perf_counter()
    conversations = conversations_table(results)
    findings = findings_table(results)
    agents = agents_table(conversations, findings)
    checks = check_statistics(conversations, findings)
    manifest = {
        "csqa_version": __version__,
        "started_at": started.isoformat(timespec="seconds"),
        "engine": engine,
        "inputs": ingest.inputs,
        "rows_read": int(ingest.rows_read),
        "rows_scored": int(len(messages)),
        "rows_rejected": int(len(ingest.rejects)),
        "conversations": int(len(conversations)),
        "agents": int(len(agents)),
        "findings": int(len(findings)),
        "mean_score": round(float(conversations["score"].mean()), 2) if len(conversations) else None,
        "pass_rate": round(float(conversations["passed"].mean()), 4) if len(conversations) else None,
        "rulebook": {"id": loaded.rulebook.id, "path": loaded.path, "sha256": loaded.sha256,
                     "select": list(select), "ignore": list(ignore), "rules": [r.code for r in book.rules]},
        "model": _model_info(classifier),
        "masked": bool(mask),
        "options": {"encoding": encoding, "column_map": column_map or {}, "role_map": role_map or {}},
    }
    if manifest["rows_read"] != manifest["rows_scored"] + manifest["rows_rejected"]:
        raise CsqaError("内部错误: 读取行数 ≠ 打分行数 + 拒收行数，请报告此问题")
    summary = {
        "generated_at": started.strftime("%Y-%m-%d %H:%M"),
        "rulebook": f"{loaded.rulebook.id} ({loaded.sha256[:8]})",
        "model": manifest["model"]["id"] if manifest["model"] else None,
        "masked": mask,
        "conversations": len(conversations),
        "agents": len(agents),
        "mean_score": manifest["mean_score"],
        "pass_rate": f"{manifest['pass_rate']:.0%}" if manifest["pass_rate"] is not None else "—",
        "critical": int(conversations["critical"].sum()) if len(conversations) else 0,
        "rows_rejected": manifest["rows_rejected"],
    }
    html = render_html(summary, conversations, findings, agents, checks)
    overview = pd.DataFrame({"item": list(summary.keys()), "value": [str(v) for v in summary.values()]})
    sheets = {"总览": overview, "客服排名": agents, "检查项命中": checks, "违规明细": findings, "会话评分": conversations}
    timer.add("tables", time.perf_counter() - t2)
    manifest["timings_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
    manifest["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
    tables = {"conversations": conversations, "findings": findings, "agents": agents, "rejects": ingest.rejects}
    write_outputs(outdir, tables, manifest, html, sheets)
    text = (
        f"完成: {summary['conversations']} 个会话, {summary['agents']} 名客服, 平均分 {summary['mean_score']}, "
        f"合格率 {summary['pass_rate']}, 红线会话 {summary['critical']}; "
        f"读取 {manifest['rows_read']} 行, 打分 {manifest['rows_scored']} 行, 拒收 {manifest['rows_rejected']} 行"
        + (" (见 rejects.csv)" if manifest["rows_rejected"] else "")
        + f"\n输出: {outdir}"
    )
    return {"manifest": manifest, "text": text, "statistics": checks.to_string(index=False)}


def _classifier(options: ScoreOptions):
    if not options.use_model:
        return None
    if options.model is None:
        from csqa.paths import models_dir

        if not (models_dir() / "complaint_classifier.joblib").exists():
            return None  # no shipped model yet: complaint columns stay empty, run.json says so
    try:
        return load_complaint_model(options)
    except ImportError:
        return None


def _model_info(classifier) -> dict | None:
    if classifier is None:
        return None
    return {"id": getattr(classifier, "model_id", None), "sha256": getattr(classifier, "sha256", None),
            "threshold": getattr(classifier, "threshold", None)}
