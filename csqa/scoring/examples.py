"""`csqa rules test`: every rule's examples judged by the scoring stages (csqa.scoring.stages.Judge), the
classifier included: a `fail` example must trigger its rule, a `pass` example must not."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from csqa.checks.engine import CompiledRulebook
from csqa.rulebook.schema import Rule, Rulebook
from csqa.scoring.stages import Judge
from csqa.text.segment import Segmenter

OPENING = "你好，在吗"


@dataclass
class ExampleResult:
    rule: str
    expected: str  # "fail" (must trigger) or "pass" (must not)
    example: str
    ok: bool
    detail: str


def example_frame(example, rule: Rule) -> pd.DataFrame:
    """An example as an ingested-messages frame: a string is one agent reply after 「你好，在吗」."""
    if isinstance(example, str):
        turns = [{"customer": OPENING}, {"agent": example}]
    else:
        turns = example
    rows = []
    for i, turn in enumerate(turns):
        role = "agent" if "agent" in turn else "customer"
        rows.append(
            {
                "conversation_id": "example",
                "timestamp": pd.Timestamp(turn["time"]) if "time" in turn else pd.NaT,
                "role": role,
                "agent_id": "example_agent" if role == "agent" else "",
                "text": str(turn[role]),
                "source": "example",
                "source_row": i + 1,
                "seq": i,
            }
        )
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


def _describe(example) -> str:
    if isinstance(example, str):
        return example
    return " / ".join(f"{'客服' if 'agent' in t else '顾客'}:{t.get('agent', t.get('customer'))}" for t in example)


def run_examples(rulebook: Rulebook, segmenter: Segmenter, select=None, classifier=None) -> list[ExampleResult]:
    """Each selected rule's examples, the rule compiled alone; `classifier` (the complaint classifier, or None
    for the rulebook's cues alone) judges the customer messages as in scoring."""
    results = []
    for rule in rulebook.rules:
        if select and rule.code not in select and rule.check not in select:
            continue
        book = CompiledRulebook(rulebook, select=[rule.code])
        segmenter.add_words(w for w in book.vocabulary() if len(w) >= 2)
        judge = Judge(book, classifier, None, segmenter)
        for expected, examples in (("fail", rule.examples.fail), ("pass", rule.examples.pass_)):
            for example in examples:
                convs = judge.conversations(example_frame(example, rule))
                judge.classify(convs)
                ev = judge.evaluate(convs[0])
                applicable = any(r.code == rule.code for r in ev.applicable)
                hits = [h for h in ev.hits if h.rule.code == rule.code]
                if expected == "fail":
                    ok = applicable and bool(hits)
                    detail = "规则不适用 (N/A)" if not applicable else ("未触发" if not hits else hits[0].explanation)
                else:
                    ok = not hits
                    detail = hits[0].explanation if hits else ("不适用" if not applicable else "未触发")
                results.append(ExampleResult(rule.code, expected, _describe(example), ok, detail))
    return results


