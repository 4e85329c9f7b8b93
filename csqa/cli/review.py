"""The review loop's commands: `csqa sample`, `csqa review import|appeal|rule|appeals|audit|export`
and `csqa rules stats`. Each is a thin shell over the API of `csqa.review` (csqa/cli/group.py
loads them when named); csqa errors become one line and exit 2 there."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

_STORE = click.option("--store", "store", required=True, type=click.Path(dir_okay=False), help="结果库 (DuckDB) 路径")


def _store_file(store: str) -> str:
    from csqa.core.errors import ConfigError

    if not Path(store).is_file():
        raise ConfigError(f"找不到结果库 {store}；先用 csqa score … --store {store} 打分 / no store at {store}")
    return store


def _table(frame, fmt: str) -> None:
    """A DataFrame as JSON records or as aligned text."""
    if fmt == "json":
        click.echo(json.dumps(json.loads(frame.to_json(orient="records", force_ascii=False, date_format="iso")),
                              ensure_ascii=False, indent=2))
    elif frame.empty:
        click.echo("(无 / none)")
    else:
        click.echo(frame.to_string(index=False))


# ---------------------------------------------------------------------------- csqa sample
@click.command("sample")
@_STORE
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="复核队列 .xlsx (多位复核员时每人一个: queue-小王.xlsx …)")
@click.option("--rate", type=float, default=0.05, show_default=True, help="每位客服每个周期随机抽取的比例")
@click.option("--min-per-agent", type=int, default=0, show_default=True, help="每位客服至少抽几个会话")
@click.option("--reviewers", default=None, help="复核员: 小王,小李 (平均分配) 或 小王:40,小李:20 (配额)")
@click.option("--calibration", type=int, default=0, show_default=True, help="另抽 N 个会话给每位复核员 (校准一致性)")
@click.option("--seed", default="0", show_default=True, help="随机种子: 相同结果库、选项和种子得到相同队列")
@click.option("--period", type=click.Choice(["day", "week", "month", "all"]), default="week", show_default=True,
              help="分层抽样的周期")
@click.option("--from", "date_from", default=None, help="起始日期 YYYY-MM-DD (含)")
@click.option("--to", "date_to", default=None, help="结束日期 YYYY-MM-DD (含)")
@click.option("--agent", default=None, help="只抽这位客服的会话")
@click.option("--dry-run", is_flag=True, help="只显示会抽到什么，不写文件也不记录")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def sample(store, out, rate, min_per_agent, reviewers, calibration, seed, period, date_from, date_to, agent, dry_run,
           debug):
    """抽样复核队列: 全部红线和重大投诉会话 + 按客服和周期分层随机抽样，分给复核员"""
    from csqa.core.errors import ConfigError
    from csqa.review.sampling import SampleOptions, parse_reviewers, sample as run_sample

    if min_per_agent < 0 or calibration < 0:
        raise ConfigError("--min-per-agent 和 --calibration 不能为负数")
    options = SampleOptions(rate=rate, min_per_agent=min_per_agent, reviewers=parse_reviewers(reviewers),
                            calibration=calibration, seed=str(seed), period=period, date_from=date_from,
                            date_to=date_to, agent=agent)
    result = run_sample(_store_file(store), out, options, dry_run=dry_run)
    click.echo(result.text() + ("\n(--dry-run: 未写文件，未记录)" if dry_run else ""))


# ---------------------------------------------------------------------------- csqa review …
@click.group("review")
def review() -> None:
    """人工复核: import (导入判定) / appeal (申诉) / rule (裁决) / appeals / audit / export"""


@review.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_STORE
@click.option("--reviewer", required=True, help="复核员名字")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def review_import(file, store, reviewer, debug):
    """导入复核判定 (队列 .xlsx 或 CSV: finding_id, verdict, comment …)；有任何一行无法导入则整个文件都不导入"""
    from csqa.review import ImportRejected, import_verdict_file

    try:
        result = import_verdict_file(_store_file(store), file, reviewer)
    except ImportRejected as exc:
        for where, column, reason in exc.problems:
            click.echo(f"{where} {column}: {reason}", err=True)
        raise
    click.echo(result.text())


@review.command("appeal")
@_STORE
@click.option("--agent", required=True, help="申诉的客服 (须是问题所属的客服)")
@click.option("--finding", "finding_id", required=True, help="finding_id (findings.csv / 复核队列中的问题编号)")
@click.option("--reason", required=True, help="申诉理由 (必填)")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def review_appeal(store, agent, finding_id, reason, debug):
    """客服对一个问题提出申诉"""
    from csqa.review import file_appeal

    appeal = file_appeal(_store_file(store), agent, finding_id, reason)
    click.echo(f"已提交申诉 {appeal.appeal_id}: 问题 {appeal.finding_id} ({appeal.rule_id}, 会话 {appeal.conversation_id})，"
               f"待裁决 / appeal {appeal.appeal_id} filed")


@review.command("rule")
@_STORE
@click.option("--appeal", "appeal_id", required=True, type=int, help="申诉编号")
@click.option("--arbiter", required=True, help="裁决人 (主管)")
@click.option("--decision", required=True, help="upheld 维持 (问题成立) / overturned 撤销 (问题不成立)")
@click.option("--comment", default="", help="裁决说明")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def review_rule(store, appeal_id, arbiter, decision, comment, debug):
    """裁决一个申诉 (最终结果，改变人工分)"""
    from csqa.review import rule_on_appeal
    from csqa.review.appeals import DECISION_ZH

    appeal = rule_on_appeal(_store_file(store), arbiter, appeal_id, decision, comment)
    click.echo(f"申诉 {appeal.appeal_id}: {DECISION_ZH[appeal.status]}；会话 {appeal.conversation_id} 人工分 "
               f"{appeal.human_score_before} → {appeal.human_score_after} / appeal {appeal.appeal_id}: {appeal.status}")


@review.command("appeals")
@_STORE
@click.option("--status", type=click.Choice(["open", "upheld", "overturned", "ruled"]), default=None)
@click.option("--agent", default=None)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def review_appeals(store, status, agent, fmt):
    """列出申诉"""
    import pandas as pd

    from csqa.review import list_appeals

    rows = [a.as_dict() for a in list_appeals(_store_file(store), status=status, agent=agent)]
    _table(pd.DataFrame(rows, columns=["appeal_id", "finding_id", "conversation_id", "rule_id", "agent_id", "status",
                                       "arbiter", "reason", "filed_at", "ruled_at"]), fmt)


@review.command("audit")
@_STORE
@click.option("--conversation", "conversation_id", default=None)
@click.option("--finding", "finding_id", default=None)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def review_audit(store, conversation_id, finding_id, fmt):
    """复核记录 (只追加，从不修改): 抽样、判定、申诉、裁决"""
    from csqa.review import audit_trail

    _table(audit_trail(_store_file(store), conversation_id, finding_id), fmt)


# ---------------------------------------------------------------------------- csqa rules stats
@click.command("stats")
@_STORE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--floor", type=float, default=0.8, show_default=True, help="精确率下限: 低于它的规则被标出")
def rules_stats(store, fmt, floor):
    """每条规则的精确率 (Wilson 95% 区间，来自复核判定) 和复核员一致性 (Cohen / Fleiss kappa)"""
    from csqa.review import reviewer_agreement, rule_precision

    store = _store_file(store)
    precision = rule_precision(store, floor=floor)
    agreement = reviewer_agreement(store)
    if fmt == "json":
        as_records = lambda f: json.loads(f.to_json(orient="records", force_ascii=False))  # noqa: E731
        click.echo(json.dumps({"floor": floor, "rules": as_records(precision), "agreement": as_records(agreement)},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"规则精确率 (正确 / (正确 + 误报)，95% Wilson 区间；低于 {floor:g} 标 ⚠):")
    if precision.empty:
        click.echo("  (还没有复核判定 / no verdicts yet)")
    for r in precision.itertuples(index=False):
        p = "—" if pd_na(r.precision) else f"{r.precision:.2f} [{r.precision_low:.2f}, {r.precision_high:.2f}]"
        flag = " ⚠ 低于下限" if r.below_floor else ""
        small = " (样本少)" if r.small_sample else ""
        click.echo(f"  {r.rule_id:<10} {r.rule_name:<12} 复核 {r.reviewed:>4}  正确 {r.correct:>4}  误报 {r.false_positive:>4}"
                   f"  漏检 {r.missed:>4}  精确率 {p}{flag}{small}")
    if not agreement.empty:
        click.echo("复核员一致性 (校准会话):")
        for r in agreement.itertuples(index=False):
            k = lambda v: "—" if pd_na(v) else f"{v:.2f}"  # noqa: E731
            click.echo(f"  {r.rule_id:<10} 复核员 {r.raters}  单元 {r.units}  一致率 {k(r.agreement)}  "
                       f"Cohen κ {k(r.cohen_kappa)}  Fleiss κ {k(r.fleiss_kappa)}")
    sys.stdout.flush()


def pd_na(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


@review.command("export")
@_STORE
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="输出目录")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def review_export(store, outdir, debug):
    """复核结果导出为数据: complaint_labels.csv (投诉标注) 和 rule_examples.yaml (误报 → pass，漏检 → fail 示例)"""
    from csqa.review.export import export

    click.echo(export(_store_file(store), outdir).text())


# ---------------------------------------------------------------------------- csqa rescore
@click.command("rescore")
@_STORE
@click.option("--rulebook", required=True, type=click.Path(dir_okay=False), help="新规则库 YAML")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False),
              help="输出目录 (changes.csv, rules.csv, summary.json)")
@click.option("--from", "date_from", default=None, help="起始日期 YYYY-MM-DD (含)")
@click.option("--to", "date_to", default=None, help="结束日期 YYYY-MM-DD (含)")
@click.option("--model", default=None, type=click.Path(), help="投诉分类模型 (默认: 内置模型)")
@click.option("--no-model", is_flag=True, help="不做投诉分类")
@click.option("--commit", is_flag=True, help="把新分数写入结果库 (默认只看影响，不改动)")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def rescore(store, rulebook, outdir, date_from, date_to, model, no_model, commit, debug):
    """规则变更影响: 用新规则库重新给库中的会话打分，列出每个变化的会话和每条规则的变化"""
    from csqa.review.rescore import rescore as run_rescore

    result = run_rescore(_store_file(store), rulebook, outdir, date_from, date_to, model=model, use_model=not no_model,
                         commit=commit)
    click.echo(result.text())
