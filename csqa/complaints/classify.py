"""The complaint stage of scoring: each customer message of a batch of conversations gets the classifier's
verdict (`Message.complaint`), read with the agent turn before it."""
from __future__ import annotations

from csqa.core.records import AGENT, CUSTOMER, ComplaintSignal


def classify_messages(convs, classifier) -> None:
    """Attach the classifier's verdict to every customer message (batched; nothing without a classifier).

    Each customer message is judged with the agent turn before it (没有了 after 还有其他问题吗 is an answer),
    and each distinct (text, context) pair once: chats repeat their lines."""
    if classifier is None:
        return
    msgs, contexts = [], []
    for c in convs:
        before = ""
        for m in c.messages:
            if m.role == AGENT:
                before = m.clean
            elif m.role == CUSTOMER:
                msgs.append(m)
                contexts.append(before)
    if not msgs:
        return
    pairs = list(dict.fromkeys(zip((m.clean for m in msgs), contexts)))
    rows = classifier.verdicts([t for t, _ in pairs], [c for _, c in pairs])
    signals = {pair: ComplaintSignal(cat, sev, float(p), bool(flag)) for pair, (cat, sev, p, flag) in zip(pairs, rows)}
    for m, context in zip(msgs, contexts):
        m.complaint = signals[(m.clean, context)]
