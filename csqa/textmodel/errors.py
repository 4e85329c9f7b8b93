"""Errors of the text models (shown to users as one line, Chinese then English, naming the file and what to do)."""
from __future__ import annotations

from csqa.core.errors import CsqaError


class TextModelError(CsqaError):
    """Base class for model errors."""


class ModelLoadError(TextModelError):
    """The model file is missing, tampered with, malformed, or was saved by an incompatible numpy."""


class CorpusError(TextModelError):
    """A training or evaluation corpus is missing, unreadable or lacks required columns."""
