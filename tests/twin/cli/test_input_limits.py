"""Limits at the edge (issue 20): each hostile input gets its exact one-line ``larp-twin: error:`` and exit 2.

Each command runs in its own process with a 30 s timeout, so a hang (a named pipe opened, an alias bomb expanded, a
4 GB allocation) fails the test instead of stalling the suite; no speed is asserted (``benchmarks/bench_input_limits.py``
prints the figures).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUN = ["--out", "o", "--quiet", "--no-figures"]
E = "larp-twin: error: "
BOMB = ("line 6: expands to more than 100,000 values (YAML aliases '*name' repeat what an anchor '&name' holds); a "
        "real file has a few hundred: write the values out, or use fewer aliases")
PIPE = "is a named pipe (FIFO), not a regular file; give a file saved on disk (reading this would wait or run forever)"
DEVICE = "is a character device, not a regular file; give a file saved on disk (reading this would wait or run forever)"
DEEP = ("nested more than 32 levels deep (lists or mappings inside each other); a real file nests fewer than 10: is "
        "it the right file?")

CASES = {
    "faults alias bomb": (["run", "good.csv", *RUN, "--hours", "0.5", "--faults", "bomb.yaml"], f"bomb.yaml {BOMB}"),
    "procedure alias bomb": (["run", "good.csv", *RUN, "--procedure", "bomb_procedure.yaml"],
                             f"bomb_procedure.yaml {BOMB}"),
    "sweep alias bomb": (["sweep", "bomb.yaml", "--out", "o"], f"bomb.yaml {BOMB}"),
    "200,000 columns": (["run", "wide.csv", *RUN, "--hours", "0.5"],
                        "wide.csv line 1: the header has 200,009 columns, more than the 1000 a table may have (a "
                        "plate map has the 9 required columns and a few labels); is it the right file?"),
    "plate map pipe": (["run", "pipe.csv", *RUN, "--hours", "0.5"], f"plate map pipe.csv {PIPE}"),
    "fault plan pipe": (["run", "good.csv", *RUN, "--hours", "0.5", "--faults", "pipe.csv"], f"fault plan pipe.csv {PIPE}"),
    "procedure pipe": (["run", "good.csv", *RUN, "--procedure", "pipe.csv"], f"procedure pipe.csv {PIPE}"),
    "sweep spec pipe": (["sweep", "pipe.csv", "--out", "o"], f"sweep spec pipe.csv {PIPE}"),
    "Gen5 export pipe": (["inspect", "pipe.csv"], f"Gen5 export pipe.csv {PIPE}"),
    "0.0001 nm step": (["run", "good.csv", *RUN, "--procedure", "fine_step.yaml"],
                       "fine_step.yaml: steps[0]: emission_step_nm 0.0001: the Cytation's monochromator steps in "
                       "whole nm, at least 1 nm (a finer step is not a real scan: 0.0001 nm would mean 4,500,001 "
                       "points per spectrum)"),
    "inspect /dev/zero": (["inspect", "/dev/zero"], f"Gen5 export /dev/zero {DEVICE}"),
    "fit /dev/urandom": (["fit", "/dev/urandom", "--out", "o"], f"Gen5 export /dev/urandom {DEVICE}"),
    "binary garbage": (["fit", "garbage.txt", "--out", "o"],
                       "garbage.txt line 1: byte 0x8d is not Windows-1252 text; expected a Gen5 export (cp1252)"),
    "long label cell": (["run", "longcell.csv", *RUN, "--hours", "0.5"],
                        "longcell.csv line 2: a cell longer than 131,072 characters (a label is a few words); is it "
                        "the right file?"),
    "procedure 300 deep": (["run", "good.csv", *RUN, "--procedure", "deep_procedure.yaml"],
                           f"deep_procedure.yaml line 62: {DEEP}"),
    "campaign.json 100,000 deep": (["resume", "deep_campaign", "--quiet", "--no-figures"],
                                   f"deep_campaign/campaign.json: {DEEP}"),
}


@pytest.fixture(scope="module")
def hostile(hostile_dir, tmp_path_factory):
    """The hostile files (``conftest.py``), a named pipe nobody writes to and a good plate map."""
    root = tmp_path_factory.mktemp("limits")
    shutil.copytree(hostile_dir, root, dirs_exist_ok=True)
    os.mkfifo(root / "pipe.csv")
    (root / "good.csv").write_text("well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL\n"
                                   "A1,toluene,150,100,15,OAc,0.5,OLAm,0.05\n")
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_gets_its_one_line_error(hostile, case):
    argv, expected = CASES[case]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-m", "twin.cli", *argv], cwd=hostile, env=env, capture_output=True,
                       text=True, timeout=30)  # a hang fails here
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("note: ")]
    assert r.returncode == 2, (case, r.stderr[-2000:])
    assert lines == [E + expected], (case, r.stderr[-2000:])
    assert not (hostile / "o").exists()  # refused before anything was written


def test_a_procedure_too_large_for_memory_is_refused_before_a_durable_run_starts(hostile):
    loop = ("  - type: kinetic\n    interval_min: 0\n    duration_min: 10080\n    steps:\n      - type: pl_spectrum\n"
            "        emission_stop_nm: 700\n        emission_step_nm: 1\n")
    (hostile / "week3.yaml").write_text("steps:\n" + loop * 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-m", "twin.cli", "run", "plate-96", "--out", "big", "--quiet", "--no-figures",
                        "--durable", "--procedure", "week3.yaml"], cwd=hostile, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (
        E + "--procedure week3.yaml: up to 849 PL reads x 96 wells x 301 wavelengths = 24,532,704 values, more than "
        "the 20,000,000 a run may hold (the paper's 12 h run has 519,120); read less often (interval_min), for less "
        "time (duration_min), fewer wells or a coarser emission_step_nm")
    assert not (hostile / "big").exists()
