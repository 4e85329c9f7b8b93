"""Where csqa finds its bundled resources (domain dictionary, models; the default rulebook sits in csqa/rulebook).

From a source checkout (the repo's pyproject.toml beside the package): the repo's own
models/ and corpora/, which the project's training and corpus scripts write. Installed from a
wheel: the copies shipped inside the package (csqa/_bundled/models, csqa/_bundled/corpora —
setup.py maps the repo folders there at build time), found with importlib.resources.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # csqa/
PROJECT_DIR = PACKAGE_DIR.parent


def _source_checkout(name: str) -> Path | None:
    folder = PROJECT_DIR / name
    if (PROJECT_DIR / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def _bundled(name: str) -> Path:
    """The package data folder csqa/_bundled/NAME (a plain folder: wheels install unzipped)."""
    found = resources.files("csqa") / "_bundled" / name
    return Path(str(found))


def corpora_dir() -> Path:
    return _source_checkout("corpora") or _bundled("corpora")


def models_dir() -> Path:
    return _source_checkout("models") or _bundled("models")
