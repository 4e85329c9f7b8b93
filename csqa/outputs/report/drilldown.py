"""The report's drill-down: which conversations are shown in full (red lines, serious complaints, each
agent's worst), and each one's points ledger beside its transcript with the findings highlighted.

Uses `frames`, `labels`, `highlight` and `options`; `build` renders what it returns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from csqa.outputs.report.frames import _records
from csqa.outputs.report.highlight import Mark, highlight_html, role_zh
from csqa.outputs.report.labels import SEVERITY_NAMES_ZH, SEVERITY_ZH, category_zh, check_zh
from csqa.outputs.report.options import ReportOptions


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
