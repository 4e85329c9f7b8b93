"""`csqa score INPUT… -o OUTDIR`: parse the options and hand them to `csqa.runner.run_score`."""
from __future__ import annotations

import json

import click

from csqa.cli.group import TerminateAsInterrupt, cli, debug_option
from csqa.cli.options import codes, pairs
from csqa.settings import ScoreSettings


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="输出目录")
@click.option("--encoding", default=None, help="强制输入编码 (utf-8, gb18030, utf-16…)；默认自动识别")
@click.option("--map", "column_map", multiple=True, help="列名映射，如 --map text=聊天内容 (字段: conversation, time, role, agent, text)")
@click.option("--role-map", multiple=True, help="角色值映射，如 --role-map 坐席=agent")
@click.option("--rulebook", default=None, type=click.Path(), help="使用店铺自己的规则库 YAML")
@click.option("--select", multiple=True, help="只运行这些规则 (编号或检查项，逗号分隔)")
@click.option("--ignore", multiple=True, help="不运行这些规则 (编号或检查项，逗号分隔)")
@click.option("--model", default=None, type=click.Path(), help="投诉分类模型 (complaint_classifier.npz 或其目录，须附 .json 与模型卡)；默认使用内置模型")
@click.option("--no-model", is_flag=True, help="不做投诉分类 (投诉列留空)")
@click.option("--no-mask", is_flag=True, help="证据和报告中不打码个人信息 (run.json 会记录)")
@click.option("--store", default=None, type=click.Path(dir_okay=False),
              help="结果库 (DuckDB) 路径，跨批次保留；默认只写 OUTDIR/results.duckdb")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
              help="local: 本机多进程 (默认); spark: PySpark (pip install 'csqa[spark]')")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="本机引擎的进程数 (默认: 全部 CPU 核)")
@click.option("--segmenter", type=click.Choice(["auto", "jieba", "rjieba"]), default="auto",
              help="分词器: auto = 已安装时用 rjieba (与 jieba 结果一致、更快); jieba = 参考实现")
@click.option("--statistics", is_flag=True, help="结束时打印各规则命中统计")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="结束摘要的格式")
@click.option("--alert-webhook", default=None, help="红线和重大投诉会话的告警地址 (http/https webhook)")
@click.option("--alert-format", type=click.Choice(["json", "dingtalk", "wecom", "feishu"]), default="json",
              help="告警消息格式: json / 钉钉 / 企业微信 / 飞书")
@click.option("--alert-link", default=None, help="告警中的详情链接，{conversation_id} 处填会话编号 (默认: OUTDIR/report.html)")
@click.option("--alert-timeout", type=click.FloatRange(0.1, 120), default=5.0, help="每次发送的超时秒数")
@click.option("-q", "--quiet", is_flag=True, help="不显示进度条和摘要")
@debug_option
def score(inputs, outdir, column_map, role_map, select, ignore, statistics, fmt, alert_webhook, alert_format,
          alert_link, alert_timeout, **options):
    """为导出的聊天记录打分: csqa score INPUT… -o OUTDIR"""
    if alert_webhook:
        from csqa.review.alerts import check_options

        check_options(alert_webhook, alert_format)
    settings = ScoreSettings.from_options(inputs, outdir, column_map=pairs(column_map, "--map"),
                                          role_map=pairs(role_map, "--role-map"), select=codes(select),
                                          ignore=codes(ignore), **options)
    from csqa.runtime.workspace import RunTemp

    with TerminateAsInterrupt(), RunTemp():  # every temporary folder of the run under one, removed at the end
        summary = _score(settings)
    if fmt == "json":
        click.echo(json.dumps(summary["manifest"], ensure_ascii=False, indent=2, default=str))
    elif not settings.quiet:
        click.echo(summary["text"])
    if statistics:
        click.echo(summary["statistics"])
    if alert_webhook:  # after the run is complete: a receiver's failure never fails it
        from csqa.review.alerts import AlertOptions, send_alerts

        sent = send_alerts(outdir, AlertOptions(alert_webhook, alert_format, timeout=alert_timeout, link=alert_link))
        if not settings.quiet or sent.undelivered:
            click.echo(sent.text(), err=bool(sent.undelivered))


def _score(settings: ScoreSettings) -> dict:
    background = None
    try:
        if settings.engine == "local":
            # the inputs are read in a child forked now, while this process imports and sets up
            from csqa.ingest.background import BackgroundIngest

            background = BackgroundIngest.start(list(settings.inputs), settings.encoding, settings.column_map,
                                                settings.role_map)
        from csqa.runner import run_score

        return run_score(settings, background=background)
    finally:
        if background is not None:
            background.close()
