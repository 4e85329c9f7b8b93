"""The report's charts from the prepared frames (`frames`): score and response-time histograms, trend
points by day, week or month (team and per agent), complaint mixes, drawn as SVG by `charts`; and the
rounded quantiles quoted beside them.

Uses `charts` and `labels`; `build` places the figures on the page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from csqa.outputs.report import charts
from csqa.outputs.report.charts import AMBER, BLUE, GREEN, GREY, RED, Bin, Point, Segment
from csqa.outputs.report.labels import CATEGORY_NAMES_ZH, _pct
from csqa.results.stats import rate_text


def _floats(values) -> np.ndarray:
    """Numbers of a Series (anything not numeric as NaN), or a float array as it is."""
    if isinstance(values, np.ndarray) and values.dtype == float:
        return values
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _quantile(values: pd.Series | np.ndarray, q: float):
    v = _floats(values)
    v = v[~np.isnan(v)]
    return round(float(np.quantile(v, q)), 1) if len(v) else None


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
