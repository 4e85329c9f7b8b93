"""`csqa rules test`: run every rule's examples; `csqa rules lint`: find duplicate, unreachable and conflicting rules."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from csqa.checks.engine import CompiledRulebook
from csqa.text.conversations import build_conversations
from csqa.rulebook.schema import Rule, Rulebook
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


def run_examples(rulebook: Rulebook, segmenter: Segmenter, select=None) -> list[ExampleResult]:
    results = []
    for rule in rulebook.rules:
        if select and rule.code not in select and rule.check not in select:
            continue
        book = CompiledRulebook(rulebook, select=[rule.code])
        segmenter.add_words(w for w in book.vocabulary() if len(w) >= 2)
        for expected, examples in (("fail", rule.examples.fail), ("pass", rule.examples.pass_)):
            for example in examples:
                conv = next(build_conversations(example_frame(example, rule), segmenter))
                ev = book.evaluate(conv)
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


def lint(rulebook: Rulebook) -> list[str]:
    """Problems a QA lead should fix: duplicates, rules that can never fire, conflicts."""
    problems: list[str] = []
    seen: dict[tuple, str] = {}
    for rule in rulebook.rules:
        body = rule.require or rule.forbid
        if body is not None:
            key = (rule.check, rule.kind, body.model_dump_json(), rule.scope.model_dump_json())
            if key in seen:
                problems.append(f"{rule.code}: 与 {seen[key]} 完全重复 (同一检查项、范围和匹配条件)")
            seen.setdefault(key, rule.code)
        if rule.points == 0 and rule.severity != "critical":
            problems.append(f"{rule.code}: 分值为 0 且不是红线规则，命中也不影响得分")
        if not rule.examples.fail:
            problems.append(f"{rule.code}: 没有 fail 示例，`rules test` 无法证明它能触发")
        scope = rule.scope
        if scope.first_turns is not None and scope.first_turns < 1 or scope.last_turns is not None and scope.last_turns < 1:
            problems.append(f"{rule.code}: first_turns/last_turns 小于 1，规则永远不会检查任何消息 (unreachable)")
        if rule.applies_when.min_agent_turns < 1 and rule.scope.role == "agent" and rule.require is not None:
            problems.append(f"{rule.code}: 允许没有客服消息的会话，必做项将总是缺失")
        if body is not None:
            for phrase in body.exclude:
                phrases = {p for g in body.phrases for p in ([g] if isinstance(g, str) else g)}
                if phrase in phrases:
                    problems.append(f"{rule.code}: 短语「{phrase}」同时在 phrases 和 exclude 中 (conflict: 永远不会命中)")
    by_check: dict[str, list[Rule]] = {}
    for rule in rulebook.rules:
        by_check.setdefault(rule.check, []).append(rule)
    for check, rules in by_check.items():
        kinds = {r.kind for r in rules}
        if "require" in kinds and "forbid" in kinds:
            problems.append(f"检查项 {check}: 同时有 require 和 forbid 规则 (conflict)")
        forbid_sets = [(r.code, {p for g in r.forbid.phrases for p in ([g] if isinstance(g, str) else g)}) for r in rules if r.forbid]
        for i, (code_a, set_a) in enumerate(forbid_sets):
            for code_b, set_b in forbid_sets[i + 1 :]:
                both = sorted(set_a & set_b)
                if both:
                    problems.append(f"{code_a} 与 {code_b}: 同一检查项下重复的短语 {', '.join(both[:5])} (会重复扣分)")
    return problems
