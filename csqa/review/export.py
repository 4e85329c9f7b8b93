"""Verdicts become data (`csqa review export --store PATH -o DIR`).

- ``complaint_labels.csv``: reviewers' complaint labels on customer messages, in the columns of
  the complaint corpus (corpora/complaints/complaints.csv: text, context, category, severity,
  style, domain, family, writer) — the customer message (masked) and the agent message before it.
  `csqa train` can learn from it beside the corpus.
- ``rule_examples.yaml``: per rule, candidate ``examples`` from reviews — a finding confirmed a
  false positive (误报, or overturned on appeal) becomes a ``pass`` example (the rule must not fire
  on it), a miss a reviewer added (漏检) a ``fail`` example (it must). An example is the
  conversation up to the message (the whole conversation for a rule about the conversation),
  with times, as the rulebook writes conversation examples. `csqa rules test --examples
  rule_examples.yaml` runs them beside the rulebook's own: a rule that still fires on its
  confirmed false positives shows up there.
- ``rule_examples.csv``: the same, one row per example, with where it came from.

The texts are the store's (masked when the run was masked): the rules about personal data —
privacy_leak (RED-003) and off_platform (RED-004) look at phone numbers, accounts and contact
cues that masking hides — are left out of the examples and listed in ``skipped`` with the reason.
"""
from __future__ import annotations

import csv
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.core.errors import ConfigError
from csqa.review.db import connect

# checks whose verdict depends on what masking hides (digits, accounts, contact cues)
MASK_SENSITIVE_CHECKS = ("privacy_leak", "off_platform")
LABEL_COLUMNS = ["text", "context", "category", "severity", "style", "domain", "family", "writer"]
EXAMPLE_COLUMNS = ["rule_id", "expected", "finding_id", "conversation_id", "message_index", "reviewer", "comment",
                   "example"]
MAX_TURNS = 40


@dataclass
class ExportResult:
    outdir: Path
    labels: int = 0
    examples: dict[str, dict[str, int]] = field(default_factory=dict)  # rule → {"pass": n, "fail": n}
    skipped: list[str] = field(default_factory=list)

    def text(self) -> str:
        n_pass = sum(v.get("pass", 0) for v in self.examples.values())
        n_fail = sum(v.get("fail", 0) for v in self.examples.values())
        lines = [f"投诉标注 {self.labels} 条 → {self.outdir / 'complaint_labels.csv'}",
                 f"规则示例 {len(self.examples)} 条规则: pass (确认误报) {n_pass} 个，fail (漏检) {n_fail} 个 → "
                 f"{self.outdir / 'rule_examples.yaml'}"]
        lines += [f"  跳过: {s}" for s in self.skipped]
        return "\n".join(lines)


def _conversation_turns(messages: pd.DataFrame, upto: int | None) -> list[dict]:
    rows = messages if upto is None else messages[messages["message_index"] <= upto]
    rows = rows[rows["role"].isin(["agent", "customer"])].tail(MAX_TURNS)
    turns = []
    for m in rows.itertuples(index=False):
        turn = {m.role: str(m.text or "")}
        if m.timestamp is not None and not pd.isna(m.timestamp):
            turn["time"] = pd.Timestamp(m.timestamp).strftime("%Y-%m-%d %H:%M:%S")
        turns.append(turn)
    return turns


def _messages(con, conversation_ids) -> dict[str, pd.DataFrame]:
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    con.register("review_export_ids", pd.DataFrame({"conversation_id": pd.Series(ids, dtype=object)}))
    try:
        frame = con.execute("""SELECT m.conversation_id, m.message_index, m.role, m.text, m."timestamp"
                               FROM messages m JOIN conversations c USING (conversation_id, run_id)
                               JOIN review_export_ids USING (conversation_id)
                               ORDER BY m.conversation_id, m.message_index""").df()
    finally:
        con.unregister("review_export_ids")
    return {cid: g for cid, g in frame.groupby("conversation_id", sort=False)}


