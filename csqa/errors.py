"""Errors csqa reports to its users as one clear line (the CLI prints them without a traceback)."""
from __future__ import annotations


class CsqaError(Exception):
    """Base class: the message is shown to the user as is; it says what went wrong and what to do."""

    exit_code = 2


class InputError(CsqaError):
    """An input file cannot be used at all (missing, unreadable, wrong format, required column missing)."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class RulebookError(CsqaError):
    """A rulebook file is invalid; the message names the file, the line and what is wrong."""


class ConfigError(CsqaError):
    """A command-line option or setting is invalid."""
