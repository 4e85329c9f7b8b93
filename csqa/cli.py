"""csqa command line: score, rules, and the complaint model's train / classify / evaluate.

Exit codes: 0 success · 1 unexpected internal error · 2 bad input, rulebook or option
(one clear line on stderr; `--debug` shows the traceback) · 141 the reader of the output
closed the pipe (`csqa rules list | head`): quietly, as a Unix tool would.

Imports are kept light here and made where a command runs: `csqa score` forks its ingest child
(`csqa.ingest.background`) first thing, while the process holds only the standard library and
click — before pandas, jieba, DuckDB or Arrow are imported (they start thread pools, and a fork
must not copy a process with threads running).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from csqa import __version__
from csqa.core.errors import ConfigError, CsqaError, named_path, storage_error


def _warnings_and_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _quiet_jieba() -> None:
    """jieba logs its dictionary loading on stderr at DEBUG; keep only its warnings and errors.

    A filter on its logger, because jieba sets the logger's level to DEBUG when it is imported —
    and importing jieba here (0.2 s) would be wasted: with rjieba installed it is never used.
    """
    logging.getLogger("jieba").addFilter(_warnings_and_worse)


# commands of optional packages, imported only when named (or listed by --help)
_LAZY_COMMANDS = {"train": "csqa.complaints.cli", "classify": "csqa.complaints.cli", "evaluate": "csqa.complaints.cli"}


class CsqaGroup(click.Group):
    """Turns csqa errors into one line and a non-zero exit, never a traceback (unless --debug)."""

    def list_commands(self, ctx):
        extra = [name for name in _LAZY_COMMANDS if name not in self.commands and self._lazy(name) is not None]
        return sorted([*super().list_commands(ctx), *extra])

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, cmd_name) or self._lazy(cmd_name)

    @staticmethod
    def _lazy(name: str):
        module = _LAZY_COMMANDS.get(name)
        if module is None:
            return None
        try:
            from importlib import import_module

            return getattr(import_module(module), name)
        except ImportError:  # the complaint package is optional until its model lands
            return None

    def invoke(self, ctx):
        debug = "--debug" in sys.argv
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # (inside the try: a closed pipe shows up here, not at exit)
            return result
        except BrokenPipeError:
            # the reader of our output went away (`csqa rules list | head`): not an error of csqa's.
            # Quiet, with the status a Unix tool killed by SIGPIPE gives; stdout goes to /dev/null
            # so the interpreter's own flush at exit cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except CsqaError as exc:
            if debug:
                raise
            click.echo(f"错误: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Terminated as exc:
            click.echo("已终止 (terminated)", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("已中断 (interrupted)", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - last line of defence for the user
            if debug:
                raise
            # a full disk, a read-only or forbidden path (where no file is named: most likely temporary files)
            if named_path(exc):
                err = storage_error(exc, verb=("访问", "accessing"))
            else:
                import tempfile

                err = storage_error(exc, tempfile.gettempdir(), verb=("写入临时目录", "writing to the temporary folder"))
            if err is not None:
                click.echo(f"错误: {err}", err=True)
                sys.exit(err.exit_code)
            click.echo(f"内部错误: {type(exc).__name__}: {exc} — 请加 --debug 重新运行并把输出报告给我们", err=True)
            sys.exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) during `csqa score`: unwound like Ctrl-C (workers and jobs ended, temporary
    folders removed, OUTDIR and the store left as they were), exit status 128 + the signal's number."""

    def __init__(self, signum: int = 15):
        super().__init__(signum)
        self.exit_code = 128 + signum


class _TerminateAsInterrupt:
    """While `csqa score` runs in the main thread, SIGTERM and SIGHUP raise `Terminated`."""

    def __enter__(self):
        import signal
        import threading

        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            def raise_terminated(signum, frame):
                raise Terminated(signum)

            for name in ("SIGTERM", "SIGHUP"):
                if hasattr(signal, name):
                    sig = getattr(signal, name)
                    self.previous[sig] = signal.signal(sig, raise_terminated)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@click.group(cls=CsqaGroup)
