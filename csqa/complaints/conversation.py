"""One complaint decision per conversation, from its customer messages.

The classifier judges each customer message (with the agent turn before it); a conversation is a
complaint by its evidence, not by its single most suspicious line, and its category is the
grievance the customer stresses. Everything downstream reads this one decision: the complaint
trigger of the rulebook (which messages the apology and next-step rules look after), the complaint
columns of conversations.csv, the reports and the store. Without a classifier the rulebook's
complaint cues decide whether and where; category and severity then stay unknown ("").

Bad (two decisions): the apology rule charges for not apologizing to a complaint the classifier
never saw, and conversations.csv says complaint = no.
Good: `decide` once per conversation; the trigger index is `first_index`.
"""
from __future__ import annotations

from dataclasses import dataclass

_SEVERITY_RANK = {"none": 0, "normal": 1, "serious": 2}


@dataclass(frozen=True, slots=True)
class ComplaintDecision:
    is_complaint: bool | None  # None: nothing could decide (no classifier, no cue trigger)
    first_index: int | None  # the first customer message that complains
    category: str = ""  # none / product / … ('' when only cues decided)
    severity: str = ""  # none / normal / serious ('' when only cues decided)


NOT_DECIDED = ComplaintDecision(None, None)
NO_COMPLAINT = ComplaintDecision(False, None, "none", "none")


def decide(customer_messages, cue_index: int | None = None, cues_decide: bool = True,
           min_probability: float = 0.0) -> ComplaintDecision:
    """The conversation's complaint from its customer messages' classifier signals (`Message.complaint`).

    Without any signal (no classifier), `cue_index` (the first message matching the rulebook's
    complaint cues) decides when `cues_decide`. With signals, the classifier decides:
    - complaint when at least one message is judged a complaint with P(dissatisfied) ≥ `min_probability`
      (the rulebook's `triggers.complaint.min_probability`: one clear grievance, not a doubtful line);
    - the first message judged a complaint is where the complaint starts;
    - the category is the one with the most evidence over the complaining messages (the summed
      probability of each message judged a complaint of that category; the earlier on ties);
    - serious when any complaining message is serious.
    """
    signals = [(m.index, m.complaint) for m in customer_messages if m.complaint is not None]
    if not signals:
        if not cues_decide:
            return NOT_DECIDED
        return ComplaintDecision(cue_index is not None, cue_index)
    complaining = [(i, s) for i, s in signals if s.is_complaint]
    if not complaining or max(s.probability for _, s in complaining) < min_probability:
        return NO_COMPLAINT
    evidence: dict[str, float] = {}
    severity = "normal"
    for _, s in complaining:
        evidence[s.category] = evidence.get(s.category, 0.0) + s.probability
        if _SEVERITY_RANK.get(s.severity, 0) > _SEVERITY_RANK[severity]:
            severity = s.severity
    category = max(evidence, key=evidence.__getitem__)  # dicts keep first-seen order: earlier wins ties
    return ComplaintDecision(True, complaining[0][0], category, severity)
