"""csqa.runtime.collector: the cyclic collector is paused within and restored as it was."""
from __future__ import annotations

import gc

import pytest

from csqa.runtime.collector import collector_paused


@pytest.fixture(autouse=True)
def _collector_left_on():
    yield
    gc.enable()


def test_paused_within_and_on_again_after():
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_restored_when_the_work_fails():
    gc.enable()
    with pytest.raises(ValueError):
        with collector_paused():
            raise ValueError("boom")
    assert gc.isenabled()


def test_the_asked_generation_is_collected_on_exit():
    gc.enable()
    before = gc.get_stats()[1]["collections"]
    with collector_paused(collect_generation=1):
        pass
    assert gc.get_stats()[1]["collections"] == before + 1
