"""The teaching notebook runs top to bottom as docs/notebook.md says (so it never rots), its plots render inline
(SHAP's beeswarm included), and its words about the models come from its output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "teaching_demo.ipynb"
DOC = ROOT / "docs" / "notebook.md"


def documented_command() -> list[str]:
    """The one-line command of docs/notebook.md (the ```bash block under "Run it")."""
    block = re.search(r"## Run it.*?```bash\n(.+?)\n```", DOC.read_text(), re.S)
    assert block, "docs/notebook.md has no ```bash block under 'Run it'"
    return block.group(1).strip().split()


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_teaching_demo_notebook_runs_as_documented_and_renders_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    argv = documented_command()
    assert argv[:2] == ["jupyter", "execute"] and argv[-1] == "notebooks/teaching_demo.ipynb"
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)
    jupyter = Path(sys.executable).with_name("jupyter")
    # as a user runs it: a fresh kernel, whatever MPLBACKEND the shell has (the test runner sets Agg)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([str(jupyter), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out_name = next(a.split("=", 1)[1] for a in argv if a.startswith("--output="))
    nb = nbformat.read(tmp_path / "notebooks" / f"{out_name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5
    beeswarm, = [c for c in code if "report.beeswarm()" in c.source]
    assert any("image/png" in o.get("data", {}) for o in beeswarm.outputs), "the SHAP beeswarm did not render inline"
    assert "_import_shap" not in "".join(c.source for c in code)  # no private API in a teaching notebook
    assert "matplotlib.use" not in "".join(c.source for c in code)
    # what it says about the models is what it printed
    shap_cell, = [c for c in code if "run_shap(" in c.source]
    printed = re.search(r"best model by 4-model K-fold RMSE: (\w+)", _text(shap_cell))
    assert printed and printed.group(1) in ("linear_regression", "random_forest", "svr", "mlp")
    words = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "explained the best (random forest)" not in words and "need not be the forest" in words
