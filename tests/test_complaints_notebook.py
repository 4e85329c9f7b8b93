"""The retraining notebook runs top to bottom on its small sample (nbclient, real kernel)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "retrain_complaint_classifier.ipynb"


def test_retrain_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CSQA_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    # a new model and its card were written where the notebook was told to
    assert (tmp_path / "complaint_classifier.npz").exists()
    assert (tmp_path / "complaint_classifier.json").exists()
    assert (tmp_path / "complaint_classifier.card.json").exists()
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "训练完成" in text and "新模型 retrained" in text
