"""Scoring: the points ledger on every sample conversation, red lines, N/A rescaling, determinism
and the sample's special cases (scored through the pipeline functions, without a classifier)."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pandas as pd
import pytest

from csqa.report.tables import conversations_table, findings_table
from csqa.scoring import score_conversation

CENT = Decimal("0.01")
HARD_NEGATIVE_CHECKS = {"rude", "argue", "bare_refusal", "privacy_leak", "over_promise"}
HARD_NEGATIVES = ["quote_trap", "negation_1", "negation_2", "masked_pii", "haoping_decline"]


def D(x) -> Decimal:
    return Decimal(str(x))


@pytest.fixture(scope="module")
def results(scored_sample):
    return scored_sample[1]


@pytest.fixture(scope="module")
def by_id(results):
    return {r.conversation_id: r for r in results}


def _applicable_scale(book, result) -> Decimal:
    """100 / (sum of weights of the dimensions in which some rule applied) — from the rulebook itself."""
    na = set(result.not_applicable)
    dims = {r.dimension for r in book.rules if r.code not in na}
    return Decimal(100) / sum(D(book.dimensions[d].weight) for d in dims)


# ---------------------------------------------------------------------------- the ledger on every conversation
def test_sample_is_fully_scored(results, sample_messages):
    assert len(results) == sample_messages["conversation_id"].nunique() == 383


def test_ledger_adds_up_on_every_conversation(results):
    for r in results:
        lost = sum((D(f.points) for f in r.findings), Decimal(0))
        assert D(r.score) == Decimal(100) - lost, r.conversation_id
        assert D(r.score) == D(r.score).quantize(CENT)
        assert 0 <= r.score <= 100, r.conversation_id
        for f in r.findings:
            assert D(f.points) == D(f.points).quantize(CENT), (r.conversation_id, f.rule_id, f.points)


def test_dimension_and_rule_caps_hold(scored_sample):
    book, results = scored_sample
    rules = {r.code: r for r in book.rules}
    for r in results:
        if r.critical:
            continue
        scale = _applicable_scale(book, r)
        per_dim: dict[str, Decimal] = defaultdict(Decimal)
        per_rule: dict[str, int] = defaultdict(int)
        for f in r.findings:
            per_dim[f.dimension] += D(f.points)
            if f.points > 0:
                per_rule[f.rule_id] += 1
            # a finding never costs more than its rule's points, rescaled
            assert D(f.points) <= (D(rules[f.rule_id].points) * scale).quantize(CENT) + CENT
        for dim, lost in per_dim.items():
            assert lost <= (D(book.dimensions[dim].weight) * scale).quantize(CENT) + CENT, (r.conversation_id, dim)
        for code, n in per_rule.items():
            assert n <= rules[code].max_findings, (r.conversation_id, code)


def test_passed_follows_pass_mark(scored_sample):
    book, results = scored_sample
    mark = book.rulebook.settings.pass_mark
    for r in results:
        assert r.passed == ((not r.critical) and r.score >= mark), r.conversation_id


# ---------------------------------------------------------------------------- red lines
def test_critical_findings_zero_the_score(results):
    critical = [r for r in results if r.critical]
    assert critical
    for r in critical:
        assert any(f.severity == "critical" for f in r.findings)
        assert r.score == 0
        assert r.passed is False
    for r in results:
        if not r.critical:
            assert not any(f.severity == "critical" for f in r.findings), r.conversation_id


def test_critical_on_a_built_conversation(compile_book, make_conv, default_book):
    book = compile_book(default_book)
    result = score_conversation(make_conv("您好，我是客服小美。加我微信vx12345，微信转账给你便宜点"), book)
    assert result.critical and result.score == 0 and not result.passed
    assert sum(D(f.points) for f in result.findings) == 100


# ---------------------------------------------------------------------------- N/A and rescaling
PERFECT = [
    {"customer": "你好，在吗"},
    {"agent": "您好，我是客服小美，很高兴为您服务，请问有什么可以帮您？"},
    {"customer": "这件衣服有黑色吗"},
    {"agent": "您是说想要黑色款是吗？"},
    {"customer": "对"},
    {"agent": "有的亲，黑色有货，直接下单就可以"},
    {"customer": "好的谢谢"},
    {"agent": "请问还有其他可以帮到您的吗？"},
    {"customer": "没有了"},
    {"agent": "感谢您的咨询，祝您生活愉快，再见！"},
]


def _timed(turns, step_s=5):
    t0 = pd.Timestamp("2026-11-02 09:00:00")
    return [dict(t, time=str(t0 + pd.Timedelta(seconds=step_s * i))) for i, t in enumerate(turns)]


@pytest.fixture(scope="module")
def book(compile_book, default_book):
    return compile_book(default_book)


def test_perfect_conversation_without_timestamps_scores_100(book, make_conv):
    result = score_conversation(make_conv(PERFECT), book)
    assert {"TIME-001", "TIME-002"} <= set(result.not_applicable)
    assert "COMP-001" in result.not_applicable  # no complaint
    assert result.findings == []
    assert result.score == 100 and result.passed
    assert result.first_response_s is None


def test_perfect_conversation_with_fast_timestamps_scores_100(book, make_conv):
    result = score_conversation(make_conv(_timed(PERFECT)), book)
    assert not {"TIME-001", "TIME-002"} & set(result.not_applicable)
    assert "COMP-001" in result.not_applicable
    assert result.score == 100 and result.passed
    assert result.first_response_s == 5.0


def test_na_dimensions_rescale_a_missing_farewell(book, make_conv, default_book):
    turns = PERFECT[:-1] + [{"agent": "好的"}]
    result = score_conversation(make_conv(turns), book)
    assert [f.rule_id for f in result.findings] == ["CLOSE-002"]
    rule = next(r for r in default_book.rules if r.code == "CLOSE-002")
    expected = (D(rule.points) * _applicable_scale(book, result)).quantize(CENT)
    assert D(result.findings[0].points) == expected
    assert D(result.score) == Decimal(100) - expected
    # with timestamps the 时效 dimension applies, the scale is smaller, the same miss costs less
    timed = score_conversation(make_conv(_timed(turns)), book)
    assert [f.rule_id for f in timed.findings] == ["CLOSE-002"]
    assert D(timed.findings[0].points) == (D(rule.points) * _applicable_scale(book, timed)).quantize(CENT)
    assert timed.findings[0].points < result.findings[0].points


def test_complaint_without_apology_costs_comp_001(book, make_conv, default_book):
    turns = [
        {"customer": "收到的杯子碎了，太差了"},
        {"agent": "您好，我是客服小美，请问有什么可以帮您？"},
        {"agent": "拍照发来"},
    ]
    result = score_conversation(make_conv(turns), book)
    assert "COMP-001" not in result.not_applicable
    comp = [f for f in result.findings if f.rule_id == "COMP-001"]
    rule = next(r for r in default_book.rules if r.code == "COMP-001")
    assert len(comp) == 1
    assert D(comp[0].points) == (D(rule.points) * _applicable_scale(book, result)).quantize(CENT)

    apologised = turns[:2] + [{"agent": "非常抱歉给您带来不便，麻烦拍张照片"}]
    assert not [f for f in score_conversation(make_conv(apologised), book).findings if f.rule_id == "COMP-001"]


def test_sample_conversations_are_all_timed(results):
    for r in results:
        assert not {"TIME-001", "TIME-002"} & set(r.not_applicable), r.conversation_id


# ---------------------------------------------------------------------------- determinism
def test_scoring_twice_gives_identical_tables(scored_sample, segmenter, sample_messages):
    from csqa.scoring.stages import mask_function, score_frame

    book, first = scored_sample
    second = score_frame(sample_messages, book, None, mask_function(True), segmenter)
    pd.testing.assert_frame_equal(conversations_table(first), conversations_table(second))
    pd.testing.assert_frame_equal(findings_table(first), findings_table(second))


# ---------------------------------------------------------------------------- special cases
def test_every_redline_case_is_critical(by_id, special_ids):
    redlines = {k: v for k, v in special_ids.items() if k.startswith("redline_")}
    assert len(redlines) == 5
    for key, cid in redlines.items():
        r = by_id[cid]
        assert r.critical, key
        assert r.score == 0 and not r.passed, key


def test_haoping_offers_are_critical_over_promise(by_id, special_ids):
    for key in ("haoping_offer_1", "haoping_offer_2"):
        r = by_id[special_ids[key]]
        assert r.critical, key
        assert "over_promise" in {f.check for f in r.findings if f.severity == "critical"}, key


@pytest.mark.parametrize(
    "key, check",
    [("redline_leak_1", "privacy_leak"), ("redline_leak_2", "privacy_leak"), ("redline_offsite", "off_platform"),
     ("redline_rude", "rude"), ("redline_argue", "argue")],
)
def test_redline_case_is_caught_by_its_check(by_id, special_ids, key, check):
    r = by_id[special_ids[key]]
    assert check in {f.check for f in r.findings if f.severity == "critical"}


@pytest.mark.parametrize("key", HARD_NEGATIVES)
def test_hard_negatives_are_not_critical(by_id, special_ids, key):
    r = by_id[special_ids[key]]
    assert not r.critical
    wrong = [(f.rule_id, f.matched_text) for f in r.findings if f.check in HARD_NEGATIVE_CHECKS]
    assert wrong == []


def test_no_non_special_conversation_is_critical(results, special_ids):
    special = set(special_ids.values())
    critical = {r.conversation_id for r in results if r.critical}
    assert critical - special == set()


def test_critical_conversations_are_exactly_the_red_line_cases(results, special_ids):
    expected = {cid for k, cid in special_ids.items() if k.startswith(("redline_", "haoping_offer_"))}
    assert {r.conversation_id for r in results if r.critical} == expected


def test_bonus_points_give_back_lost_points_and_the_ledger_still_adds_up():
    from csqa.checks.engine import CompiledRulebook
    from csqa.text.conversations import build_conversations
    from csqa.rulebook.loader import parse_rulebook
    from csqa.scoring.examples import example_frame
    from csqa.scoring import score_conversation
    from csqa.text.segment import Segmenter

    yaml_text = """
