"""`csqa report --store PATH -o DIR`: parse the options and hand them to `csqa.outputs.report_from_store`."""
from __future__ import annotations

from pathlib import Path

import click

from csqa.cli.group import cli, debug_option


@cli.command()
@click.option("--store", "store", required=True, type=click.Path(dir_okay=False), help="结果库 (DuckDB) 路径")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False),
              help="输出目录 (report.html, report.xlsx, conversations.csv, findings.csv, agents.csv)")
@click.option("--from", "date_from", default=None, help="起始日期 YYYY-MM-DD (含)")
@click.option("--to", "date_to", default=None, help="结束日期 YYYY-MM-DD (含)")
@click.option("--agent", default=None, help="只看这位客服 (主要接待客服)")
@click.option("--check", default=None, help="只看出现该问题的会话: 检查项名 (如 apology) 或规则编号/前缀 (如 RED-003, RED)")
@click.option("--no-mask", is_flag=True, help="报告中不打码个人信息")
@click.option("-q", "--quiet", is_flag=True, help="不显示摘要")
@debug_option
def report(store, outdir, date_from, date_to, agent, check, no_mask, quiet):
    """从结果库重建报告: csqa report --store PATH -o DIR [--from DATE] [--to DATE] [--agent ID] [--check NAME]"""
    from csqa.outputs.report_from_store import run_report
    from csqa.review import human_score

    summary = run_report(store=Path(store), outdir=Path(outdir), date_from=date_from, date_to=date_to, agent=agent,
                         check=check, mask=not no_mask, review=human_score)  # (human scores of a reviewed store)
    if not quiet:
        click.echo(summary["text"])
