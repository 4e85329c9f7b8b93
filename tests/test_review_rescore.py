"""Rule-change impact (issue 17 part 9): `csqa rescore` with a rulebook that drops, adds and changes
a rule, checked against scoring the export from scratch with that rulebook; masked stores say which
conversations cannot be recomputed; nothing changes in the store without --commit."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from conftest import REPO, SAMPLE_CSV
from review_fixtures import q, scored, store  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def new_rulebook(tmp_path_factory):
    book = yaml.safe_load((REPO / "csqa" / "rulebook" / "default.yaml").read_text(encoding="utf-8"))
    rules = book["rules"]
    rules[:] = [r for r in rules if r["code"] != "CLOSE-002"]  # dropped
    slang = next(r for r in rules if r["code"] == "HAND-003")
    slang["forbid"]["phrases"] += ["没办法", "不清楚"]  # changed
    slang["examples"] = {"fail": [], "pass": []}
    added = {k: v for k, v in slang.items() if k not in ("examples",)}
    added.update(code="HAND-090", name="让顾客等", name_en="Asks to wait", check="slang",
                 severity="minor", points=2, forbid={"phrases": ["稍等", "退货"]},
                 explanation="让顾客等或提退货: 「{matched}」")
    rules.append(added)  # added
    path = tmp_path_factory.mktemp("rulebooks") / "new.yaml"
    path.write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _keys(findings: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cid, rule, index in zip(findings["conversation_id"], findings["rule_id"], findings["message_index"]):
        out.setdefault(cid, []).append(rule if pd.isna(index) else f"{rule}@{int(index)}")
    return {k: sorted(v) for k, v in out.items()}


def test_rescore_matches_scoring_from_scratch(new_rulebook, run_cli, tmp_path):
    raw_store = tmp_path / "raw.duckdb"  # (unmasked: the replay is exact)
    assert run_cli("score", SAMPLE_CSV, "-q", "--no-mask", "--store", raw_store, outdir=tmp_path / "before").exit_code == 0
    scratch = run_cli("score", SAMPLE_CSV, "-q", "--no-mask", "--rulebook", new_rulebook, outdir=tmp_path / "scratch")
    assert scratch.exit_code == 0, scratch.stderr
    stored_before = q(raw_store, "SELECT conversation_id, score FROM conversations ORDER BY 1")

    run = run_cli("rescore", "--store", raw_store, "--rulebook", new_rulebook, "-o", tmp_path / "impact")
    assert run.exit_code == 0, run.stderr
    changes = pd.read_csv(tmp_path / "impact" / "changes.csv", dtype={"conversation_id": str}, encoding="utf-8-sig",
                          keep_default_na=False)
    before = pd.read_csv(tmp_path / "before" / "conversations.csv", dtype={"conversation_id": str}, encoding="utf-8-sig")
    after = pd.read_csv(tmp_path / "scratch" / "conversations.csv", dtype={"conversation_id": str}, encoding="utf-8-sig")
    fb = _keys(pd.read_csv(tmp_path / "before" / "findings.csv", dtype={"conversation_id": str}, encoding="utf-8-sig"))
    fa = _keys(pd.read_csv(tmp_path / "scratch" / "findings.csv", dtype={"conversation_id": str}, encoding="utf-8-sig"))
    merged = before.merge(after, on="conversation_id", suffixes=("_b", "_a"))
    moved = merged[(merged["score_b"] != merged["score_a"]) | (merged["passed_b"] != merged["passed_a"])
                   | merged["conversation_id"].map(lambda c: fb.get(c, []) != fa.get(c, []))]
    assert len(moved) > 20
    assert sorted(changes["conversation_id"]) == sorted(moved["conversation_id"])
    got = changes.set_index("conversation_id")
    for row in moved.itertuples(index=False):
        c = got.loc[row.conversation_id]
        assert (c.score_before, c.score_after) == pytest.approx((row.score_b, row.score_a))
        assert (c.passed_before, c.passed_after) == (row.passed_b, row.passed_a)
        added = [k for k in fa.get(row.conversation_id, []) if k not in fb.get(row.conversation_id, [])]
        removed = [k for k in fb.get(row.conversation_id, []) if k not in fa.get(row.conversation_id, [])]
        assert set(filter(None, c.findings_added.split(";"))) == set(added)
        assert set(filter(None, c.findings_removed.split(";"))) == set(removed)
        assert str(c.reproducible) == "True"
    rules = pd.read_csv(tmp_path / "impact" / "rules.csv", encoding="utf-8-sig").set_index("rule_id")
    assert rules.loc["CLOSE-002", "findings_after"] == 0 and rules.loc["CLOSE-002", "removed"] > 0
    assert rules.loc["HAND-090", "findings_before"] == 0 and rules.loc["HAND-090", "added"] > 0
    assert rules.loc["HAND-003", "findings_after"] > rules.loc["HAND-003", "findings_before"]
    # nothing stored changed without --commit
    assert q(raw_store, "SELECT conversation_id, score FROM conversations ORDER BY 1") == stored_before

    run = run_cli("rescore", "--store", raw_store, "--rulebook", new_rulebook, "-o", tmp_path / "committed", "--commit")
    assert run.exit_code == 0, run.stderr
    assert dict(q(raw_store, "SELECT conversation_id, score FROM conversations")) == \
        dict(zip(after["conversation_id"], after["score"]))
    assert q(raw_store, "SELECT count(*) FROM findings WHERE rule_id = 'HAND-090'")[0][0] == \
        sum(k.startswith("HAND-090") for v in fa.values() for k in v)


def test_a_masked_store_says_what_it_cannot_recompute(store, run_cli, tmp_path):
    rulebook = REPO / "csqa" / "rulebook" / "default.yaml"
    run = run_cli("rescore", "--store", store, "--rulebook", rulebook, "-o", tmp_path / "same")
    assert run.exit_code == 0, run.stderr
    changes = pd.read_csv(tmp_path / "same" / "changes.csv", encoding="utf-8-sig", keep_default_na=False)
    # the same rulebook moves only what masking hid from the personal-data checks, and says so
    assert len(changes) > 0
    assert set(changes["reproducible"].astype(str)) == {"False"}
    touched = {k.split("@")[0] for col in ("findings_added", "findings_removed") for v in changes[col] for k in v.split(";") if k}
    assert touched <= {"RED-003", "RED-004"}
    assert "个人信息类检查" in run.stdout
    missing = run_cli("rescore", "--store", store, "--rulebook", tmp_path / "nope.yaml", "-o", tmp_path / "x")
    assert missing.exit_code == 2
