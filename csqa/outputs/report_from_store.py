"""`csqa report`: report.html, report.xlsx and the selection's CSVs rebuilt from a results store."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from csqa.core.errors import ConfigError
from csqa.outputs.files import write_outputs
from csqa.outputs.report.builder import build as build_report
from csqa.outputs.report.options import ReportOptions
from csqa.outputs.store import ResultStore
from csqa.results.tables import agents_table
from csqa.results.transcripts import prepare_transcripts
from csqa.runtime.workspace import OutputDir
from csqa.settings import RulebookSettings


def run_report(store: Path | str, outdir: Path, date_from=None, date_to=None, agent=None, check=None,
               mask: bool = True, review=None) -> dict:
    """`csqa report`: rebuild report.html and report.xlsx from a results store across any number of runs,
    with conversations.csv, findings.csv and agents.csv of the selection beside them (the columns and
    formatting `csqa score` writes; conversations by start time, findings in ledger order). OUTDIR is
    replaced as a whole, as `csqa score` replaces it.
    review: `csqa.review.human_score` (the command line passes it; a later stage, so not imported here):
    human scores beside machine scores in a reviewed store."""
    started = datetime.now().astimezone()
    with OutputDir(outdir) as target:
        with ResultStore(store, read_only=True) as rs:
            sel = rs.load(date_from=date_from, date_to=date_to, agent=agent, check=check)
            # human scores beside machine scores (csqa.review): only in a reviewed store
            reviewed = review.review_columns(rs.con, sel.conversations) if review else sel.conversations
            reviewed_note = review.review_summary(reviewed, rs.con) if review else ""
        filters = "，".join(x for x in (
            f"从 {date_from}" if date_from else "", f"到 {date_to}" if date_to else "",
            f"客服 {agent}" if agent else "", f"检查项 {check}" if check else "") if x)
        if sel.conversations.empty:
            raise ConfigError(f"结果库 {store} 中没有符合条件的会话 ({filters or '无筛选'})；用 `csqa report --store {store}` 不加筛选查看全部")
        runs = sel.runs
        rulebooks = sorted({f"{r.rulebook_id} ({str(r.rulebook_sha256)[:8]})" for r in runs.itertuples()})
        models = sorted({str(r.model_id) for r in runs.itertuples() if r.model_id})
        # the latest run's rulebook is the one in force: its pass mark, time limits, min_n
        rulebook = RulebookSettings.of_latest_run(runs["manifest"] if "manifest" in runs else ())
        summary = {
            "generated_at": started.strftime("%Y-%m-%d %H:%M"),
            "rulebook": "、".join(rulebooks),
            "model": "、".join(models) or None,
            "masked": mask,
            "source": f"结果库 {Path(store).name}: {len(runs)} 批次",
            "filters": filters,
        }
        if not sel.masked and mask:
            summary["source"] += " (库中含未打码数据，报告已重新打码)"
        summary["source"] += reviewed_note  # (and the rules reviews found unreliable)
        html, sheets = build_report(sel.conversations, sel.findings, None, sel.messages, summary,
                                    ReportOptions.for_rulebook(rulebook, mask=mask, already_masked=bool(sel.masked)))
        findings = sel.findings
        if mask and not sel.masked:  # the CSVs are masked as the reports are
            _, findings = prepare_transcripts(sel.messages, findings, True)
        agents = agents_table(sel.conversations, findings, (rulebook or RulebookSettings()).min_n)
        if review is not None:
            agents = review.agent_review_columns(agents, reviewed)
        tables = {"conversations": reviewed, "findings": findings, "agents": agents}
        write_outputs(target, tables, None, html, sheets)
        target.publish()
    text = (f"报告: {len(sel.conversations)} 个会话, {sel.conversations['agent_id'].nunique()} 名客服, "
            f"{len(runs)} 个批次" + (f" ({filters})" if filters else "") + f"\n输出: {outdir}")
    return {"conversations": len(sel.conversations), "runs": len(runs), "text": text}
