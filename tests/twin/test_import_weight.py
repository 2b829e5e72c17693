"""The run path stays light: building a result does not import dask (xarray would, to probe every array)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys
import numpy as np
import twin.cli.run, twin.results, twin.records.export
import xarray as xr
ds = xr.Dataset({"x": (("a", "b"), np.zeros((2, 3)))}, coords={"a": ["p", "q"], "b": np.arange(3)})
ds["x"].values.sum(); ds.sel(a="p")
heavy = sorted(m for m in ("dask", "distributed", "sklearn", "shap", "scipy.optimize", "plotly", "dash", "opentrons")
               if m in sys.modules)
print(",".join(heavy))
"""


def test_results_and_run_path_do_not_import_heavy_modules():
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == ""


def test_dask_arrays_still_recognised_once_dask_is_imported():
    code = ("import twin.results, xarray as xr, dask.array as da\n"
            "ds = xr.Dataset({'x': (('a',), da.zeros(4, chunks=2))})\n"
            "print(type(ds['x'].data).__module__.split('.')[0], ds['x'].chunks)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.split()[0] == "dask"
