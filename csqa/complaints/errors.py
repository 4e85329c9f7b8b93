"""Errors raised by the complaint classifier (the text models' errors: csqa.textmodel.errors)."""
from __future__ import annotations

from csqa.textmodel.errors import CorpusError, ModelLoadError, TextModelError

ComplaintModelError = TextModelError

__all__ = ["ComplaintModelError", "CorpusError", "ModelLoadError"]
