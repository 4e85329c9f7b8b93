"""The generated rule documentation stays in step with the default rulebook."""
from __future__ import annotations

from pathlib import Path

from csqa.rulebook.docs import rulebook_markdown
from csqa.rulebook.loader import load_rulebook

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_docs_rules_md_is_generated_from_the_default_rulebook():
    expected = rulebook_markdown(load_rulebook().rulebook)
    assert DOCS.read_text(encoding="utf-8").rstrip("\n") == expected.rstrip("\n"), (
        "docs/rules.md is stale: run `python -m csqa.rulebook.docs > docs/rules.md`"
    )


def test_every_rule_is_documented_with_its_clause_and_examples():
    text = DOCS.read_text(encoding="utf-8")
    for rule in load_rulebook().rulebook.rules:
        assert f"### {rule.code} {rule.name}" in text
        assert rule.clause in text
