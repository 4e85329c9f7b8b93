"""Rule-change impact (`csqa rescore --store PATH --rulebook NEW.yaml -o DIR [--from --to] [--commit]`).

The stored conversations are scored again, from the transcripts the store keeps, with another
rulebook (and the complaint model `csqa score` uses by default, or ``--model`` / ``--no-model``),
deterministically; what changes is written to DIR:

- ``changes.csv``: every conversation that moves — ``conversation_id``, ``agent_id``,
  ``score_before``, ``score_after``, ``passed_before``, ``passed_after``, ``findings_added``,
  ``findings_removed`` (``RULE@message`` items, ``RULE`` for a conversation-level finding),
  ``reproducible`` (see below);
- ``rules.csv``: per rule, findings and conversations before and after, added and removed;
- ``summary.json``: the counts (conversations, moved, newly failed, newly passed, mean scores).

"Before" is what the store holds. Nothing in the store changes unless ``commit``: then the
new scores are recorded as a run (rows of the same conversation_id are replaced, as a scoring
replaces them); reviewers' verdicts on findings that no longer exist are then stale and ignored.

**What masked text cannot recompute.** A run scored with masking keeps only masked
transcripts: phone numbers, accounts and contact details are replaced by placeholders. The
checks that look at exactly those — ``privacy_leak`` (RED-003: did the agent leak personal data)
and ``off_platform`` (RED-004: did the agent move the customer off the platform) — and, to a
small degree, the complaint model, see something else in the masked text. To say which
conversations that touches, each conversation is also replayed with the rulebook that scored it
(its text is kept in the store): where the replay does not give the stored findings and score,
``reproducible`` is False and the summary counts them, so a move there may be the masking's and
not the rule change's. A store written with ``--no-mask`` replays exactly.
"""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csqa.core.errors import ConfigError

MASK_SENSITIVE_CHECKS = ("privacy_leak", "off_platform")
CHANGE_COLUMNS = ["conversation_id", "agent_id", "score_before", "score_after", "passed_before", "passed_after",
                  "findings_added", "findings_removed", "reproducible"]
RULE_COLUMNS = ["rule_id", "findings_before", "findings_after", "added", "removed", "conversations_before",
                "conversations_after"]


@dataclass
class RescoreResult:
    outdir: Path
    summary: dict = field(default_factory=dict)
    run_id: str | None = None

    def text(self) -> str:
        s = self.summary
        lines = [f"重新打分 {s['conversations']} 个会话: 变化 {s['moved']} 个 (新不合格 {s['newly_failed']}，新合格 "
                 f"{s['newly_passed']})，均分 {s['mean_score_before']} → {s['mean_score_after']}",
                 f"输出: {self.outdir / 'changes.csv'}、rules.csv、summary.json"]
        if s["not_reproducible"]:
            lines.append(f"注意: {s['not_reproducible']} 个会话用原规则库重放也得不到库中的结果 (打码后的文本: 个人信息类检查"
                         f" {', '.join(MASK_SENSITIVE_CHECKS)} 无法复现)，changes.csv 中 reproducible=False")
        lines.append(f"已写入结果库 (批次 {self.run_id})" if self.run_id else "结果库未改动 (加 --commit 才写入)")
        return "\n".join(lines)


def _frame(messages: pd.DataFrame) -> pd.DataFrame:
    """Stored transcripts as an ingested-messages frame (what `csqa.engines.Scorer.score_frame` takes)."""
    out = pd.DataFrame({
        "conversation_id": messages["conversation_id"].astype(str).to_numpy(),
        "timestamp": pd.to_datetime(messages["timestamp"]).to_numpy(),
        "role": messages["role"].astype(str).to_numpy(),
        "agent_id": messages["agent_id"].fillna("").astype(str).to_numpy(),
        "text": messages["text"].fillna("").astype(str).to_numpy(),
        "source": "store",
        "source_row": (messages["message_index"].astype(int) + 1).to_numpy(),
        "seq": messages["message_index"].astype(int).to_numpy(),
    })
    # seq is the row's place in the whole input (as a file's row order): conversations one after
    # another, each in its stored message order — how `build_conversations` groups them
    out = out.sort_values(["conversation_id", "seq"], kind="stable").reset_index(drop=True)
    out["seq"] = range(len(out))
    return out


