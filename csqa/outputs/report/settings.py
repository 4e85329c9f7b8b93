"""What a report needs of the rulebook that scored a run: kept in run.json and the store's runs,
read back by `csqa report` (the latest run's rulebook is the one in force)."""
from __future__ import annotations

import json


def rulebook_report_settings(rulebook) -> dict:
    """What a report needs of the rulebook that scored a run (kept in run.json and the store's runs): the pass
    mark, the time limits of its timing rules and its scorecard dimensions."""
    firsts = [r.timing.first_response_s for r in rulebook.rules if r.enabled and r.timing and r.timing.first_response_s]
    replies = [r.timing.response_s for r in rulebook.rules if r.enabled and r.timing and r.timing.response_s]
    return {"pass_mark": rulebook.settings.pass_mark,
            "first_response_limit_s": min(firsts) if firsts else None,
            "reply_limit_s": min(replies) if replies else None,
            "dimensions": [{"id": d.id, "name": d.name, "weight": d.weight} for d in rulebook.dimensions]}


def report_settings_of(rulebook_entry: dict) -> dict:
    """The report settings of a manifest's rulebook entry (older runs have none: the report's defaults)."""
    return {k: rulebook_entry[k] for k in ("pass_mark", "first_response_limit_s", "reply_limit_s", "dimensions")
            if rulebook_entry.get(k) is not None}


def latest_report_settings(runs) -> dict:
    """The report settings of the latest run of a store selection (its rulebook is the one in force)."""
    for manifest in reversed(list(runs["manifest"])) if "manifest" in runs else ():
        try:
            settings = report_settings_of(json.loads(manifest).get("rulebook") or {})
        except (TypeError, ValueError):
            continue
        if settings:
            return settings
    return {}
