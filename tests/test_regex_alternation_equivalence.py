"""One search for several patterns (`csqa.checks.matchers.regex.any_of`) finds something exactly where one of
them does.

It guards two shortcuts: a rule's `regex` list is tried as one alternation before each pattern is run for its
spans, and the off-platform matcher rules a reply out with one search over all its cues' patterns.
"""
from __future__ import annotations

import pytest

from csqa.checks.matchers.off_platform import _CUES, _FULLWIDTH, _any_cue, find_off_platform
from csqa.checks.matchers.regex import RegexMatcher, any_of
from tests.text_samples import mixed_texts

EXTRA = ["我是客服小美", "工号:1023", "客服 3 号", "2个工作日内", "还有什么吗", "保证明天到", "好评返现5元", "小王为您"]


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    return mixed_texts(sample_csv) + EXTRA


def test_a_rules_joined_regexes_match_where_one_of_them_does(texts, default_book):
    blocks = [r.require or r.forbid for r in default_book.rules if (r.require or r.forbid) is not None]
    lists = [list(b.regex) for b in blocks if len(b.regex) > 1]
    assert len(lists) >= 3
    for patterns in lists:
        one = any_of(patterns)
        assert one is not None
        matcher = RegexMatcher(patterns)
        for text in texts:
            assert (one.search(text) is not None) == any(rx.search(text) for rx in matcher.regexes), text


def test_patterns_that_cannot_be_joined_are_left_alone():
    assert any_of([r"(a)\1", "b"]) is None  # a group reference would point elsewhere once joined
    assert any_of(["(?i)a", "b"]) is None  # a global flag inside an alternation is an error


def test_the_off_platform_prefilter_never_drops_a_matching_cue(texts):
    joined = _any_cue()
    for text in texts:
        norm = text.translate(_FULLWIDTH)
        assert (joined.search(norm) is not None) == any(cue.regex.search(norm) for cue in _CUES), text
    assert sum(bool(find_off_platform(t)) for t in texts) > 100
