"""Build report.html and the report.xlsx sheets from result DataFrames.

    html, sheets = csqa.outputs.report.build(conversations, findings, agents, messages, summary)

Inputs are plain DataFrames, so the same function serves `csqa score` (one batch) and
`csqa report` (any number of batches read back from the results store), whichever engine
produced them:

- conversations: the conversations.csv columns (`csqa.results.tables.CONVERSATION_COLUMNS`),
  optionally `not_applicable` (";"-joined rule codes that did not apply; makes each
  check's n the conversations it applied to).
- findings: the findings.csv columns (`FINDING_COLUMNS`) in ledger order per conversation,
  optionally `hl_start`/`hl_end` (highlight offsets into messages.text when it differs
  from the original text, e.g. stored masked).
- agents: the agents.csv columns (`AGENT_COLUMNS`), or None to derive them.
- messages: conversation_id, message_index, role, agent_id, timestamp, text
  (`csqa.results.transcripts.messages_table`); may be empty (no transcripts in the drill-down).
- summary: generated_at, rulebook, model, masked, optional rows_rejected, source, filters.
- options: `ReportOptions`; `ReportOptions.for_rulebook` follows the rulebook's settings (pass mark,
  time limits, min_n, dimensions: `csqa.settings.RulebookSettings`).

Returns (html_str, sheets) with sheets = {sheet name: DataFrame} for
`csqa.outputs.report.xlsx.write_xlsx`. With `ReportOptions.mask` (default) personal data in
transcripts, evidence and explanations is masked here again, whatever the inputs hold.

This module holds `build` and the page's sections (team figures, KPI cards, trends, timing, heatmap,
agent sections, ranking rows, red lines). It uses the report's other modules, none of which uses it:
`frames` (the prepared frames) → `statistics` (per rule, per agent, the ranking) → `figures` (charts),
`drilldown` (conversations shown in full), `sheets` (report.xlsx's sheets); `options` and `labels` throughout.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from csqa.outputs.report import charts
from csqa.outputs.report.charts import AMBER, BLUE, RED, Bar
from csqa.outputs.report.drilldown import _drill_ids, _drilldown
from csqa.outputs.report.figures import (_agent_day_points, _agent_mixes, _complaint_mix, _day_range_points,
                                         _quantile, _score_histogram, _time_histogram, _trend_chart, _trend_points)
from csqa.outputs.report.frames import _details, _details_pair, _lost, _prepare, _records
from csqa.outputs.report.labels import _pct, category_zh, check_zh
from csqa.outputs.report.options import ReportOptions
from csqa.outputs.report.sheets import _finding_counts, _sheets, _xlsx_selection
from csqa.outputs.report.statistics import (_focus, _rows_by_agent, _sorted_desc, agent_ranking, agent_rule_rates,
                                            rule_statistics)
from csqa.outputs.safety import strip_controls
from csqa.results.stats import rate_text, wilson_interval
from csqa.results.transcripts import mask_findings_text, prepare_transcripts

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def report_template():
    """report.html's compiled Jinja2 template, compiled once per process (~0.15 s of CPU). The output
    jobs' fork server compiles it before it forks them (`csqa.outputs.jobs._PRELOAD`)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2")