def _keys(findings: pd.DataFrame) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    if findings.empty:
        return out
    idx = findings["message_index"]
    for cid, rule, i in zip(findings["conversation_id"].astype(str), findings["rule_id"], idx):
        key = rule if i is None or pd.isna(i) else f"{rule}@{int(i)}"
        out.setdefault(cid, Counter())[key] += 1
    return out


def _items(counter: Counter) -> str:
    return ";".join(k for k, n in sorted(counter.items()) for _ in range(n))


def _score(frame: pd.DataFrame, rulebook: str, select=(), ignore=(), model=None, use_model=True):
    from csqa.engines.base import Scorer
    from csqa.settings import ScoringSettings

    scorer = Scorer(ScoringSettings(rulebook=rulebook, select=tuple(select), ignore=tuple(ignore), model=model,
                                use_model=use_model, mask=True))
    return scorer, scorer.score_frame(frame)


def _replay(con, selection: pd.DataFrame, frame: pd.DataFrame, model, use_model) -> dict[str, tuple[float, Counter]]:
    """Each conversation scored again with the rulebook (and selection) of the run that scored it."""
    out: dict[str, tuple[float, Counter]] = {}
    for run_id, group in selection.groupby("run_id"):
        row = con.execute("SELECT r.manifest, b.text FROM runs r LEFT JOIN review_rulebooks b USING (rulebook_sha256) "
                          "WHERE r.run_id = ?", [run_id]).fetchall()
        if not row or row[0][1] is None:
            continue
        manifest = json.loads(row[0][0] or "{}")
        rb = manifest.get("rulebook") or {}
        with tempfile.TemporaryDirectory(prefix="csqa-replay-") as tmp:
            path = Path(tmp) / "rulebook.yaml"
            path.write_text(row[0][1], encoding="utf-8")
            ids = set(group["conversation_id"].astype(str))
            _, result = _score(frame[frame["conversation_id"].isin(ids)], str(path), rb.get("select") or (),
                               rb.get("ignore") or (), model, use_model)
        keys = _keys(result.findings)
        for cid, score in zip(result.conversations["conversation_id"].astype(str), result.conversations["score"]):
            out[cid] = (float(score), keys.get(cid, Counter()))
    return out


def rescore(store, rulebook: str | Path, outdir: str | Path, date_from=None, date_to=None, model=None,
            use_model: bool = True, commit: bool = False) -> RescoreResult:
    from csqa.outputs.store import ResultStore

    rulebook = Path(rulebook)
    if not rulebook.is_file():
        raise ConfigError(f"找不到规则库 {rulebook}")
    with ResultStore(store, read_only=not commit) as rs:
        from csqa.outputs.store.review_tables import has_review_tables

        sel = rs.load(date_from=date_from, date_to=date_to)
        if sel.conversations.empty:
            raise ConfigError("结果库中没有符合条件的会话；去掉 --from/--to 再试 / no conversations match")
        frame = _frame(sel.messages)
        scorer, after = _score(frame, str(rulebook), model=model, use_model=use_model)
        replay = _replay(rs.con, sel.conversations, frame, model, use_model) if has_review_tables(rs.con) else {}

        before = sel.conversations.assign(conversation_id=sel.conversations["conversation_id"].astype(str))
        keys_before, keys_after = _keys(sel.findings), _keys(after.findings)
        changes, not_reproducible = _changed_conversations(before, after.conversations, keys_before, keys_after,
                                                           replay)
        per_rule = _rule_changes(sel.findings, after.findings, keys_before, keys_after)
        summary = {
            "rulebook": {"path": str(rulebook), "sha256": scorer.loaded.sha256, "id": scorer.loaded.rulebook.id},
            "conversations": int(len(before)), "moved": int(len(changes)),
            "newly_failed": int((changes["passed_before"] & ~changes["passed_after"].astype(bool)).sum()) if len(changes) else 0,
            "newly_passed": int((~changes["passed_before"].astype(bool) & changes["passed_after"]).sum()) if len(changes) else 0,
            "mean_score_before": round(float(before["score"].mean()), 2),
            "mean_score_after": round(float(after.conversations["score"].mean()), 2),
            "not_reproducible": int(not_reproducible),
            "replayed": int(len(replay)),
            "mask_sensitive_checks": list(MASK_SENSITIVE_CHECKS),
            "committed": bool(commit),
        }
        result = RescoreResult(Path(outdir), summary)
        _write_outputs(rs, outdir, result, changes, per_rule, scorer, before, after, commit)
    return result


