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
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from csqa.outputs.report import charts
from csqa.outputs.report.charts import AMBER, BLUE, GREEN, GREY, RED, Bar, Bin, Point, Segment
from csqa.results.stats import Z95, rate_text, wilson_interval
from csqa.outputs.safety import strip_controls
from csqa.outputs.report.highlight import Mark, highlight_html, role_zh
from csqa.results.transcripts import mask_findings_text, prepare_transcripts
from csqa.rulebook.schema import CHECK_NAMES_ZH
from csqa.settings import DEFAULT_MIN_N, DEFAULT_PASS_MARK, RulebookSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"

try:  # the complaint taxonomy ships with the classifier
    from csqa.complaints import CATEGORY_NAMES_ZH, SEVERITY_NAMES_ZH
except ImportError:  # pragma: no cover - only without the complaints package
    CATEGORY_NAMES_ZH = {"none": "非投诉", "product": "商品质量", "logistics": "物流配送", "service": "服务态度",
                         "payment": "支付退款", "system": "系统故障", "price": "价格促销", "other": "其他"}
    SEVERITY_NAMES_ZH = {"none": "无", "normal": "一般投诉", "serious": "重大投诉"}

SEVERITY_ZH = {"critical": "红线", "major": "重要", "minor": "一般", "bonus": "加分"}


@dataclass
class ReportOptions:
    """Knobs of the report; the defaults are what `csqa score` and `csqa report` use."""

    # the rulebook's settings (`for_rulebook`; these defaults: a rulebook without timing rules, or none known)
    min_n: int = DEFAULT_MIN_N  # agents with fewer conversations are marked 样本少
    pass_mark: float = DEFAULT_PASS_MARK
    first_response_limit_s: float = 30.0
    reply_limit_s: float = 60.0
    dimensions: tuple = ()  # the scorecard's {"id", "name", "weight"}
    worst_per_agent: int = 5  # worst conversations listed in each agent section
    drilldown_per_agent: int = 8  # conversations per agent with a full transcript
    max_drilldown: int = 400
    top_checks: int = 12
    # report.xlsx is for reading, not the full record (that is findings.csv / conversations.csv and the
    # store): past these many rows a sheet keeps the worst conversations and says so (Excel stops at 1,048,576)
    xlsx_max_findings: int = 20_000
    xlsx_max_conversations: int = 50_000
    heatmap_checks: int = 10
    mask: bool = True
    already_masked: bool = False  # transcripts and findings were masked upstream (csqa score does it per chunk)
    z: float = Z95
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_rulebook(cls, settings: RulebookSettings | None, **options) -> "ReportOptions":
        """Options following the rulebook that scored the conversations: its pass mark, the time limits of its
        timing rules (else the defaults), min_n and dimensions."""
        if settings is None:
            return cls(**options)
        return cls(pass_mark=float(settings.pass_mark),
                   first_response_limit_s=float(settings.first_response_limit_s or cls.first_response_limit_s),
                   reply_limit_s=float(settings.reply_limit_s or cls.reply_limit_s),
                   min_n=settings.min_n, dimensions=tuple(settings.dimensions), **options)


