"""The report's statistics tables from the prepared frames (`frames`): per rule, per (agent, rule), the
agents' ranking by the Wilson lower bound of their pass rate, and each agent's checks to coach on.

Uses `frames`, `labels` and `options`; the figures, the sheets and `build` read its tables.
"""
from __future__ import annotations

import pandas as pd

from csqa.outputs.report.frames import _lost, _records
from csqa.outputs.report.labels import _pct, check_zh
from csqa.outputs.report.options import ReportOptions
from csqa.results.stats import wilson_interval


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