def _changed_conversations(before: pd.DataFrame, after_conversations: pd.DataFrame, keys_before: dict,
                           keys_after: dict, replay: dict) -> tuple[pd.DataFrame, int]:
    """The conversations whose score, pass or findings move (changes.csv), and how many do not replay."""
    new = after_conversations.assign(conversation_id=after_conversations["conversation_id"].astype(str)) \
        .set_index("conversation_id")
    rows = []
    not_reproducible = 0
    for c in before.itertuples(index=False):
        cid = c.conversation_id
        n = new.loc[cid]
        kb, ka = keys_before.get(cid, Counter()), keys_after.get(cid, Counter())
        replayed = replay.get(cid)
        reproducible = None if replayed is None else (abs(replayed[0] - float(c.score)) < 0.005 and replayed[1] == kb)
        if reproducible is False:
            not_reproducible += 1
        if abs(float(n["score"]) - float(c.score)) >= 0.005 or bool(n["passed"]) != bool(c.passed) or kb != ka:
            rows.append({"conversation_id": cid, "agent_id": c.agent_id, "score_before": float(c.score),
                         "score_after": float(n["score"]), "passed_before": bool(c.passed),
                         "passed_after": bool(n["passed"]), "findings_added": _items(ka - kb),
                         "findings_removed": _items(kb - ka), "reproducible": reproducible})
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS), not_reproducible


def _rule_changes(findings_before: pd.DataFrame, findings_after: pd.DataFrame, keys_before: dict,
                  keys_after: dict) -> pd.DataFrame:
    """Per rule: findings and conversations before and after, added and removed (rules.csv)."""
    rule_rows = []
    rules = sorted(set(findings_before["rule_id"]) | set(findings_after["rule_id"]))
    for rule in rules:
        fb = findings_before[findings_before["rule_id"] == rule]
        fa = findings_after[findings_after["rule_id"] == rule]
        added = sum(sum(n for k, n in (keys_after.get(cid, Counter()) - keys_before.get(cid, Counter())).items()
                        if k.split("@")[0] == rule) for cid in keys_after)
        removed = sum(sum(n for k, n in (keys_before.get(cid, Counter()) - keys_after.get(cid, Counter())).items()
                          if k.split("@")[0] == rule) for cid in keys_before)
        rule_rows.append({"rule_id": rule, "findings_before": len(fb), "findings_after": len(fa), "added": added,
                          "removed": removed, "conversations_before": fb["conversation_id"].nunique(),
                          "conversations_after": fa["conversation_id"].nunique()})
    return pd.DataFrame(rule_rows, columns=RULE_COLUMNS)


def _write_outputs(rs, outdir, result: RescoreResult, changes: pd.DataFrame, per_rule: pd.DataFrame, scorer,
                   before: pd.DataFrame, after, commit: bool) -> None:
    """changes.csv, rules.csv and summary.json published whole; with commit, the new scores as a run."""
    from csqa.results.tables import agents_table
    from csqa.runtime.workspace import OutputDir

    with OutputDir(outdir) as target:
        from csqa.outputs.safety import safe_frame

        safe_frame(changes).to_csv(target.stage / "changes.csv", index=False, encoding="utf-8-sig")
        per_rule.to_csv(target.stage / "rules.csv", index=False, encoding="utf-8-sig")
        (target.stage / "summary.json").write_text(json.dumps(result.summary, ensure_ascii=False, indent=2),
                                                   encoding="utf-8")
        if commit:
            result.run_id = rs.write_run(_rescore_manifest(scorer, before), after.conversations, after.findings,
                                         agents_table(after.conversations, after.findings), after.messages)
        target.publish()


def _rescore_manifest(scorer, before: pd.DataFrame) -> dict:
    """The manifest of the run a committed rescore records (a new run id, the new rulebook, masked)."""
    from csqa.outputs.store.frames import new_run_id
    from csqa.runner import _model_info
    from csqa.settings import RulebookSettings

    return {"run_id": new_run_id(), "engine": "rescore", "inputs": [],
            "rulebook": {"id": scorer.loaded.rulebook.id, "path": scorer.loaded.path,
                         "sha256": scorer.loaded.sha256, "select": [], "ignore": [],
                         "rules": [r.code for r in scorer.book.rules],
                         **RulebookSettings.of_rulebook(scorer.loaded.rulebook).manifest_entry()},
            "model": _model_info(scorer.classifier), "masked": True,
            "rescored_from": sorted(set(before["run_id"]))}
