"""Rule documentation generated from the rulebook itself (sqlfluff/ruff style): `csqa rules show`, docs/rules.md."""
from __future__ import annotations

from csqa.rulebook.schema import CHECK_NAMES_ZH, Rule, Rulebook


def _example(ex) -> str:
    if isinstance(ex, str):
        return f"客服: {ex}"
    return " → ".join(f"{'客服' if 'agent' in t else '顾客'}: {t.get('agent', t.get('customer'))}" for t in ex)


def rule_markdown(rule: Rule, book: Rulebook) -> str:
    dims = {d.id: d.name for d in book.dimensions}
    kind = {"require": "必做 (未做到即扣分)", "forbid": "禁止 (每次出现扣分)", "timing": "时效", "repetition": "禁止 (重复刷屏)", "emoji": "禁止 (表情过多)",
            "outcome": "结果 (会话的解决与顾客反应)"}[rule.kind]
    lines = [
        f"### {rule.code} {rule.name}" + (f" ({rule.name_en})" if rule.name_en else ""),
        "",
        f"- 检查项 check: `{rule.check}` ({CHECK_NAMES_ZH.get(rule.check, '')}) — {kind}",
        f"- 维度: {dims.get(rule.dimension, rule.dimension)} · 严重度: {rule.severity} · 分值: {rule.points:g}",
        f"- 依据条款: {rule.clause}",
        "",
        rule.description,
        "",
    ]
    if rule.examples.fail:
        lines.append("**违规示例 (bad)**")
        lines += [f"- {_example(e)}" for e in rule.examples.fail]
        lines.append("")
    if rule.examples.pass_:
        lines.append("**合规示例 (good)**")
        lines += [f"- {_example(e)}" for e in rule.examples.pass_]
        lines.append("")
    return "\n".join(lines)


def rulebook_markdown(book: Rulebook) -> str:
    out = [f"# {book.name} (`{book.id}`)", "", "本文件由 `python -m csqa.rulebook.docs` 从规则库生成，请勿手改。", ""]
    out.append("| 维度 | 权重 |\n|---|---|")
    out += [f"| {d.name} ({d.name_en}) | {d.weight:g} |" for d in book.dimensions]
    out.append("")
    out += [rule_markdown(r, book) for r in book.rules]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    from csqa.rulebook.loader import load_rulebook

    book = load_rulebook(sys.argv[1] if len(sys.argv) > 1 else None).rulebook
    print(rulebook_markdown(book))
