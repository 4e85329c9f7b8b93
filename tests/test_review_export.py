"""Verdicts become data (issue 17 part 8): `csqa review export` writes complaint labels in the
corpus' columns and per-rule candidate examples that `csqa rules test --examples` runs."""
from __future__ import annotations

import json

import pandas as pd
import yaml

from conftest import REPO
from review_fixtures import q, qdf, scored, store  # noqa: F401 - fixtures

import csqa.review as review
from csqa.review.verdicts import LabelRow, VerdictRow


def test_export_turns_false_positives_into_pass_examples_and_misses_into_fail_examples(store, run_cli, tmp_path):
    # a message-level rule's findings judged false positives; one conversation-level miss; two labels
    f = qdf(store, """SELECT finding_id, rule_id, conversation_id, message_index FROM findings
                      WHERE message_index IS NOT NULL AND "check" NOT IN ('privacy_leak', 'off_platform')
                      ORDER BY conversation_id, finding_index""")
    rule = f["rule_id"].value_counts().index[0]
    fps = f[f["rule_id"] == rule].head(3)
    review.record_verdicts(store, "a", [VerdictRow("false_positive", fid, "不该扣") for fid in fps["finding_id"]])
    clean = q(store, """SELECT conversation_id FROM conversations WHERE conversation_id NOT IN
                        (SELECT conversation_id FROM findings WHERE rule_id = 'CLOSE-002') ORDER BY 1 LIMIT 1""")[0][0]
    review.add_missed(store, "a", clean, "CLOSE-002", None, "没有道别")
    customers = q(store, "SELECT conversation_id, message_index, text FROM messages WHERE role = 'customer' "
                         "AND message_index > 0 ORDER BY conversation_id, message_index LIMIT 2")
    review.record_verdicts(store, "b", [], [LabelRow(customers[0][0], customers[0][1], "物流配送", "一般投诉"),
                                            LabelRow(customers[1][0], customers[1][1], "none")])
    out = tmp_path / "exp"
    run = run_cli("review", "export", "--store", store, "-o", out)
    assert run.exit_code == 0, run.stderr
    examples = yaml.safe_load((out / "rule_examples.yaml").read_text(encoding="utf-8"))["rules"]
    assert len(examples[rule]["pass"]) == 3 and examples[rule]["fail"] == []
    messages = qdf(store, "SELECT conversation_id, message_index, role, text FROM messages")
    for (_, fp), example in zip(fps.iterrows(), examples[rule]["pass"]):
        last = example[-1]
        text = messages[(messages["conversation_id"] == fp.conversation_id)
                        & (messages["message_index"] == fp.message_index)]["text"].iloc[0]
        assert list(last)[0] in ("agent", "customer") and text in last.values()  # the conversation up to that message
    (missed,) = examples["CLOSE-002"]["fail"]
    whole = messages[messages["conversation_id"] == clean]
    assert len(missed) == len(whole[whole["role"].isin(["agent", "customer"])])  # a conversation-level rule: all of it
    table = pd.read_csv(out / "rule_examples.csv", encoding="utf-8-sig")
    assert sorted(table["expected"]) == ["fail", "pass", "pass", "pass"]
    assert json.loads(table.loc[table["expected"] == "fail", "example"].iloc[0]) == missed
    labels = pd.read_csv(out / "complaint_labels.csv", encoding="utf-8-sig", keep_default_na=False)
    corpus_header = (pd.read_csv(REPO / "corpora" / "complaints" / "complaints.csv", nrows=1).columns.tolist())
    assert labels.columns.tolist() == corpus_header
    assert labels[["text", "category", "severity", "writer"]].values.tolist() == [
        [customers[0][2], "logistics", "normal", "b"], [customers[1][2], "none", "none", "b"]]

    # csqa rules test runs them: the rule still fires on its confirmed false positives → they fail
    plain = run_cli("rules", "test", "--select", rule)
    with_reviews = run_cli("rules", "test", "--select", rule, "--examples", out / "rule_examples.yaml")
    assert plain.exit_code == 0, plain.stdout
    assert with_reviews.exit_code == 1 and with_reviews.stdout.count(f"FAIL {rule} (不应命中)") == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: {NOPE-001: {pass: [x]}}", encoding="utf-8")
    wrong = run_cli("rules", "test", "--examples", bad)
    assert wrong.exit_code == 2 and "NOPE-001" in wrong.stderr
