"""report.xlsx's sheets as DataFrames (`xlsx` writes them): the five small ones from the statistics tables,
the two big ones (违规明细, 会话评分) from the frames, which rows those keep past report.xlsx's caps, and
`detail_sheets`, the two big ones built in a process of their own.

Uses `frames`, `labels` and `options`; `build` and the output jobs (`csqa.outputs.jobs`) call it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from csqa.outputs.report.frames import _details, _prepare_conversations
from csqa.outputs.report.labels import SEVERITY_NAMES_ZH, SEVERITY_ZH, category_zh, check_zh
from csqa.outputs.report.options import ReportOptions
from csqa.results.transcripts import mask_findings_text


# report.xlsx's sheets in workbook order; the two big ones can be built apart (`detail_sheets`)
SHEET_ORDER = ("总览", "客服排名", "检查项命中", "违规明细", "会话评分", "投诉分析", "客服×检查项")
DETAIL_SHEETS = ("违规明细", "会话评分")


def _sheets(conv, fnd, ranking, rules, agent_rules, mix, kpis, summary) -> dict[str, pd.DataFrame]:
    """All sheets in `SHEET_ORDER`; conv / fnd None: without the two big ones."""
    small = _small_sheets(ranking, rules, agent_rules, mix, kpis)
    big = {} if conv is None else {"违规明细": _detail_sheet(fnd), "会话评分": _conversation_sheet(conv)}
    return {name: (big if name in DETAIL_SHEETS else small)[name] for name in SHEET_ORDER
            if name in small or name in big}


def _small_sheets(ranking, rules, agent_rules, mix, kpis) -> dict[str, pd.DataFrame]:
    overview = pd.DataFrame(kpis, columns=["item", "value", "n", "note", "_fmt"])
    rank = ranking.copy()
    rank["small_sample"] = rank["small_sample"].map({True: "是", False: "否"})
    rank = rank[["rank", "agent_id", "conversations", "small_sample", "passed", "pass_rate", "pass_rate_low95",
                 "pass_rate_high95", "mean_score", "critical_conversations", "findings", "complaints",
                 "serious_complaints", "resolution_rate", "unhappy_rate", "median_first_response_s", "median_response_s",
                 "top_failed_check", "focus"]]
    checks = rules.rename(columns={"conversations": "hit_conversations"})[
        ["rule_id", "rule_name", "check_zh", "hit_conversations", "n", "rate", "findings", "points_lost"]]
    complaints = pd.DataFrame(
        [{"category": r["name"], "category_conversations": r["k"], "n": r["n"], "share": round(r["rate"], 4),
          "normal_complaints": r["normal"], "serious_complaints": r["serious"]} for r in mix["rows"]],
        columns=["category", "category_conversations", "n", "share", "normal_complaints", "serious_complaints"])
    ar = agent_rules.copy()
    if not ar.empty:
        team = dict(zip(rules["rule_id"], rules["rate"]))
        ar["team_rate"] = ar["rule_id"].map(team)
        ar["check"] = ar["check"].map(check_zh)
        ar = ar.rename(columns={"conversations": "hit_conversations"})[
            ["agent_id", "rule_id", "rule_name", "check", "hit_conversations", "n", "rate", "team_rate"]]
        ar = ar.sort_values(["agent_id", "rate"], ascending=[True, False])
    return {"总览": overview, "客服排名": rank, "检查项命中": checks, "投诉分析": complaints, "客服×检查项": ar}


def _detail_sheet(fnd: pd.DataFrame) -> pd.DataFrame:
    """违规明细: the findings rows (prepared, masked as shown) with Chinese check and severity names."""
    fcols = [c for c in ["conversation_id", "agent_id", "rule_id", "rule_name", "check", "severity", "points",
                         "message_index", "timestamp", "span_start", "span_end", "matched_text", "evidence",
                         "explanation"] if c in fnd.columns]
    detail = fnd[fcols].copy()
    detail["check"] = map_distinct(detail["check"], check_zh)
    detail["severity"] = map_distinct(detail["severity"], lambda s: SEVERITY_ZH.get(s, s))
    return detail


def _conversation_sheet(conv: pd.DataFrame) -> pd.DataFrame:
    """会话评分: the conversations rows (prepared) with yes/no and Chinese complaint names."""
    convs = conv.drop(columns=[c for c in ("_t", "_day", "not_applicable") if c in conv.columns]).copy()
    for col in ("passed", "critical"):
        convs[col] = convs[col].map({True: "是", False: "否"})
    convs["complaint"] = map_distinct(convs["complaint"], lambda v: "" if v is pd.NA else ("是" if v else "否"))
    convs["complaint_category"] = map_distinct(convs["complaint_category"], lambda c: category_zh(c) if c else "")
    convs["complaint_severity"] = map_distinct(convs["complaint_severity"], lambda s: SEVERITY_NAMES_ZH.get(s, s))
    return convs


def map_distinct(values: pd.Series, f) -> pd.Series:
    """`values.map(f)` calling f once per distinct value, not once per row (a column of a few
    names over 20k rows: the big report.xlsx sheets); the same values and dtype."""
    if values.empty or isinstance(values.dtype, pd.CategoricalDtype):  # (the latter maps its categories only)
        return values.map(f)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    shown = np.empty(len(uniques), dtype=object)
    shown[:] = [f(u) for u in uniques]
    return pd.Series(shown[codes], index=values.index, name=values.name)


def detail_sheets(conversations: pd.DataFrame, n_findings: int, finding_counts: Callable[[], pd.Series],
                  finding_details: Callable[[list[str] | None], pd.DataFrame],
                  options: ReportOptions | None = None) -> dict[str, pd.DataFrame]:
    """report.xlsx's two big sheets, 违规明细 and 会话评分, as `build` makes them, from the
    conversations and the findings' count alone (+ the full rows of the findings shown).

    Why apart: the output stage writes these (most of report.xlsx's cells) in a process of its
    own while `build(..., with_detail_sheets=False)` runs in another. n_findings: the run's
    findings; finding_counts(): findings per conversation_id (asked only past the sheet's cap);
    finding_details(ids): the full findings rows of those conversations, all with None.
    """
    options = options or ReportOptions()
    conv = _prepare_conversations(conversations)
    detail_rows, conv_rows, _ = _xlsx_selection(conv, n_findings, finding_counts, options)
    detail = _details(None, detail_rows, finding_details, conv)
    if options.mask and not options.already_masked:
        detail = mask_findings_text(detail)
    return {"违规明细": _detail_sheet(detail), "会话评分": _conversation_sheet(conv if conv_rows is None else conv_rows)}


def _finding_counts(fnd: pd.DataFrame) -> pd.Series:
    return fnd.groupby("conversation_id", sort=False, observed=True).size()


def _xlsx_selection(conv: pd.DataFrame, n_findings: int, finding_counts: Callable[[], pd.Series],
                    options: ReportOptions):
    """Which rows report.xlsx keeps when a run is larger than its caps: the worst conversations first.

    n_findings: the run's findings; finding_counts(): findings per conversation_id (asked only
    past the cap). Returns (finding conversation ids or None for all, conversations frame or
    None for all, notes for the 总览 sheet)."""
    notes = []
    detail_ids = None
    conv_rows = None
    worst = conv.sort_values(["score", "conversation_id"], kind="stable")
    if n_findings > options.xlsx_max_findings:
        per_conv = finding_counts()
        counts = per_conv.reindex(worst["conversation_id"]).fillna(0).astype("int64")
        keep = counts[counts.cumsum() <= options.xlsx_max_findings]
        detail_ids = keep.index[keep > 0].tolist()
        notes.append(("违规明细 (本表)", int(keep.sum()), int(n_findings), f"表内仅列得分最低的 {len(detail_ids)} 个会话的问题；"
                      "全部问题见 findings.csv 或结果库", "int"))
    if len(conv) > options.xlsx_max_conversations:
        conv_rows = worst.head(options.xlsx_max_conversations)
        notes.append(("会话评分 (本表)", len(conv_rows), int(len(conv)), "表内仅列得分最低的会话；全部会话见 conversations.csv 或结果库", "int"))
    return detail_ids, conv_rows, notes
