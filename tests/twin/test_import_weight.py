"""The run path stays light: a run does not import xarray, and a result's dataset does not import dask (xarray
would, to probe every array)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CUBE = """
import numpy as np
from twin.results import SpectraCube
cube = SpectraCube(wells=np.array(["A1", "A2"]), read=np.arange(3), wavelength_nm=np.array([500.0, 510.0]),
                   read_start_min=np.zeros(3), time_min=np.zeros((2, 3)), intensity=np.zeros((2, 3, 2)),
                   per_well={"acid": np.array(["OAc", "OAc"])}, attrs={})
"""

_PROBE = """
import sys
import numpy as np
import twin.cli.run, twin.results, twin.records.export, twin.records.figure_workers
run_path = ["xarray"] if "xarray" in sys.modules else []
""" + _CUBE + """
ds = cube.to_dataset()
import xarray as xr
ds["intensity"].values.sum(); ds.sel(well="A1")
xr.Dataset({"x": (("a", "b"), np.zeros((2, 3)))}, coords={"a": ["p", "q"], "b": np.arange(3)}).sel(a="p")
heavy = sorted(m for m in ("dask", "distributed", "sklearn", "shap", "scipy.optimize", "plotly", "dash", "opentrons")
               if m in sys.modules)
print(",".join(run_path + heavy))
"""


def test_results_and_run_path_do_not_import_heavy_modules():
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == ""


def test_dask_arrays_still_recognised_once_dask_is_imported():
    code = (_CUBE + "cube.to_dataset()\n"  # a result's dataset first: the dask probe deferred
            "import xarray as xr, dask.array as da\n"
            "ds = xr.Dataset({'x': (('a',), da.zeros(4, chunks=2))})\n"
            "print(type(ds['x'].data).__module__.split('.')[0], ds['x'].chunks)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.split()[0] == "dask"
