"""The `csqa` command group: csqa's errors as one line and an exit code, never a traceback (unless --debug);
SIGTERM/SIGHUP unwound like Ctrl-C; the complaint model's commands loaded when named."""
from __future__ import annotations

import logging
import os
import sys

import click

from csqa import __version__
from csqa.core.errors import CsqaError, named_path, storage_error

_DEBUG = "csqa.debug"  # ctx.meta key, shared by a command's context and its group's


def _remember_debug(ctx: click.Context, param, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG] = True


def debug_option(command):
    """`--debug` on a command (any command: `csqa rules list --debug`, `csqa --debug score …`)."""
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_remember_debug,
                        help="出错时显示完整 traceback / show the full traceback on an error")(command)


def with_debug_option(command: click.Command) -> click.Command:
    """A command defined elsewhere (without csqa's --debug) gets it."""
    if not any(p.name == "debug" for p in command.params):
        debug_option(command)
    return command


def debug_wanted(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(_DEBUG))


def _warnings_and_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _quiet_jieba() -> None:
    """jieba logs its dictionary loading on stderr at DEBUG; keep only its warnings and errors.

    A filter on its logger, because jieba sets the logger's level to DEBUG when it is imported —
    and importing jieba here (0.2 s) would be wasted: with rjieba installed it is never used.
    """
    logging.getLogger("jieba").addFilter(_warnings_and_worse)


# commands of optional packages, imported only when named (or listed by --help)
_LAZY_COMMANDS = {"train": "csqa.cli.models", "classify": "csqa.cli.models", "evaluate": "csqa.cli.models",
                  "sample": "csqa.cli.review", "review": "csqa.cli.review", "rescore": "csqa.cli.review",
                  "serve": "csqa.cli.serve", "users": "csqa.cli.serve"}


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

            return with_debug_option(getattr(import_module(module), name))
        except ImportError:  # the complaint package is optional until its model lands
            return None

    def invoke(self, ctx):
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
            if debug_wanted(ctx):
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
            if debug_wanted(ctx):
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


class TerminateAsInterrupt:
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
@debug_option
def cli() -> None:
    """csqa — 客服会话质检 (Chinese customer-service conversation QA)."""
    _quiet_jieba()