_SORT_AND_OPEN_JS = (
    "var t=event.target;if(!t.closest)return;"
    "var th=t.closest('th[data-sort]');"
    "if(th){var tb=th.closest('table').tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),"
    "asc=th.getAttribute('aria-sort')!=='ascending',rows=Array.prototype.slice.call(tb.rows);"
    "function v(r){var c=r.cells[i],d=c.getAttribute('data-v');return d!==null?d:c.textContent.trim();}"
    "rows.sort(function(a,b){var x=v(a),y=v(b),nx=parseFloat(x),ny=parseFloat(y),r;"
    "if(x===''&&y!=='')return 1;if(y===''&&x!=='')return -1;"
    "r=(!isNaN(nx)&&!isNaN(ny)&&isFinite(x)&&isFinite(y))?nx-ny:x.localeCompare(y,'zh-CN');return asc?r:-r;});"
    "rows.forEach(function(r){tb.appendChild(r);});"
    "Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});"
    "th.setAttribute('aria-sort',asc?'ascending':'descending');return;}"
    "var a=t.closest('a[href^=\"#conv-\"]');"
    "if(a){var d=document.getElementById(a.getAttribute('href').slice(1));if(d)d.open=true;return;}"
    "var b=t.closest('[data-toggle-all]');"
    "if(b){var open=b.getAttribute('data-toggle-all')==='open';"
    "Array.prototype.forEach.call(document.querySelectorAll('details.conv'),function(x){x.open=open;});}"
)


def build(conversations: pd.DataFrame, findings: pd.DataFrame, agents: pd.DataFrame | None,
          messages: pd.DataFrame | None, summary: dict, options: ReportOptions | None = None,
          finding_details: Callable[[list[str]], pd.DataFrame] | None = None,
          with_detail_sheets: bool = True,
          small_sheets_ready: Callable[[dict[str, pd.DataFrame]], None] | None = None,
          ) -> tuple[str, dict[str, pd.DataFrame]]:
    """report.html (self-contained, Chinese) and the report.xlsx sheets from result DataFrames.

    See the module docstring for the columns. Personal data is masked (transcripts,
    evidence, explanations) unless `options.mask` is False; chat text is escaped by
    Jinja2 autoescape and by `highlight_html`, never marked safe.

    finding_details: for large runs, `findings` may hold only the columns the figures
    aggregate (conversation_id, agent_id, rule_id, rule_name, check, severity, points,
    message_index); the function then returns the full rows of the conversations asked for
    (the drill-down, red lines and the 违规明细 sheet), e.g. read from a spool on disk.

    with_detail_sheets=False: the sheets leave out 违规明细 and 会话评分 (and their rows are
    not read); `detail_sheets` builds those two elsewhere, with the same cells.
    small_sheets_ready(sheets): called with the five small sheets as soon as they are known,
    before the drill-down and the html are made (the output stage hands them to the process
    writing report.xlsx).
    """
    options = options or ReportOptions(mask=bool(summary.get("masked", True)))
    pass_mark = float(options.pass_mark)
    conv, fnd = _prepare(conversations, findings)
    n = len(conv)

    ranking = agent_ranking(conv, fnd, agents, options) if n else pd.DataFrame(columns=_RANKING_COLUMNS)
    rules = rule_statistics(conv, fnd)
    agent_rules = agent_rule_rates(conv, fnd)
    team_rates = dict(zip(rules["rule_id"], rules["rate"]))
    rules_by_agent = _rows_by_agent(agent_rules)
    focus = {a: _focus(rules_by_agent.get(a), team_rates) for a in ranking["agent_id"]}
    ranking["focus"] = [", ".join(f["text"] for f in focus[a]) for a in ranking["agent_id"]]

    # drill-down conversations, their masked transcripts and findings pointing into them
    drill = _drill_ids(conv, ranking, options) if n else []
    anchors = {cid: f"conv-{i}" for i, cid in enumerate(drill)}
    agent_anchor = {a: f"agent-{i}" for i, a in enumerate(ranking["agent_id"])}

    team = _team_figures(conv, options)
    kpis = _kpi_rows(team, fnd, ranking, pass_mark, summary, options)
    detail_rows, conv_rows, notes = _xlsx_selection(conv, len(fnd), lambda: _finding_counts(fnd), options)
    kpis += notes
    if small_sheets_ready is not None:  # (before the drill-down and the html: someone is waiting for these)
        small_sheets_ready(_sheets(None, None, ranking, rules, agent_rules, team.mix, kpis, summary))

    msgs, details, detail = _shown_rows(conv, fnd, messages, drill, detail_rows if with_detail_sheets else False,
                                        finding_details, options)

    # -------------------------------------------------------------- charts, agents and the drill-down
    lost = _lost(fnd, ["conversation_id", "_conv_agent", "check", "rule_name"])
    heat_team, heat_rows = _heatmap(lost, ranking, n, agent_anchor, options)
    sections = _agent_sections(conv, ranking, lost, rules_by_agent, team_rates, team.all_days, anchors, agent_anchor,
                               focus, options, pass_mark)
    coaching = sorted(sections, key=lambda s: (s["rank"]), reverse=True)
    coaching = [s for s in coaching if s["focus"] or s["critical"]][:6]
    drilldown = _drilldown(conv, details, msgs, drill, anchors)

    html = report_template().render(
        summary=summary, options=options, pass_mark=pass_mark, n=n, kpi_cards=_kpi_cards(team, ranking, n, options),
        score_hist=_score_histogram(conv["score"], pass_mark, "得分分布"),
        trends=_trends(conv, team.all_days, team.span_days, pass_mark),
        check_chart=_check_chart(rules, options), rules=rules.to_dict("records"), mix=team.mix,
        timing=_timing(team, options),
        heat_checks=heat_team, heat_rows=heat_rows, coaching=coaching, ranking=_ranking_rows(ranking, agent_anchor),
        sections=sections, drilldown=drilldown, n_drill=len(drilldown), red=_red_lines(details, conv, anchors),
        js=_SORT_AND_OPEN_JS,
        period=(f"{team.first_day:%Y-%m-%d} 至 {team.last_day:%Y-%m-%d}" if team.first_day is not None else "无时间数据"),
    )
    html = strip_controls(html)  # (NUL, ESC … from chat text or ids: escaping keeps them)
    if not with_detail_sheets:
        return html, _sheets(None, None, ranking, rules, agent_rules, team.mix, kpis, summary)
    if options.mask and not options.already_masked:
        detail = mask_findings_text(detail)
    sheets = _sheets(conv if conv_rows is None else conv_rows, detail, ranking, rules, agent_rules, team.mix, kpis, summary)
    return html, sheets


