"""One complaint decision per conversation: the trigger, the apology rule and the complaint columns agree."""
from __future__ import annotations

import pandas as pd
import pytest

from csqa.checks.engine import CompiledRulebook
from csqa.complaints.conversation import decide
from csqa.text.conversations import build_conversations
from csqa.core.records import ComplaintSignal
from csqa.rulebook.loader import load_rulebook
from csqa.scoring import score_conversation
from csqa.text.segment import Segmenter


def _frame(turns):
    rows = []
    for i, (role, text) in enumerate(turns):
        rows.append({"conversation_id": "c1", "timestamp": pd.NaT, "role": role,
                     "agent_id": "a1" if role == "agent" else "", "text": text, "source": "t",
                     "source_row": i + 1, "seq": i})
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


@pytest.fixture(scope="module")
def book():
    return CompiledRulebook(load_rulebook().rulebook)


@pytest.fixture(scope="module")
def segmenter(book):
    seg = Segmenter()
    seg.add_words(w for w in book.vocabulary() if len(w) >= 2)
    return seg


def _conv(segmenter, turns, signals=None):
    conv = next(build_conversations(_frame(turns), segmenter))
    for index, signal in (signals or {}).items():
        conv.messages[index].complaint = signal
    return conv


def _signal(category, p, severity="normal"):
    return ComplaintSignal(category if p >= 0.5 else "none", severity if p >= 0.5 else "none", p, p >= 0.5)


def _no(p=0.1):
    return ComplaintSignal("none", "none", p, False)


def test_category_is_the_grievance_with_most_evidence_not_the_first():
    msgs = _conv(Segmenter(), [("customer", "a"), ("customer", "b"), ("customer", "c")],
                 {0: _signal("logistics", 0.55), 1: _signal("product", 0.9), 2: _signal("product", 0.8)}).messages
    d = decide(msgs)
    assert (d.is_complaint, d.first_index, d.category, d.severity) == (True, 0, "product", "normal")


def test_serious_when_any_complaining_message_is_serious():
    msgs = _conv(Segmenter(), [("customer", "a"), ("customer", "b")],
                 {0: _signal("payment", 0.9), 1: _signal("payment", 0.7, "serious")}).messages
    assert decide(msgs).severity == "serious"


def test_classifier_signals_overrule_the_cues_and_no_signal_means_cues():
    msgs = _conv(Segmenter(), [("customer", "a")], {0: _no()}).messages
    assert decide(msgs, cue_index=0).is_complaint is False  # the classifier saw the message: it decides
    plain = _conv(Segmenter(), [("customer", "a")]).messages
    d = decide(plain, cue_index=0)
    assert (d.is_complaint, d.first_index, d.category) == (True, 0, "")
    assert decide(plain, cue_index=None).is_complaint is False
    assert decide(plain, cue_index=None, cues_decide=False).is_complaint is None


def test_apology_rule_and_columns_read_the_same_decision(book, segmenter):
    # a cue word (怎么回事) in a question the classifier calls no complaint: no apology owed, complaint = no
    turns = [("customer", "请问这个怎么回事，怎么开发票"), ("agent", "您好，在订单详情里点申请开票就可以"), ("customer", "好的谢谢")]
    conv = _conv(segmenter, turns, {0: _no(0.2), 2: _no(0.05)})
    result = score_conversation(conv, book)
    assert result.complaint is False and result.complaint_category == "none"
    assert not any(f.check == "apology" for f in result.findings)
    assert "COMP-001" in result.not_applicable
    # the classifier says complaint: the apology rule applies from that message on, and the columns say so
    conv = _conv(segmenter, turns, {0: _signal("payment", 0.8), 2: _no(0.05)})
    result = score_conversation(conv, book)
    assert result.complaint is True and result.complaint_index == 0 and result.complaint_category == "payment"
    assert [f.rule_id for f in result.findings if f.check == "apology"] == ["COMP-001"]


def test_without_a_classifier_the_cues_decide_both(book, segmenter):
    turns = [("customer", "东西坏了，太差了"), ("agent", "请问订单号是多少")]
    result = score_conversation(_conv(segmenter, turns), book)
    assert result.complaint is True and result.complaint_index == 0
    assert result.complaint_category == "" and result.complaint_severity == ""
    assert any(f.check == "apology" for f in result.findings)
    calm = score_conversation(_conv(segmenter, [("customer", "请问有黑色的吗"), ("agent", "有的亲")]), book)
    assert calm.complaint is False and not any(f.check == "apology" for f in calm.findings)
