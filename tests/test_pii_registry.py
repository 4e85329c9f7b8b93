"""The personal-data registry (csqa/checks/pii/registry.yaml) is the one place a kind is described:
its validator modules do what their examples say, its masking styles show what their table says,
and a wrong entry is refused with a message naming it."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

from csqa.checks import pii
from csqa.checks.pii import load_recognizers, mask_pii, mask_value, parse_registry
from csqa.checks.pii import masking as masking_styles
from csqa.checks.pii.validators import VALIDATORS

PII_DIR = Path(pii.__file__).parent


def _registry_data():
    return yaml.safe_load(pii.DEFAULT_RECOGNIZERS_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- validators: one module each, examples hold

def _quoted_numbers(line: str) -> list[str]:
    """The ID/card numbers quoted 「…」 in one docstring line (spaces inside a number kept)."""
    return [m.group(0).strip() for q in re.findall(r"「([^」]*)」", line) for m in [re.search(r"[0-9][0-9 Xx]{10,}", q)] if m]


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_each_validator_is_one_module_whose_examples_hold(name):
    module = importlib.import_module(f"csqa.checks.pii.validators.{name}")
    check = VALIDATORS[name]
    assert check.__module__ == module.__name__
    lines = module.__doc__.splitlines()
    bad = [n for line in lines if line.startswith("Bad") for n in _quoted_numbers(line)]
    good = [n for i, line in enumerate(lines) if line.startswith("Good") for n in _quoted_numbers(line)]
    assert bad and good, name
    for value in bad:
        assert check(value), (name, value)       # a real value: an agent writing it leaks it
    for value in good:
        assert not check(value), (name, value)   # looks like one, is not


def test_validators_decide_the_leak_not_the_mask():
    """A number that fails its check digit is not a leak but is hidden all the same."""
    assert pii.find_pii("卡号 6222 0200 0000 0006") == []
    assert mask_pii("卡号 6222 0200 0000 0006") == "卡号 ****0006"
    assert [m.kind for m in pii.find_pii("卡号 6222 0200 0000 0007")] == ["bank_card"]


# ---------------------------------------------------------------- masking: declared per kind

def _style_table():
    rows = []
    for line in masking_styles.__doc__.splitlines():
        m = re.match(r"^\s+(\w+)\s+(.+?) → (\S+)", line)
        if m and m.group(1) in masking_styles.STYLES:
            rows.append(m.groups())
    return rows


def test_masking_styles_show_what_their_table_says():
    rows = _style_table()
    assert {r[0] for r in rows} == set(masking_styles.STYLES)
    for style, value, shown in rows:
        keep = shown[:-4] if style == "district_only" else None
        assert masking_styles.show_masked(style, value, keep) == shown, (style, value)


def test_every_kind_names_its_masking_and_the_code_names_no_kind():
    """How each kind is shown comes from its entry; no Python module of the package tests for a
    kind by name (a new kind is a registry entry, not a code change)."""
    recs = load_recognizers()
    assert all(r.masking in masking_styles.STYLES for r in recs)
    assert {r.id: r.masking for r in recs}["address"] == "district_only"
    ids = {r.id for r in recs}
    for path in PII_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in ids}
        assert not named, (path.name, named)


def test_mask_value_follows_the_registry():
    assert mask_value("mobile", "13812345678") == "138****5678"
    assert mask_value("bank_card", "6222020000000007") == "****0007"
    assert mask_value("address", "北京市朝阳区建国路88号", "北京市朝阳区") == "北京市朝阳区****"
    assert mask_value("no_such_kind", "13812345678") == "****"


def test_a_changed_masking_changes_what_reports_show(tmp_path):
    data = _registry_data()
    for item in data["recognizers"]:
        if item["id"] == "mobile":
            item["masking"] = "card_tail"
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    recs = load_recognizers(path)
    assert mask_pii("电话13812345678", recognizers=recs) == "电话****5678"
    assert mask_pii("电话13812345678") == "电话138****5678"


# ---------------------------------------------------------------- a wrong entry is refused

def _with_mobile(**changes):
    data = _registry_data()
    for item in data["recognizers"]:
        if item["id"] == "mobile":
            item.update(changes)
    return data


@pytest.mark.parametrize("changes, message", [
    ({"prefilter": {"digits": 11, "words": ["手机"]}}, "mobile: prefilter takes digits, digit_run and any_of only"),
    ({"cues": []}, "mobile/number_after_phone_cue: prefilter any_of: cues, but the entry has no cues"),
    ({"prefilter": {"any_of": "手机"}}, "any_of must be a list"),
    ({"masking": "blurred"}, "mobile: unknown masking 'blurred'"),
    ({"validator": "crc32"}, "unknown validator 'crc32' in mobile"),
])
def test_a_wrong_entry_is_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_registry(_with_mobile(**changes))


def test_a_pattern_prefilter_of_cues_is_the_entrys_cue_list():
    recs = {r.id: r for r in load_recognizers()}
    qq_mask = recs["qq"].mask_patterns[0]
    assert set(qq_mask.prefilter.any_of) == set(recs["qq"].cues)
    assert recs["mobile"].prefilter.digits == 11 and recs["mobile"].mask_patterns[1].prefilter.digits == 5
