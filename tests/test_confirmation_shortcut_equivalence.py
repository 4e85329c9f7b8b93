"""`find_confirmation`'s shortcut changes nothing: a text without any question ending skips the sentence
analysis, and gives what the analysis of every sentence gives."""
from __future__ import annotations

import pytest

from csqa.checks.matchers import confirmation as c
from tests.text_samples import mixed_texts


@pytest.fixture(scope="module")
def texts(sample_csv) -> list[str]:
    return mixed_texts(sample_csv)


def _reference_confirmation(text):
    """Every sentence analysed, whatever the text ends in."""
    spans = [(m.start(), m.end()) for m in c._CONFIRM_CUE.finditer(text)]
    for start, end in c._sentences(text):
        sentence = text[start:end]
        if c._NOT_CONFIRM.search(sentence):
            continue
        if c._TAG.search(sentence):
            spans.append((start, end))
        elif c._CLOSED.search(sentence):
            if c._RESTATES.search(sentence):
                spans.append((start, end))
        elif c._INTONATION.search(sentence) and not c._QUESTION_WORD.search(sentence):
            if len(sentence.strip(" ?？")) >= 2:
                spans.append((start, end))
    return sorted(set(spans))


def test_find_confirmation_finds_what_the_sentence_analysis_finds(texts):
    assert sum(bool(c.find_confirmation(t)) for t in texts) > 50
    for text in texts:
        assert c.find_confirmation(text) == _reference_confirmation(text), text
