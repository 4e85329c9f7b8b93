"""`csqa rules lint`: find duplicate, unreachable and conflicting rules."""
from __future__ import annotations

from csqa.rulebook.schema import Rule, Rulebook

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