def collect(con) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(label rows, example rows, skipped notes) from the store as it is now."""
    from csqa.review.human_score import human_scores
    from csqa.review.tables import has_review_tables

    if not has_review_tables(con):
        return pd.DataFrame(columns=LABEL_COLUMNS), pd.DataFrame(columns=EXAMPLE_COLUMNS), []
    checks = dict(con.execute("SELECT rule_id, any_value(\"check\") FROM findings GROUP BY rule_id").fetchall())
    scores = human_scores(con, None)
    picked = []  # (rule, expected, line, conversation)
    for cid, hs in scores.items():
        for line in hs.lines:
            if line.status in ("false_positive", "overturned") and line.machine_points is not None:
                picked.append((line.rule_id, "pass", line, cid))
            elif line.status == "missed":
                picked.append((line.rule_id, "fail", line, cid))
    labels = con.execute("""SELECT conversation_id, message_index, category, severity, reviewer
                            FROM review_current_labels ORDER BY event_id""").fetchall()
    messages = _messages(con, {p[3] for p in picked} | {r[0] for r in labels})
    skipped: dict[str, int] = {}
    examples = []
    for rule, expected, line, cid in picked:
        check = checks.get(rule)
        if check is None:  # (a miss of a rule the machine never fired)
            from csqa.review.human_score import Scorecards

            card = Scorecards(con)(scores[cid].run_id)
            check = card.by_code[rule].check if rule in card.by_code else ""
        if check in MASK_SENSITIVE_CHECKS:
            skipped[rule] = skipped.get(rule, 0) + 1
            continue
        turns = _conversation_turns(messages.get(cid, pd.DataFrame(columns=["message_index", "role", "text", "timestamp"])),
                                    line.message_index)
        if not any("agent" in t for t in turns):
            continue
        examples.append({"rule_id": rule, "expected": expected, "finding_id": line.finding_id, "conversation_id": cid,
                         "message_index": line.message_index, "reviewer": line.decided_by, "comment": line.comment,
                         "example": turns})
    label_rows = []
    for cid, index, category, severity, reviewer in labels:
        msgs = messages.get(cid)
        if msgs is None:
            continue
        here = msgs[msgs["message_index"] == index]
        if here.empty:
            continue
        before = msgs[(msgs["message_index"] < index) & (msgs["role"] == "agent")]
        label_rows.append({"text": str(here["text"].iloc[0] or ""),
                           "context": str(before["text"].iloc[-1] or "") if len(before) else "",
                           "category": category, "severity": severity, "style": "chat", "domain": "",
                           "family": "review", "writer": reviewer})
    notes = [f"{rule}: {n} 个 (个人信息类规则，打码后的文本无法复现其判断 / personal-data rule: masked text cannot "
             f"reproduce it)" for rule, n in sorted(skipped.items())]
    return (pd.DataFrame(label_rows, columns=LABEL_COLUMNS), pd.DataFrame(examples, columns=EXAMPLE_COLUMNS), notes)


def _rules_yaml(examples: pd.DataFrame) -> str:
    """rule_examples.yaml: {rules: {CODE: {pass: [...], fail: [...]}}} (JSON is YAML: no code runs on load)."""
    rules: dict[str, dict[str, list]] = {}
    for r in examples.itertuples(index=False):
        rules.setdefault(r.rule_id, {"pass": [], "fail": []})[r.expected].append(r.example)
    header = ("# csqa review export: candidate examples from reviews — pass: confirmed false positives, fail: misses.\n"
              "# Check them, then copy the ones you keep into the rulebook's `examples`;\n"
              "# csqa rules test --examples rule_examples.yaml runs them beside the rulebook's own.\n")
    return header + json.dumps({"rules": rules}, ensure_ascii=False, indent=1) + "\n"


def export(store, outdir: str | Path) -> ExportResult:
    """Write complaint_labels.csv, rule_examples.yaml and rule_examples.csv into `outdir` (each whole or not at all)."""
    from csqa.report.safety import safe_frame

    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"-o 需要一个目录 (收到已存在的文件 {outdir})")
    with connect(store) as con:
        labels, examples, skipped = collect(con)
    outdir.mkdir(parents=True, exist_ok=True)
    table = examples.assign(example=[json.dumps(e, ensure_ascii=False) for e in examples["example"]])
    files = {
        "complaint_labels.csv": lambda p: safe_frame(labels).to_csv(p, index=False, encoding="utf-8-sig",
                                                                    quoting=csv.QUOTE_MINIMAL),
        "rule_examples.csv": lambda p: safe_frame(table).to_csv(p, index=False, encoding="utf-8-sig"),
        "rule_examples.yaml": lambda p: p.write_text(_rules_yaml(examples), encoding="utf-8"),
    }
    for name, write in files.items():
        temp = outdir / f".{name}.csqa-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            write(temp)
            os.replace(temp, outdir / name)
        finally:
            if temp.exists():
                temp.unlink()
    result = ExportResult(outdir, labels=len(labels), skipped=skipped)
    for r in examples.itertuples(index=False):
        result.examples.setdefault(r.rule_id, {"pass": 0, "fail": 0})[r.expected] += 1
    return result


def with_examples(rulebook, path: str | Path):
    """The rulebook with the examples of a rule_examples.yaml (`export`) added to its rules' own."""
    import yaml

    from csqa.core.errors import InputError
    from csqa.rulebook.schema import Examples

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(path, f"无法读取示例文件 ({type(exc).__name__})；需要 csqa review export 写出的 rule_examples.yaml") from None
    extra = (data or {}).get("rules") if isinstance(data, dict) else None
    if not isinstance(extra, dict):
        raise InputError(path, "示例文件需要 rules: {规则编号: {pass: [...], fail: [...]}}")
    rules = []
    known = {r.code for r in rulebook.rules}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise InputError(path, f"规则库中没有规则 {', '.join(unknown[:10])}")
    for rule in rulebook.rules:
        more = extra.get(rule.code) or {}
        if more:
            try:
                examples = Examples.model_validate({"fail": [*rule.examples.fail, *(more.get("fail") or [])],
                                                    "pass": [*rule.examples.pass_, *(more.get("pass") or [])]})
            except ValueError as exc:
                raise InputError(path, f"规则 {rule.code} 的示例格式不对: {str(exc).splitlines()[0]}") from None
            rule = rule.model_copy(update={"examples": examples})
        rules.append(rule)
    return rulebook.model_copy(update={"rules": rules})