# ---------------------------------------------------------------------------- small helpers
def _bool(series: pd.Series) -> pd.Series:
    """True/False from bool, 'True'/'False' strings or 1/0; missing stays <NA>."""
    if series.dtype == bool:
        return series.astype("boolean")
    if isinstance(series.dtype, pd.BooleanDtype):  # what `conv` below gives value by value
        return series.copy()
    mapping = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False}

    def conv(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return bool(v)
        return mapping.get(str(v).strip().lower(), pd.NA)

    return series.map(conv).astype("boolean")


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


def _pct(k, n, digits: int = 0) -> str:
    return f"{100 * k / n:.{digits}f}%" if n else "—"


def check_zh(check: str) -> str:
    return CHECK_NAMES_ZH.get(check, check)


def category_zh(code) -> str:
    if code is None or code is pd.NA or (isinstance(code, float) and np.isnan(code)) or code == "":
        return "未分类"
    return CATEGORY_NAMES_ZH.get(code, str(code))


@functools.cache
def report_template():
    """report.html's compiled Jinja2 template, compiled once per process (~0.15 s of CPU). The output
    jobs' fork server compiles it before it forks them (`csqa.outputs.jobs._PRELOAD`)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2")


def map_distinct(values: pd.Series, f) -> pd.Series:
    """`values.map(f)` calling f once per distinct value, not once per row (a column of a few
    names over 20k rows: the big report.xlsx sheets); the same values and dtype."""
    if values.empty or isinstance(values.dtype, pd.CategoricalDtype):  # (the latter maps its categories only)
        return values.map(f)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    shown = np.empty(len(uniques), dtype=object)
    shown[:] = [f(u) for u in uniques]
    return pd.Series(shown[codes], index=values.index, name=values.name)


def _floats(values) -> np.ndarray:
    """Numbers of a Series (anything not numeric as NaN), or a float array as it is."""
    if isinstance(values, np.ndarray) and values.dtype == float:
        return values
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _quantile(values: pd.Series | np.ndarray, q: float):
    v = _floats(values)
    v = v[~np.isnan(v)]
    return round(float(np.quantile(v, q)), 1) if len(v) else None


# ---------------------------------------------------------------------------- preparing frames
def _prepare(conversations: pd.DataFrame, findings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    conv = _prepare_conversations(conversations)
    return conv, _prepare_findings(findings, _agent_of(conv))


def _prepare_conversations(conversations: pd.DataFrame) -> pd.DataFrame:
    # (no deep copy: with copy-on-write the caller's frame is never changed by the assignments below,
    # and a copy of every column would be held beside the caller's for the whole report)
    conv = conversations.reset_index(drop=True)
    conv["conversation_id"] = conv["conversation_id"].astype(str)
    conv["agent_id"] = conv["agent_id"].fillna("").astype(str)
    conv["score"] = pd.to_numeric(conv["score"], errors="coerce").astype(float)
    conv["passed"] = _bool(conv["passed"]).fillna(False).astype(bool)
    conv["critical"] = _bool(conv["critical"]).fillna(False).astype(bool)
    for col in ("complaint", "resolved", "unhappy_end"):  # unknown (NA) where a run or an older store has none
        conv[col] = _bool(conv[col]) if col in conv else pd.array([pd.NA] * len(conv), dtype="boolean")
    for col in ("complaint_category", "complaint_severity"):
        conv[col] = conv[col].fillna("").astype(str) if col in conv else ""
    for col in ("first_response_s", "mean_response_s"):
        conv[col] = pd.to_numeric(conv[col], errors="coerce")
    conv["_t"] = pd.to_datetime(conv["started_at"].replace("", None), errors="coerce")
    conv["_day"] = conv["_t"].dt.strftime("%Y-%m-%d")
    return conv


def _agent_of(conv: pd.DataFrame) -> dict[str, str]:
    """{conversation_id: agent_id} (lists first: iterating Arrow-backed columns is slow)."""
    return dict(zip(conv["conversation_id"].tolist(), conv["agent_id"].tolist()))


def _prepare_findings(findings: pd.DataFrame, agent_of: dict[str, str]) -> pd.DataFrame:
    # (no deep copy, as in `_prepare_conversations`: at 200k conversations the findings are 1.3M rows)
    fnd = findings.reset_index(drop=True)
    if fnd.empty:
        fnd = pd.DataFrame(columns=list(findings.columns) or ["conversation_id", "rule_id", "rule_name", "check",
                                                               "severity", "points", "message_index"])
    fnd["conversation_id"] = fnd["conversation_id"].astype(str)
    fnd["points"] = pd.to_numeric(fnd["points"], errors="coerce").fillna(0.0).astype(float)
    fnd["message_index"] = pd.to_numeric(fnd["message_index"], errors="coerce").astype("Int64")
    fnd["_conv_agent"] = _agents_of_rows(fnd["conversation_id"], agent_of)
    return fnd


def _agents_of_rows(conversation_ids: pd.Series, agent_of: dict[str, str]):
    """The conversation's agent for each row ("" when unknown), looked up once per distinct id:
    a Python string per row (1.3M findings at 200k conversations) would be the report's largest object."""
    codes, distinct = pd.factorize(conversation_ids)
    agents = pd.array([agent_of.get(c, "") for c in distinct.tolist()], dtype=conversation_ids.dtype)
    return agents.take(codes, allow_fill=True, fill_value="")  # (code -1: a missing id)


def _not_applicable_pairs(conv: pd.DataFrame) -> pd.DataFrame:
    """(agent_id, rule_id) for every conversation a rule did not apply to (from `not_applicable`)."""
    if "not_applicable" not in conv.columns:
        return pd.DataFrame({"agent_id": pd.Series(dtype=str), "rule_id": pd.Series(dtype=str)})
    agents, rules = [], []
    for agent, codes in zip(conv["agent_id"].tolist(), conv["not_applicable"].fillna("").astype(str).tolist()):
        if codes:
            # a conversation lists a rule once; drop repeats all the same, as the split-and-test did
            for code in dict.fromkeys(codes.split(";")):
                if code:
                    agents.append(agent)
                    rules.append(code)
    return pd.DataFrame({"agent_id": pd.Series(agents, dtype=str), "rule_id": pd.Series(rules, dtype=str)})


def _applicable_n(conv: pd.DataFrame, rule_ids) -> dict[str, int]:
    """Per rule, the number of conversations it applied to (all of them without `not_applicable`)."""
    n = len(conv)
    not_applied = _not_applicable_pairs(conv)["rule_id"].value_counts()
    return {r: int(n - not_applied.get(r, 0)) for r in rule_ids}


def _lost(fnd: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The findings that cost points (not bonus), only `columns`: a filtered copy of every column
    of 1.3M findings (200k conversations) would be held beside them."""
    return fnd.loc[fnd["severity"] != "bonus", columns]


def rule_statistics(conv: pd.DataFrame, fnd: pd.DataFrame) -> pd.DataFrame:
    """Per rule: conversations it fired in, its n (conversations it applied to), rate, findings, points lost."""
    cols = ["rule_id", "rule_name", "check", "check_zh", "conversations", "n", "rate", "findings", "points_lost"]
    lost = _lost(fnd, ["rule_id", "rule_name", "check", "conversation_id", "points"])
    if lost.empty:
        return pd.DataFrame(columns=cols)
    g = lost.groupby(["rule_id", "rule_name", "check"], sort=False)
    stats = pd.DataFrame({"conversations": g["conversation_id"].nunique(), "findings": g.size(),
                          "points_lost": g["points"].sum().round(2)}).reset_index()
    stats[["rule_id", "rule_name", "check"]] = stats[["rule_id", "rule_name", "check"]].astype(str)  # may come categorical
    n_of = _applicable_n(conv, stats["rule_id"].tolist())
    stats["n"] = stats["rule_id"].map(n_of).astype("int64")
    stats["n"] = stats[["n", "conversations"]].max(axis=1)
    stats["rate"] = (stats["conversations"] / stats["n"].where(stats["n"] > 0)).round(4)
    stats["check_zh"] = stats["check"].map(check_zh)
    stats = stats.sort_values(["rate", "conversations", "rule_id"], ascending=[False, False, True])
    return stats[cols].reset_index(drop=True)


def agent_rule_rates(conv: pd.DataFrame, fnd: pd.DataFrame) -> pd.DataFrame:
    """Per (agent, rule): conversations of the agent in which the rule fired, the agent's n, rate."""
    lost = _lost(fnd, ["_conv_agent", "rule_id", "rule_name", "check", "conversation_id"])
    cols = ["agent_id", "rule_id", "rule_name", "check", "conversations", "n", "rate"]
    if lost.empty:
        return pd.DataFrame(columns=cols)
    hits = (lost.groupby(["_conv_agent", "rule_id", "rule_name", "check"])["conversation_id"].nunique()
            .reset_index(name="conversations").rename(columns={"_conv_agent": "agent_id"}))
    keys = ["agent_id", "rule_id", "rule_name", "check"]
    hits[keys] = hits[keys].astype(str)  # may come categorical
    if "not_applicable" in conv.columns:
        per_agent = conv.groupby("agent_id").size()
        not_applied = _not_applicable_pairs(conv).groupby(["agent_id", "rule_id"]).size()
        per_agent, not_applied = per_agent.to_dict(), not_applied.to_dict()  # (Series.get per row is slow)
        hits["n"] = [int(per_agent.get(a, 0)) - int(not_applied.get((a, r), 0))
                     for a, r in zip(hits["agent_id"].tolist(), hits["rule_id"].tolist())]
        hits["n"] = hits["n"].astype("int64")
    else:
        hits["n"] = hits["agent_id"].map(conv.groupby("agent_id").size()).fillna(0).astype("int64")
    hits["n"] = hits[["n", "conversations"]].max(axis=1)
    hits["rate"] = (hits["conversations"] / hits["n"].where(hits["n"] > 0)).round(4)
    return hits[cols]


def agent_ranking(conv: pd.DataFrame, fnd: pd.DataFrame, agents: pd.DataFrame | None, options: ReportOptions) -> pd.DataFrame:
    """Agents ranked by the 95 % Wilson lower bound of their pass rate (ties: mean score, id)."""
    from csqa.results.tables import agents_table

    conv_agents = set(conv["agent_id"].unique().tolist())
    if agents is None or agents.empty or not conv_agents <= set(agents["agent_id"].astype(str).tolist()):
        agents = agents_table(conv.drop(columns=["_t", "_day"]), fnd.drop(columns=["_conv_agent"]), options.min_n)
    base = agents.copy()
    base["agent_id"] = base["agent_id"].astype(str)
    base = base[base["agent_id"].isin(conv_agents)]
    g = conv.groupby("agent_id")
    derived = pd.DataFrame({
        "conversations": g.size(),
        "passed": g["passed"].sum().astype("int64"),
        "mean_score": g["score"].mean().round(1),
        "critical_conversations": g["critical"].sum().astype("int64"),
        "complaints": g["complaint"].apply(lambda s: int(s.fillna(False).sum())),
        "classified": g["complaint"].apply(lambda s: int(s.notna().sum())),
        "resolved_n": g["resolved"].apply(lambda s: int(s.fillna(False).sum())),
        "outcome_judged": g["resolved"].apply(lambda s: int(s.notna().sum())),
        "unhappy_n": g["unhappy_end"].apply(lambda s: int(s.fillna(False).sum())),
        "median_first_response_s": g["first_response_s"].median().round(1),
        "median_response_s": g["mean_response_s"].median().round(1),
    })
    extra = [c for c in base.columns if c not in derived.columns]
    out = derived.reset_index().merge(base[extra], on="agent_id", how="left")
    for col, default in (("findings", 0), ("serious_complaints", 0), ("top_failed_check", "")):
        if col not in out.columns:
            out[col] = default
        out[col] = out[col].fillna(default)
    out["pass_rate"] = (out["passed"] / out["conversations"]).round(4)
    judged = out["outcome_judged"].where(out["outcome_judged"] > 0)
    out["resolution_rate"] = (out["resolved_n"] / judged).round(4)
    out["unhappy_rate"] = (out["unhappy_n"] / judged).round(4)
    cis = [wilson_interval(k, n, options.z) for k, n in zip(out["passed"], out["conversations"])]
    out["pass_rate_low95"] = [round(c[0], 4) if c else None for c in cis]
    out["pass_rate_high95"] = [round(c[1], 4) if c else None for c in cis]
    out["small_sample"] = out["conversations"] < options.min_n
    out = out.sort_values(["pass_rate_low95", "mean_score", "agent_id"], ascending=[False, False, True])
    out["rank"] = range(1, len(out) + 1)
    return out.reset_index(drop=True)


def _rows_by_agent(agent_rules: pd.DataFrame) -> dict[str, list[dict]]:
    """`agent_rule_rates` rows as plain dicts per agent, in frame order."""
    by: dict[str, list[dict]] = {}
    if not agent_rules.empty:
        for r in _records(agent_rules):
            by.setdefault(r["agent_id"], []).append(r)
    return by


def _sorted_desc(rows: list[dict], *keys: str) -> list[dict]:
    """rows by `keys`, largest first, ties in their order: what a multi-column
    DataFrame.sort_values(ascending=False) gives (a stable lexsort)."""
    return sorted(rows, key=lambda r: tuple(-r[k] for k in keys))


def _focus(agent_rules: list[dict] | None, team_rates: dict[str, float], k: int = 3) -> list[dict]:
    """The checks where an agent (`agent_rules`: that agent's rows) is most above the team's rate: what to coach on."""
    if not agent_rules:
        return []
    rows = []
    for r in agent_rules:
        team = team_rates.get(r["rule_id"])
        team = 0.0 if team is None or team != team else team  # no team rate counts as 0
        excess = r["rate"] - team
        if excess > 0.05 and r["conversations"] >= 2:
            rows.append(r | {"team": team, "excess": excess})
    return [{"rule_id": r["rule_id"], "name": r["rule_name"], "check": check_zh(r["check"]), "k": int(r["conversations"]),
             "n": int(r["n"]), "rate": r["rate"], "team": r["team"],
             "text": f"{r['rule_name']} {_pct(r['conversations'], r['n'])} ({int(r['conversations'])}/{int(r['n'])}) · 团队 {r['team']:.0%}"}
            for r in _sorted_desc(rows, "excess", "conversations")[:k]]


# ---------------------------------------------------------------------------- charts
def _score_histogram(scores: pd.Series, pass_mark: float, label: str) -> Markup:
    s = pd.to_numeric(scores, errors="coerce").dropna()
    edges = list(range(0, 101, 10))
    bins = []
    for lo in edges[:-1]:
        hi = lo + 10
        count = int(((s >= lo) & ((s < hi) if hi < 100 else (s <= hi))).sum())
        bins.append(Bin(f"{lo}–{hi}", count, GREEN if lo >= pass_mark else (RED if lo < 60 else AMBER),
                        f"{lo}–{hi} 分: {count} 个会话 ({_pct(count, len(s))}, n={len(s)})"))
    return charts.histogram(bins, label, marker=(pass_mark / 10, f"合格线 {pass_mark:g}"))


def _time_histogram(values: pd.Series | np.ndarray, edges: list[float], limit: float, label: str) -> Markup:
    v = _floats(values)
    v = v[~np.isnan(v)]
    bins = []
    limit_pos = None
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        if lo == limit:
            limit_pos = i
        mask = (v >= lo) & ((v < hi) if hi is not None else True)
        count = int(mask.sum())
        text = f"{lo:g}–{hi:g}秒" if hi is not None else f"≥{lo:g}秒"
        bins.append(Bin(text, count, RED if lo >= limit else BLUE, f"{text}: {count} 个会话 ({_pct(count, len(v))}, n={len(v)})"))
    return charts.histogram(bins, label, marker=(limit_pos, f"时限 {limit:g}秒") if limit_pos is not None else None)


def _trend_points(conv: pd.DataFrame, key: pd.Series) -> tuple[list[Point], list[Point]]:
    df = conv.assign(_k=key).dropna(subset=["_k"])
    if df.empty:
        return [], []
    g = df.groupby("_k", sort=True)
    score, passed, n = g["score"].mean(), g["passed"].sum(), g.size()
    return _points(score.index.tolist(), score.tolist(), passed.tolist(), n.tolist())


def _points(keys: list, score: list, passed: list, n: list) -> tuple[list[Point], list[Point]]:
    """Mean score and pass-rate points of periods `keys` (with their summed passed and n)."""
    pts = [Point(str(k)[5:] if len(str(k)) == 10 else str(k), float(s), int(c), f"{k}: 平均分 {s:.1f} (n={c})")
           for k, s, c in zip(keys, score, n)]
    rate = [Point(p.x, 100 * float(ok) / int(c), int(c), f"{k}: 合格率 {rate_text(ok, c)}")
            for p, k, ok, c in zip(pts, keys, passed, n)]
    return pts, rate


def _agent_day_points(conv: pd.DataFrame) -> dict[str, tuple[list[Point], list[Point]]]:
    """Per agent, what `_trend_points(agent's conversations, their _day)` gives, from one grouping.

    Grouping by (agent, day) sums and averages each agent-day's rows in the same order as
    grouping one agent's rows by day, so the numbers are the same."""
    df = conv.dropna(subset=["_day"])
    if df.empty:
        return {}
    g = df.groupby(["agent_id", "_day"], sort=True)
    score, passed, n = g["score"].mean(), g["passed"].sum(), g.size()
    columns: dict[str, tuple[list, list, list, list]] = {}
    for (agent, day), s, ok, c in zip(score.index.tolist(), score.tolist(), passed.tolist(), n.tolist()):
        keys, ss, oks, cs = columns.setdefault(agent, ([], [], [], []))
        keys.append(day), ss.append(s), oks.append(ok), cs.append(c)
    return {a: _points(*cols) for a, cols in columns.items()}


def _day_range_points(conv: pd.DataFrame, days: list[str], points=None) -> tuple[list[Point], list[Point]]:
    """Daily points over the full range of days (empty days break the line); `points`: the
    (score, rate) points per day already computed."""
    pts, rate = points if points is not None else _trend_points(conv, conv["_day"])
    by = {p.x: (p, r) for p, r in zip(pts, rate)}
    out_p, out_r = [], []
    for d in days:
        x = d[5:]
        if x in by:
            out_p.append(by[x][0]), out_r.append(by[x][1])
        else:
            out_p.append(Point(x, None, 0, f"{d}: 无会话")), out_r.append(Point(x, None, 0, ""))
    return out_p, out_r


def _trend_chart(pts, rate, label, pass_mark, show_rate: bool = True) -> Markup:
    """Mean score (and pass rate, for the team) per period; n under each point."""
    return charts.line_chart(pts, label, ref=(pass_mark, f"合格线 {pass_mark:g}"), second=rate if show_rate else None,
                             first_label="平均分", second_label="合格率%" if show_rate else "", show_n=True)


def _complaint_mix(conv: pd.DataFrame) -> dict:
    classified = conv[conv["complaint"].notna()]
    n = len(classified)
    if not n:
        return {"n": 0, "chart": None, "rows": []}
    by_category: dict[str, dict[str, int]] = {}
    for (code, sev), k in classified.groupby(["complaint_category", "complaint_severity"]).size().items():
        by_category.setdefault(code, {})[sev] = int(k)
    rows, chart_rows = _mix_rows(by_category, n), []
    for r in rows:
        code, name, k, normal, serious = r["code"], r["name"], r["k"], r["normal"], r["serious"]
        if code == "none":
            segs = [Segment(k, GREY, f"{name}: {k} ({_pct(k, n)})")]
        else:
            segs = [Segment(serious, RED, f"{name} · 重大投诉: {serious}"),
                    Segment(normal, AMBER, f"{name} · 一般投诉: {normal}"),
                    Segment(k - normal - serious, GREY, f"{name} · 其他: {k - normal - serious}")]
        chart_rows.append((name, segs, rate_text(k, n)))
    peak = max(r["k"] for r in rows) or 1
    chart = charts.stacked_hbars(chart_rows, f"投诉构成 (n={n})", total=peak,
                                 legend=[("重大投诉", RED), ("一般投诉", AMBER), ("非投诉", GREY)])
    return {"n": n, "chart": chart, "rows": rows,
            "complaints": int(classified["complaint"].fillna(False).sum()),
            "serious": int((classified["complaint_severity"] == "serious").sum())}


def _mix_rows(by_category: dict[str, dict[str, int]], n: int) -> list[dict]:
    """One row per complaint category from {category: {severity: conversations}} of n classified ones."""
    rows = []
    for code, name in CATEGORY_NAMES_ZH.items():
        by_sev = by_category.get(code, {})
        k = sum(by_sev.values())
        normal = by_sev.get("normal", 0)
        serious = by_sev.get("serious", 0)
        rows.append({"code": code, "name": name, "k": k, "n": n, "rate": k / n, "normal": normal, "serious": serious,
                     "text": rate_text(k, n)})
    return rows


def _agent_mixes(conv: pd.DataFrame) -> dict[str, dict]:
    """Per agent, the n, rows and complaints of `_complaint_mix(agent's conversations)` (no chart), from one grouping."""
    classified = conv[conv["complaint"].notna()]
    if classified.empty:
        return {}
    counts: dict[str, dict[str, dict[str, int]]] = {}
    size = classified.groupby(["agent_id", "complaint_category", "complaint_severity"]).size()
    for (agent, code, sev), k in zip(size.index.tolist(), size.tolist()):
        if k:
            counts.setdefault(agent, {}).setdefault(code, {})[sev] = int(k)
    n_of = classified.groupby("agent_id").size().to_dict()
    complaints = classified["complaint"].fillna(False).astype(bool).groupby(classified["agent_id"]).sum().to_dict()
    return {a: {"n": int(n), "rows": _mix_rows(counts.get(a, {}), int(n)), "complaints": int(complaints[a])}
            for a, n in n_of.items()}


# ---------------------------------------------------------------------------- drill-down
def _drill_ids(conv: pd.DataFrame, ranking: pd.DataFrame, options: ReportOptions) -> list[str]:
    ordered = conv.sort_values(["score", "conversation_id"])
    chosen: list[str] = []
    seen = set()

    def add(ids):
        for cid in ids:
            if cid not in seen and len(chosen) < options.max_drilldown:
                seen.add(cid)
                chosen.append(cid)

    add(ordered.loc[ordered["critical"], "conversation_id"].tolist())
    add(ordered.loc[ordered["complaint_severity"] == "serious", "conversation_id"].tolist())
    # each agent's first drilldown_per_agent conversations in `ordered`, grouped in one pass
    head = ordered.groupby("agent_id", sort=False).head(options.drilldown_per_agent)
    per_agent: dict[str, list[str]] = {}
    for agent, cid in zip(head["agent_id"].tolist(), head["conversation_id"].tolist()):
        per_agent.setdefault(agent, []).append(cid)
    for agent in ranking["agent_id"].tolist():
        add(per_agent.get(agent, []))
    return chosen


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts, built column by column (much faster than itertuples on Arrow-backed frames)."""
    cols = list(df.columns)
    return [dict(zip(cols, row)) for row in zip(*(df[c].tolist() for c in cols))] if len(df) else []


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _drilldown(conv: pd.DataFrame, fnd: pd.DataFrame, msgs: pd.DataFrame, ids: list[str], anchors: dict[str, str]) -> list[dict]:
    wanted = set(ids)  # only the conversations shown: grouping all of a big run is the slow part
    by_conv: dict[str, list[dict]] = {}
    for f in _records(fnd[fnd["conversation_id"].isin(wanted)] if not fnd.empty else fnd):
        by_conv.setdefault(f["conversation_id"], []).append(f)
    by_msgs: dict[str, list[dict]] = {}
    for m in _records(msgs[msgs["conversation_id"].isin(wanted)] if not msgs.empty else msgs):
        by_msgs.setdefault(str(m["conversation_id"]), []).append(m)
    row_of = {r["conversation_id"]: r for r in _records(conv[conv["conversation_id"].isin(wanted)])}
    out = []
    for cid in sorted(ids, key=lambda c: (float(row_of[c]["score"]), c)):
        r = row_of[cid]
        ledger = []
        marks: dict[int, list[Mark]] = {}
        flags: dict[int, list[dict]] = {}
        total = 0.0
        for no, f in enumerate(by_conv.get(cid, []), start=1):
            points = float(f["points"])
            total += points
            sev = str(f["severity"])
            mi = None if _missing(f["message_index"]) else int(f["message_index"])
            entry = {"no": no, "rule_id": f["rule_id"], "rule_name": f["rule_name"], "check": check_zh(f["check"]),
                     "severity": sev, "severity_zh": SEVERITY_ZH.get(sev, sev), "points": points,
                     "message_index": mi, "explanation": f["explanation"], "evidence": f.get("evidence", ""),
                     "timestamp": f.get("timestamp", "")}
            ledger.append(entry)
            title = f"{no}. {f['rule_id']} {f['rule_name']}: {f['explanation']} ({'+' if points < 0 else '−'}{abs(points):g} 分)"
            hs, he = f.get("hl_start"), f.get("hl_end")
            hs = None if _missing(hs) else int(hs)
            he = None if _missing(he) else int(he)
            if mi is not None and hs is not None and he is not None:
                css = "hl-critical" if sev == "critical" else ("hl-bonus" if sev == "bonus" else "hl")
                marks.setdefault(mi, []).append(Mark(hs, he, str(no), title, css))
            elif mi is not None:
                flags.setdefault(mi, []).append(entry | {"title": title})
        score = float(r["score"])
        transcript = []
        for msg in sorted(by_msgs.get(cid, []), key=lambda m: int(m["message_index"])):
            idx = int(msg["message_index"])
            transcript.append({"index": idx, "role": msg["role"], "role_zh": role_zh(msg["role"]), "agent_id": msg["agent_id"],
                               "timestamp": msg["timestamp"], "html": highlight_html(msg["text"], marks.get(idx, [])),
                               "flags": flags.get(idx, []), "has_marks": bool(marks.get(idx))})
        out.append({
            "id": cid, "anchor": anchors[cid], "agent_id": r["agent_id"], "score": score, "passed": bool(r["passed"]),
            "critical": bool(r["critical"]), "started_at": r["started_at"], "n_messages": r.get("n_messages"),
            "category": category_zh(r["complaint_category"]) if r["complaint_category"] else "",
            "severity": SEVERITY_NAMES_ZH.get(r["complaint_severity"], ""),
            "ledger": ledger, "lost": round(total, 2), "adds_up": abs(100 - total - score) < 0.011,
            "transcript": transcript,
        })
    return out


# ---------------------------------------------------------------------------- sheets
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


# ---------------------------------------------------------------------------- the report
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


def _details(fnd: pd.DataFrame, ids: list[str] | None, finding_details, conv: pd.DataFrame) -> pd.DataFrame:
    """Full findings rows of these conversations (all when ids is None), in run order, prepared like `fnd`."""
    if finding_details is None:
        return fnd if ids is None else fnd[fnd["conversation_id"].isin(set(ids))]
    return _prepare_findings(finding_details(ids), _agent_of(conv))


def _details_pair(fnd: pd.DataFrame, ids: list[str], more_ids: list[str] | None, finding_details,
                  conv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`_details` of `ids` and of `more_ids` (None: all), reading the spool once for both.

    Rows are kept per conversation and prepared row by row, so taking each set out of
    the rows of both gives the same rows in the same order; an empty set is read on its own
    (an empty read has its own column types)."""
    if finding_details is None:
        return _details(fnd, ids, None, conv), _details(fnd, more_ids, None, conv)
    both = _details(fnd, None if more_ids is None else list(dict.fromkeys(ids + more_ids)), finding_details, conv)

    def subset(wanted):
        if wanted is None:
            return both
        part = both[both["conversation_id"].isin(set(wanted))].reset_index(drop=True)
        return part if len(part) else _details(fnd, wanted, finding_details, conv)

    return subset(ids), subset(more_ids)


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
