"""The package installs: a wheel carries the rulebook, the domain dictionary and every file of
models/, and `csqa score` runs from it outside the checkout; a missing or unloadable shipped
model is a clear error (exit 2) unless --no-model.

(.ci/run does the same in a virtualenv with nothing but the wheel and its dependencies; here
the virtualenv sees this machine's packages, so no download is needed beyond the build tools.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "corpora" / "samples" / "chat_export.csv"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                         cwd=dist, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (found,) = dist.glob("csqa-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return root


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _csqa(venv: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "csqa"), *map(str, args)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


def test_the_wheel_holds_every_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    models = [p.relative_to(REPO / "models").as_posix() for p in (REPO / "models").rglob("*") if p.is_file()]
    assert models, "models/ is empty"
    for name in models:
        assert f"csqa/_bundled/models/{name}" in names, name
    for name in ("csqa/_bundled/corpora/domain_dict.txt", "csqa/rulebook/default.yaml",
                 "csqa/checks/pii/registry.yaml", "csqa/outputs/report/templates/report.html.j2"):
        assert name in names, name
    assert not any(n.startswith("csqa/_bundled/corpora/samples/") or n.endswith(".py") and "_bundled" in n
                   for n in names), "only the dictionary of corpora/ ships"


def test_score_runs_from_the_installed_package_outside_the_checkout(venv, tmp_path):
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import csqa, csqa.core.paths as p; print(csqa.__file__); "
                            "print(p.models_dir()); print(p.corpora_dir())"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout.split("\n")
    assert all(line.startswith(str(venv)) for line in where[:3]), where  # the wheel's copy, not the checkout
    run = _csqa(venv, tmp_path, "score", SAMPLE, "-o", "out", "-q")
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "out"
    for name in ("conversations.csv", "findings.csv", "agents.csv", "rejects.csv", "run.json", "report.html",
                 "report.xlsx", "results.duckdb"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["model"] and manifest["model"]["sha256"], "the shipped model was not used"
    assert manifest["conversations"] == 383


def test_a_missing_or_broken_shipped_model_is_a_clear_error(venv, tmp_path):
    import csqa.core.paths

    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import csqa.core.paths as p; print(p.models_dir())"],
                               cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout.strip())
    assert site != csqa.core.paths.models_dir()
    files = sorted(p for p in site.iterdir() if p.is_file())
    kept = {p: p.read_bytes() for p in files}
    try:
        biggest = max(files, key=lambda p: p.stat().st_size)
        biggest.write_bytes(b"not a model" * 100)  # unloadable: the card's hash no longer matches
        run = _csqa(venv, tmp_path, "score", SAMPLE, "-o", "broken")
        assert run.returncode == 2, run.stderr[-3000:]
        assert "--no-model" in run.stderr and "Traceback" not in run.stderr
        for p in files:
            p.unlink()
        run = _csqa(venv, tmp_path, "score", SAMPLE, "-o", "missing")
        assert run.returncode == 2, run.stderr[-3000:]
        assert "--no-model" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert not (tmp_path / "missing" / "run.json").exists()
        run = _csqa(venv, tmp_path, "score", SAMPLE, "-o", "without", "--no-model", "-q")
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads((tmp_path / "without" / "run.json").read_text(encoding="utf-8"))["model"] is None
    finally:
        for p, data in kept.items():
            p.write_bytes(data)
