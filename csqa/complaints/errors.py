"""Errors raised by the complaint classifier."""
from __future__ import annotations

from csqa.errors import CsqaError


class ComplaintModelError(CsqaError):
    """Base class for complaint-classifier errors (shown to users as one line, no traceback)."""


class ModelLoadError(ComplaintModelError):
    """The model file is missing, tampered with, or was made by incompatible library versions.

    The message is Chinese first, then English, and names the file and what to do.
    """


class CorpusError(ComplaintModelError):
    """A training or evaluation corpus is missing, unreadable or lacks required columns."""