@click.version_option(__version__, prog_name="csqa")
def cli() -> None:
    """csqa — 客服会话质检 (Chinese customer-service conversation QA)."""
    _quiet_jieba()


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"{option} 需要 键=值 的形式，例如 {option} text=聊天内容 (收到: {item!r})")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _codes(values: tuple[str, ...]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


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
@click.option("-q", "--quiet", is_flag=True, help="不显示进度条和摘要")
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def score(inputs, outdir, encoding, column_map, role_map, rulebook, select, ignore, model, no_model, no_mask,
          store, engine, workers, segmenter, statistics, fmt, quiet, debug):
    """为导出的聊天记录打分: csqa score INPUT… -o OUTDIR"""
    columns, roles = _pairs(column_map, "--map"), _pairs(role_map, "--role-map")
    from csqa.runtime.workspace import RunTemp

    with _TerminateAsInterrupt(), RunTemp():  # every temporary folder of the run under one, removed at the end
        summary = _score(inputs, outdir, encoding, columns, roles, rulebook, select, ignore, model, no_model, no_mask,
                         store, engine, workers, segmenter, quiet)
    if fmt == "json":
        click.echo(json.dumps(summary["manifest"], ensure_ascii=False, indent=2, default=str))
    elif not quiet:
        click.echo(summary["text"])
    if statistics:
        click.echo(summary["statistics"])


def _score(inputs, outdir, encoding, columns, roles, rulebook, select, ignore, model, no_model, no_mask, store, engine,
           workers, segmenter, quiet) -> dict:
    background = None
    try:
        if engine == "local":
            # the inputs are read in a child forked now, while this process imports and sets up
            from csqa.ingest.background import BackgroundIngest

            background = BackgroundIngest.start(list(inputs), encoding, columns, roles)
        from csqa.runner import run_score

        return run_score(
            inputs=list(inputs),
            outdir=Path(outdir),
            encoding=encoding,
            column_map=columns,
            role_map=roles,
            rulebook=rulebook,
            select=_codes(select),
            ignore=_codes(ignore),
            model=model,
            use_model=not no_model,
            mask=not no_mask,
            quiet=quiet,
            store=store,
            engine=engine,
            workers=workers,
            segmenter=segmenter,
            background=background,
        )
    finally:
        if background is not None:
            background.close()


# ---------------------------------------------------------------------------- report
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
@click.option("--debug", is_flag=True, help="出错时显示完整 traceback")
def report(store, outdir, date_from, date_to, agent, check, no_mask, quiet, debug):
    """从结果库重建报告: csqa report --store PATH -o DIR [--from DATE] [--to DATE] [--agent ID] [--check NAME]"""
    from csqa.runner import run_report

    summary = run_report(store=Path(store), outdir=Path(outdir), date_from=date_from, date_to=date_to, agent=agent,
                         check=check, mask=not no_mask)
    if not quiet:
        click.echo(summary["text"])


# ---------------------------------------------------------------------------- rules
@cli.group()
def rules() -> None:
    """规则库: list / show / test / lint"""


def _load(rulebook):
    from csqa.rulebook.loader import load_rulebook

    return load_rulebook(rulebook).rulebook


@rules.command("list")
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
@click.option("--rulebook", default=None, type=click.Path())
@click.option("--select", multiple=True)
@click.option("--model", "model_path", default=None, type=click.Path(), help="投诉分类模型 / complaint model (默认内置)")
@click.option("--no-model", is_flag=True, help="不用投诉分类模型，只按规则库的线索 / the rulebook's cues alone")
def rules_test(rulebook, select, model_path, no_model):
    """运行每条规则的示例 (与评分同样的步骤，含投诉分类): fail 示例必须命中，pass 示例不得命中"""
    from csqa.scoring.examples import run_examples
    from csqa.scoring.stages import ScoreOptions, load_complaint_model
    from csqa.text.segment import Segmenter

    classifier = load_complaint_model(ScoreOptions(model=model_path, use_model=not no_model))
    results = run_examples(_load(rulebook), Segmenter(), select=_codes(select) or None, classifier=classifier)
    bad = [r for r in results if not r.ok]
    for r in bad:
        want = "应命中" if r.expected == "fail" else "不应命中"
        click.echo(f"FAIL {r.rule} ({want}): {r.example} — {r.detail}")
    click.echo(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    sys.exit(1 if bad else 0)


@rules.command("lint")
@click.option("--rulebook", default=None, type=click.Path())
def rules_lint(rulebook):
    """检查重复、不可达和相互冲突的规则"""
    from csqa.rulebook.lint import lint

    problems = lint(_load(rulebook))
    for p in problems:
        click.echo(p)
    click.echo(f"{len(problems)} 个问题" if problems else "规则库没有发现问题")
    sys.exit(1 if problems else 0)


def main() -> None:
    from csqa.runtime.lifeline import end_helper_processes

    try:
        cli(prog_name="csqa")
    finally:
        end_helper_processes()  # no process of csqa's outlives the command


if __name__ == "__main__":
    main()