def _shown_rows(conv: pd.DataFrame, fnd: pd.DataFrame, messages, drill: list[str], detail_rows, finding_details,
                options: ReportOptions) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(transcripts of the drill-down, full findings of the conversations shown in full, 违规明细's findings).

    Full rows (evidence, explanation, highlights) only for the conversations shown in full; report.xlsx's
    违规明细 rows too (`detail_rows` False: not wanted): both sets are read from the spool in one pass."""
    if messages is None:
        messages = pd.DataFrame(columns=["conversation_id", "message_index", "role", "agent_id", "timestamp", "text"])
    if not isinstance(messages, pd.DataFrame):  # a spool of transcripts on disk: read only what is shown
        messages = messages.select(drill)
    critical_ids = conv.loc[conv["critical"], "conversation_id"].tolist()
    shown = list(dict.fromkeys(drill + critical_ids))
    if detail_rows is not False:
        details, detail = _details_pair(fnd, shown, detail_rows, finding_details, conv)
    else:
        details, detail = _details(fnd, shown, finding_details, conv), None
    msgs, details = prepare_transcripts(messages, details, options.mask and not options.already_masked, only=drill)
    return msgs, details, detail


_RANKING_COLUMNS = ["agent_id", "rank", "conversations", "passed", "pass_rate", "pass_rate_low95", "pass_rate_high95",
                    "small_sample", "mean_score", "critical_conversations", "findings", "complaints", "serious_complaints",
                    "median_first_response_s", "median_response_s", "top_failed_check", "classified"]


@dataclass
class _TeamFigures:
    """The team overview's figures (the KPI cards, the 总览 sheet, the timing charts)."""

    n: int
    passed: int
    critical: int
    ci: tuple | None
    mix: dict
    first_day: object
    last_day: object
    span_days: int
    all_days: list[str]
    mean_score: float | None
    fr: pd.Series  # first response times known
    rt: pd.Series  # mean reply times known
    judged: pd.Series  # conversations the outcome checks judged
    resolved_n: int
    unhappy_n: int
    fr_late: int
    rt_late: int


def _team_figures(conv: pd.DataFrame, options: ReportOptions) -> _TeamFigures:
    n = len(conv)
    passed = int(conv["passed"].sum())
    days_known = conv["_t"].dropna()
    first_day, last_day = (days_known.min(), days_known.max()) if len(days_known) else (None, None)
    fr = conv["first_response_s"].dropna()
    rt = conv["mean_response_s"].dropna()
    judged = conv["resolved"].dropna()
    return _TeamFigures(
        n=n, passed=passed, critical=int(conv["critical"].sum()), ci=wilson_interval(passed, n, options.z),
        mix=_complaint_mix(conv), first_day=first_day, last_day=last_day,
        span_days=(last_day.normalize() - first_day.normalize()).days + 1 if first_day is not None else 0,
        all_days=([d.strftime("%Y-%m-%d") for d in pd.date_range(first_day.normalize(), last_day.normalize(), freq="D")]
                  if first_day is not None else []),
        mean_score=round(float(conv["score"].mean()), 1) if n else None, fr=fr, rt=rt, judged=judged,
        resolved_n=int(judged.astype(bool).sum()), unhappy_n=int(conv["unhappy_end"].dropna().astype(bool).sum()),
        fr_late=int((fr > options.first_response_limit_s).sum()), rt_late=int((rt > options.reply_limit_s).sum()),
    )


def _kpi_cards(t: _TeamFigures, ranking: pd.DataFrame, n: int, options: ReportOptions) -> list[dict]:
    passed, critical, ci, mix, judged, resolved_n = t.passed, t.critical, t.ci, t.mix, t.judged, t.resolved_n
    return [
        {"label": "会话数", "value": n, "note": f"{len(ranking)} 名客服"},
        {"label": "平均分", "value": t.mean_score if t.mean_score is not None else "—", "note": f"n={n}"},
        {"label": "合格率", "value": _pct(passed, n), "note": f"{passed}/{n}" + (f" · 95%区间 {ci[0]:.0%}–{ci[1]:.0%}" if ci else ""),
         "cls": "bad" if n and passed / n < 0.6 else ""},
        {"label": "红线会话", "value": critical, "note": rate_text(critical, n, 1), "cls": "bad" if critical else ""},
        {"label": "投诉会话", "value": mix.get("complaints", "—") if mix["n"] else "—",
         "note": (rate_text(mix["complaints"], mix["n"]) + f" · 重大 {mix['serious']}") if mix["n"] else "未做投诉分类"},
        {"label": "一次解决率", "value": _pct(resolved_n, len(judged)) if len(judged) else "—",
         "note": (f"{resolved_n}/{len(judged)} · 顾客不满结束 {t.unhappy_n}") if len(judged) else "规则库没有结果检查",
         "cls": "bad" if len(judged) and resolved_n / len(judged) < 0.6 else ""},
        {"label": "首响超时", "value": t.fr_late, "note": f"> {options.first_response_limit_s:g}秒 · " + rate_text(t.fr_late, len(t.fr))},
    ]


def _kpi_rows(t: _TeamFigures, fnd: pd.DataFrame, ranking: pd.DataFrame, pass_mark: float, summary: dict,
              options: ReportOptions) -> list[tuple]:
    """The 总览 sheet: (item, value, n, note, number format)."""
    n, passed, critical, ci, mix, judged = t.n, t.passed, t.critical, t.ci, t.mix, t.judged
    resolved_n, unhappy_n, fr, rt, first_day, last_day = t.resolved_n, t.unhappy_n, t.fr, t.rt, t.first_day, t.last_day
    kpis = [
        ("会话数", n, n, "", "int"),
        ("客服数", len(ranking), None, "", "int"),
        ("平均分", t.mean_score, n, "", "0.0"),
        ("合格会话", passed, n, f"合格线 {pass_mark:g} 分且无红线", "int"),
        ("合格率", round(passed / n, 4) if n else None, n, rate_text(passed, n, 1), "pct"),
        ("合格率95%下限 (Wilson)", round(ci[0], 4) if ci else None, n, "", "pct"),
        ("合格率95%上限 (Wilson)", round(ci[1], 4) if ci else None, n, "", "pct"),
        ("红线会话", critical, n, rate_text(critical, n, 1), "int"),
        ("红线率", round(critical / n, 4) if n else None, n, "", "pct"),
        ("已做投诉分类的会话", mix["n"], None, "" if mix["n"] else "未做投诉分类", "int"),
        ("投诉会话", mix.get("complaints"), mix["n"] or None, rate_text(mix.get("complaints") or 0, mix["n"]), "int"),
        ("重大投诉", mix.get("serious"), mix["n"] or None, "", "int"),
        ("一次解决 (给出答复、顾客未不满、诉求未遗留)", resolved_n, len(judged) or None, rate_text(resolved_n, len(judged), 1), "int"),
        ("一次解决率", round(resolved_n / len(judged), 4) if len(judged) else None, len(judged) or None, "", "pct"),
        ("顾客不满结束", unhappy_n, len(judged) or None, rate_text(unhappy_n, len(judged), 1), "int"),
        ("首次响应中位数(秒)", _quantile(fr, 0.5), len(fr), "", "0.0"),
        ("首次响应P90(秒)", _quantile(fr, 0.9), len(fr), "", "0.0"),
        (f"首次响应超过{options.first_response_limit_s:g}秒", t.fr_late, len(fr), rate_text(t.fr_late, len(fr), 1), "int"),
        ("平均回复中位数(秒)", _quantile(rt, 0.5), len(rt), "", "0.0"),
        (f"平均回复超过{options.reply_limit_s:g}秒", t.rt_late, len(rt), rate_text(t.rt_late, len(rt), 1), "int"),
        ("问题总数(不含加分)", int((fnd["severity"] != "bonus").sum()) if not fnd.empty else 0, None, "", "int"),
        ("开始日期", first_day.strftime("%Y-%m-%d") if first_day is not None else "", None, "", "text"),
        ("结束日期", last_day.strftime("%Y-%m-%d") if last_day is not None else "", None, "", "text"),
        ("规则库", summary.get("rulebook") or "", None, "", "text"),
        ("合格线", pass_mark, None, "规则库 settings.pass_mark", "0.0"),
        ("评分维度 (满分 100)", " · ".join(f"{d['name']} {d['weight']:g}" for d in options.dimensions), None,
         "按规则库的维度与权重", "text"),
        ("投诉模型", summary.get("model") or "未使用", None, "", "text"),
        ("个人信息打码", "是" if options.mask else "否 (--no-mask)", None, "", "text"),
        ("样本少的标准", options.min_n, None, "会话数少于此值的客服标为样本少", "int"),
        ("生成时间", summary.get("generated_at", ""), None, "", "text"),
    ]
    if summary.get("rows_rejected") is not None:
        kpis.insert(2, ("拒收行", summary.get("rows_rejected"), None, "见 rejects.csv", "int"))
    if summary.get("filters"):
        kpis.append(("筛选条件", summary["filters"], None, "", "text"))
    if summary.get("source"):
        kpis.append(("数据来源", summary["source"], None, "", "text"))
    return kpis


def _check_chart(rules: pd.DataFrame, options: ReportOptions) -> Markup:
    top_rules = rules.head(options.top_checks)
    return charts.hbars(
        [Bar(f"{r.rule_name}", float(r.rate), rate_text(r.conversations, r.n), RED if r.rate >= 0.5 else (AMBER if r.rate >= 0.2 else BLUE),
             tip=f"{r.rule_id} {r.rule_name} ({r.check_zh}): {rate_text(r.conversations, r.n, 1)}，扣分合计 {r.points_lost:g}")
         for r in top_rules.itertuples()], "最常不合格的检查项", label_w=140)


def _trends(conv: pd.DataFrame, all_days: list[str], span_days: int, pass_mark: float) -> list[dict]:
    """The team's daily trend, and weekly (over 14 days) and monthly (over 62 days) ones."""
    team_day, team_rate = _day_range_points(conv, all_days)
    trends = [{"title": f"按日趋势 ({len(all_days)} 天)", "chart": _trend_chart(team_day, team_rate, "团队按日趋势", pass_mark)}] if all_days else []
    if span_days > 14:
        iso = conv["_t"].dt.isocalendar()
        week = (iso["year"].astype("string") + "-W" + iso["week"].astype("string").str.zfill(2)).where(conv["_t"].notna())
        wp, wr = _trend_points(conv, week)
        trends.append({"title": f"按周趋势 ({len(wp)} 周)", "chart": _trend_chart(wp, wr, "团队按周趋势", pass_mark)})
    if span_days > 62:
        mp, mr = _trend_points(conv, conv["_t"].dt.strftime("%Y-%m"))
        trends.append({"title": f"按月趋势 ({len(mp)} 个月)", "chart": _trend_chart(mp, mr, "团队按月趋势", pass_mark)})
    return trends


FIRST_RESPONSE_EDGES = [0, 10, 20, 30, 60, 120]
REPLY_EDGES = [0, 15, 30, 60, 90, 120]


def _timing(t: _TeamFigures, options: ReportOptions) -> dict:
    fr, rt = t.fr, t.rt
    return {
        "first": _time_histogram(fr, FIRST_RESPONSE_EDGES, options.first_response_limit_s, "首次响应时间分布"),
        "reply": _time_histogram(rt, REPLY_EDGES, options.reply_limit_s, "平均回复时间分布"),
        "first_stats": f"中位数 {_quantile(fr, .5)} 秒 · P90 {_quantile(fr, .9)} 秒 · 超过 {options.first_response_limit_s:g} 秒 {rate_text(t.fr_late, len(fr))}" if len(fr) else "无时间数据",
        "reply_stats": f"中位数 {_quantile(rt, .5)} 秒 · P90 {_quantile(rt, .9)} 秒 · 超过 {options.reply_limit_s:g} 秒 {rate_text(t.rt_late, len(rt))}" if len(rt) else "无时间数据",
    }


def _heatmap(lost: pd.DataFrame, ranking: pd.DataFrame, n: int, agent_anchor: dict[str, str],
             options: ReportOptions) -> tuple[list[dict], list[dict]]:
    """Agents × checks (check level): the team row and one row per agent."""
    heat_checks = []
    heat_rows = []
    if not lost.empty:
        check_conv = lost.groupby("check")["conversation_id"].nunique().sort_values(ascending=False)
        heat_checks = [c for c in check_conv.index[: options.heatmap_checks]]
        per = lost.groupby(["_conv_agent", "check"])["conversation_id"].nunique().to_dict()  # (dict: no Series.get per cell)
        check_conv_of = check_conv.to_dict()
        for r in ranking.itertuples():
            cells = []
            for c in heat_checks:
                k = int(per.get((r.agent_id, c), 0))
                rate = k / r.conversations if r.conversations else 0
                team = check_conv_of[c] / n if n else 0
                cells.append({"k": k, "n": int(r.conversations), "rate": rate, "text": f"{rate:.0%}",
                              "alpha": round(min(1.0, rate) * 0.85 + 0.05, 2),
                              "hot": rate - team > 0.1 and k >= 3,
                              "title": f"{r.agent_id} · {check_zh(c)}: {rate_text(k, r.conversations)}，团队 {team:.0%}"})
            heat_rows.append({"agent_id": r.agent_id, "anchor": agent_anchor[r.agent_id], "small": bool(r.small_sample),
                              "n": int(r.conversations), "cells": cells})
    heat_team = [{"name": check_zh(c), "rate": f"{check_conv[c] / n:.0%}" if n else "—"} for c in heat_checks] if heat_checks else []
    return heat_team, heat_rows


def _agent_sections(conv: pd.DataFrame, ranking: pd.DataFrame, lost: pd.DataFrame, rules_by_agent: dict,
                    team_rates: dict, all_days: list[str], anchors: dict, agent_anchor: dict, focus: dict,
                    options: ReportOptions, pass_mark: float) -> list[dict]:
    """One section per agent; everything per agent from one pass over the conversations (a groupby per
    agent is the slow part)."""
    worst_of: dict[str, list[dict]] = {}
    worst = conv.sort_values(["score", "conversation_id"]).groupby("agent_id", sort=False).head(options.worst_per_agent)
    for w in _records(worst[["agent_id", "conversation_id", "score", "critical", "started_at", "complaint_category"]]):
        worst_of.setdefault(w["agent_id"], []).append(w)
    worst_ids = set(worst["conversation_id"])
    rows_of = conv.groupby("agent_id", sort=False).indices  # row positions per agent, in frame order
    first_all = conv["first_response_s"].to_numpy(dtype=float, na_value=np.nan)
    reply_all = conv["mean_response_s"].to_numpy(dtype=float, na_value=np.nan)
    day_points = _agent_day_points(conv)
    mixes = _agent_mixes(conv)
    problems_of: dict[str, list[str]] = {}
    for cid, name in zip(*(lost.loc[lost["conversation_id"].isin(worst_ids), c].tolist() for c in ("conversation_id", "rule_name"))):
        problems_of.setdefault(cid, []).append(name)
    sections = []
    for r in ranking.itertuples():
        a = r.agent_id
        afr, art = first_all[rows_of[a]], reply_all[rows_of[a]]
        sections.append(_agent_section(
            r, _sorted_desc(rules_by_agent.get(a, []), "rate", "conversations"), team_rates,
            _day_range_points(None, all_days, day_points.get(a, ([], []))) if all_days else None,
            mixes.get(a, {"n": 0, "rows": []}), afr[~np.isnan(afr)], art[~np.isnan(art)],
            _worst_rows(worst_of[a], problems_of, anchors), agent_anchor[a], focus[a], options, pass_mark))
    return sections


def _worst_rows(worst: list[dict], problems_of: dict[str, list[str]], anchors: dict) -> list[dict]:
    rows = []
    for w in worst:
        names = problems_of.get(w["conversation_id"], [])
        rows.append({"id": w["conversation_id"], "anchor": anchors.get(w["conversation_id"]), "score": w["score"],
                     "critical": w["critical"], "day": w["started_at"], "problems": "、".join(dict.fromkeys(names)),
                     "category": category_zh(w["complaint_category"]) if w["complaint_category"] else ""})
    return rows


def _agent_section(r, a_rules: list[dict], team_rates: dict, days, amix: dict, afr: np.ndarray, art: np.ndarray,
                   worst_rows: list[dict], anchor: str, focus: list[dict], options: ReportOptions,
                   pass_mark: float) -> dict:
    """One agent's section: trend by day (`days`: its points, None without times), failed checks vs the team,
    complaints, response times (`afr`, `art`: the known ones), worst conversations."""
    a = r.agent_id
    bars = [Bar(x["rule_name"], float(x["rate"]), rate_text(x["conversations"], x["n"]),
                RED if x["rate"] - team_rates.get(x["rule_id"], 0) > 0.1 else BLUE, ref=team_rates.get(x["rule_id"]),
                tip=f"{x['rule_id']} {x['rule_name']}: {rate_text(x['conversations'], x['n'], 1)}，团队 {team_rates.get(x['rule_id'], 0):.0%}")
            for x in a_rules[:8]]
    ci_a = wilson_interval(r.passed, r.conversations, options.z)
    return {
        "agent_id": a, "anchor": anchor, "rank": r.rank, "n": int(r.conversations), "small": bool(r.small_sample),
        "mean_score": r.mean_score, "pass_text": rate_text(r.passed, r.conversations),
        "ci": f"{ci_a[0]:.0%}–{ci_a[1]:.0%}" if ci_a else "—", "critical": int(r.critical_conversations),
        "complaints": rate_text(amix.get("complaints") or 0, amix["n"]) if amix["n"] else "未分类",
        "first": f"中位数 {_quantile(afr, .5)} 秒 (n={len(afr)}) · 超时 {rate_text(int((afr > options.first_response_limit_s).sum()), len(afr))}" if len(afr) else "无时间数据",
        "reply": f"中位数 {_quantile(art, .5)} 秒 (n={len(art)}) · 超时 {rate_text(int((art > options.reply_limit_s).sum()), len(art))}" if len(art) else "无时间数据",
        "trend": _trend_chart(days[0], days[1], f"{a} 按日平均分", pass_mark, show_rate=False) if days is not None else None,
        "checks": charts.hbars(bars, f"{a} 不合格检查项", label_w=130, ref_label="团队"),
        "mix": [m for m in amix["rows"] if m["k"]] if amix["n"] else [],
        "mix_n": amix["n"],
        "fr_chart": _time_histogram(afr, FIRST_RESPONSE_EDGES, options.first_response_limit_s, f"{a} 首次响应时间分布") if len(afr) else None,
        "worst": worst_rows,
        "focus": focus,
    }


def _num(v, digits: int = 1):
    if v is None or v is pd.NA:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if np.isnan(f):
        return None
    return round(f, digits)


def _ranking_rows(ranking: pd.DataFrame, agent_anchor: dict[str, str]) -> list[dict]:
    rows = []
    for r in ranking.itertuples():
        rows.append({
            "rank": r.rank, "agent_id": r.agent_id, "anchor": agent_anchor[r.agent_id], "n": int(r.conversations),
            "small": bool(r.small_sample), "pass_rate": r.pass_rate, "pass_text": rate_text(r.passed, r.conversations),
            "low": r.pass_rate_low95, "mean_score": r.mean_score, "critical": int(r.critical_conversations),
            "complaints": int(r.complaints), "fr": _num(r.median_first_response_s), "rt": _num(r.median_response_s),
            "focus": ranking.at[r.Index, "focus"],
            "resolution": _num(r.resolution_rate, 4), "resolution_text": rate_text(r.resolved_n, r.outcome_judged)
            if r.outcome_judged else "—",
        })
    return rows


def _red_lines(details: pd.DataFrame, conv: pd.DataFrame, anchors: dict[str, str]) -> list[dict]:
    """The red-line conversations: their rules and evidence, by day."""
    red = []
    crit = details[details["severity"] == "critical"]
    if not crit.empty:
        started = dict(zip(conv["conversation_id"].tolist(), conv["started_at"].tolist()))
        # grouped by conversation in order of first appearance (groupby sort=False), as plain lists
        groups: dict[str, tuple[str, list, list]] = {}
        for cid, agent, rule, ev in zip(crit["conversation_id"].tolist(), crit["_conv_agent"].tolist(),
                                        crit["rule_name"].tolist(), crit["evidence"].fillna("").tolist()):
            g = groups.setdefault(cid, (agent, [], []))
            g[1].append(rule), g[2].append(ev)
        for cid, (agent, rule_names, evidence) in groups.items():
            red.append({"id": cid, "anchor": anchors.get(cid), "agent_id": agent, "day": started.get(cid, ""),
                        "rules": "、".join(dict.fromkeys(rule_names)),
                        "evidence": " / ".join(dict.fromkeys(e for e in evidence if e))})
        red.sort(key=lambda r: (r["day"], r["id"]))
    return red