id: bonus-test
name: bonus
dimensions:
  - {id: opening, name: 开场, weight: 50}
  - {id: closing, name: 结束, weight: 50}
rules:
  - code: OPEN-001
    name: 开场问候
    check: greeting
    dimension: opening
    severity: minor
    points: 20
    clause: "000 §3.1"
    scope: {role: agent, first_turns: 1}
    require: {phrases: [您好]}
  - code: CLOSE-009
    name: 主动回访加分
    check: farewell
    dimension: closing
    severity: minor
    points: 5
    bonus: true
    clause: "000 §3.5 主动回访"
    scope: {role: agent}
    require: {phrases: [回访]}
"""
    book = CompiledRulebook(parse_rulebook(yaml_text, "bonus.yaml"))
    seg = Segmenter()
    turns = [{"customer": "在吗"}, {"agent": "在的"}, {"agent": "明天我会给您回访"}]
    conv = next(build_conversations(example_frame(turns, None), seg))
    result = score_conversation(conv, book)
    points = {f.rule_id: f.points for f in result.findings}
    # greeting missing: 20 of 100 applicable points lost; the bonus gives back its 5
    assert points["OPEN-001"] == 20.0
    assert points["CLOSE-009"] == -5.0
    assert result.score == 85.0
    assert round(100 - sum(f.points for f in result.findings), 2) == result.score
    # with nothing lost, a bonus cannot lift the score above 100
    turns = [{"customer": "在吗"}, {"agent": "您好"}, {"agent": "明天我会给您回访"}]
    perfect = score_conversation(next(build_conversations(example_frame(turns, None), seg)), book)
    assert perfect.score == 100.0 and not perfect.findings
