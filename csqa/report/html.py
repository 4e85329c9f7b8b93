"""report.html: one self-contained page (no network needed); all chat text escaped by Jinja2 autoescape."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if (v is pd.NA) else v) for k, v in row.items()} for row in df.to_dict("records")]


def render_html(summary: dict, conversations: pd.DataFrame, findings: pd.DataFrame, agents: pd.DataFrame,
                checks: pd.DataFrame, worst_n: int = 20) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    worst_ids = conversations.sort_values(["score", "conversation_id"]).head(worst_n)
    by_conv = {cid: _records(g) for cid, g in findings.groupby("conversation_id", sort=False)} if not findings.empty else {}
    worst = []
    for row in _records(worst_ids):
        row["findings"] = by_conv.get(row["conversation_id"], [])
        worst.append(row)
    ranked = agents.sort_values(["mean_score", "agent_id"], ascending=[False, True])
    return env.get_template("report.html.j2").render(
        summary=summary, checks=_records(checks), agents=_records(ranked), worst=worst
    )
