"""``examples/tutorial.ipynb`` runs from top to bottom, as a user would run it."""

from __future__ import annotations

import pathlib

import nbclient  # the test extra installs both: a missing one is a failure, not a skip
import nbformat
import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"


@pytest.mark.slow
def test_tutorial_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert "did you mean 'tanh'?" in text  # the ConfigError cell
    assert "figures written" in text
    assert len(images) >= 5, "every figure cell must show its figure"
    assert (tmp_path / "runs" / "tutorial" / "report.md").exists()
