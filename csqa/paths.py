"""Where csqa finds its bundled resources (domain dictionary, models, default rulebook)."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def corpora_dir() -> Path:
    return PROJECT_DIR / "corpora"


def models_dir() -> Path:
    return PROJECT_DIR / "models"
