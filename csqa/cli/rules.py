"""`csqa rules list | show CODE | test | lint`: the rulebook's own commands."""
from __future__ import annotations

import json
import sys

import click

from csqa.cli.group import cli, debug_option
from csqa.cli.options import codes
from csqa.core.errors import ConfigError


@cli.group()
@debug_option
def rules() -> None:
    """规则库: list / show / test / lint"""


def _load(rulebook):
    from csqa.rulebook.loader import load_rulebook

    return load_rulebook(rulebook).rulebook


@rules.command("list")
@debug_option
@click.option("--rulebook", default=None, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_list(rulebook, fmt):
    """列出规则 (编号、名称、检查项、严重度、分值、条款)"""
    book = _load(rulebook)
    if fmt == "json":
        click.echo(json.dumps([r.model_dump(by_alias=True, exclude={"examples"}) for r in book.rules], ensure_ascii=False, indent=2))
        return
    for r in book.rules:
        click.echo(f"{r.code:<10} {r.name:<14} {r.check:<16} {r.severity:<8} {r.points:>5g}  {r.clause}")


@rules.command("show")
@debug_option
@click.argument("code")
@click.option("--rulebook", default=None, type=click.Path())
def rules_show(code, rulebook):
    """显示一条规则的说明、条款和示例"""
    from csqa.rulebook.docs import rule_markdown

    book = _load(rulebook)
    matches = [r for r in book.rules if r.code == code.upper() or r.check == code]
    if not matches:
        raise ConfigError(f"没有规则 {code}；用 `csqa rules list` 查看全部规则")
    for r in matches:
        click.echo(rule_markdown(r, book))


@rules.command("test")
@debug_option
@click.option("--rulebook", default=None, type=click.Path())
@click.option("--select", multiple=True)
@click.option("--model", "model_path", default=None, type=click.Path(), help="投诉分类模型 / complaint model (默认内置)")
@click.option("--no-model", is_flag=True, help="不用投诉分类模型，只按规则库的线索 / the rulebook's cues alone")
@click.option("--examples", "extra_examples", default=None, type=click.Path(dir_okay=False),
              help="另加示例: csqa review export 写出的 rule_examples.yaml (复核确认的误报与漏检)")
def rules_test(rulebook, select, model_path, no_model, extra_examples):
    """运行每条规则的示例 (与评分同样的步骤，含投诉分类): fail 示例必须命中，pass 示例不得命中"""
    from csqa.scoring.examples import run_examples
    from csqa.scoring.stages import load_complaint_model
    from csqa.settings import ScoringSettings
    from csqa.text.segment import Segmenter

    classifier = load_complaint_model(ScoringSettings(model=model_path, use_model=not no_model))
    book = _load(rulebook)
    if extra_examples:
        from csqa.review.export import with_examples

        book = with_examples(book, extra_examples)
    results = run_examples(book, Segmenter(), select=codes(select) or None, classifier=classifier)
    bad = [r for r in results if not r.ok]
    for r in bad:
        want = "应命中" if r.expected == "fail" else "不应命中"
        click.echo(f"FAIL {r.rule} ({want}): {r.example} — {r.detail}")
    click.echo(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    sys.exit(1 if bad else 0)


@rules.command("lint")
@debug_option
@click.option("--rulebook", default=None, type=click.Path())
def rules_lint(rulebook):
    """检查重复、不可达和相互冲突的规则"""
    from csqa.rulebook.lint import lint

    problems = lint(_load(rulebook))
    for p in problems:
        click.echo(p)
    click.echo(f"{len(problems)} 个问题" if problems else "规则库没有发现问题")
    sys.exit(1 if problems else 0)


def _review_commands() -> None:
    from csqa.cli.review import rules_stats

    rules.add_command(rules_stats, "stats")  # csqa rules stats (per-rule precision from reviews)


_review_commands()
