"""docs/lab_day.md is run, block by block, on the twins: the runbook cannot drift from the code.

Every fenced ``bash`` and ``python`` block of the runbook runs in order in one empty temporary folder, as a user
would type it: ``larp-twin`` is this tree's ``python -m twin.cli`` (a wrapper first on PATH), ``python``,
``opentrons_simulate`` and ``python -m opentrons.cli analyze`` are the test's interpreter and its opentrons.
Then the statements the page makes about what the operator sees are checked against the files the blocks wrote:
the App's analysis (pipettes, labware, liquids) against the deck sheet, and the Gen5 settings table against the
``Procedure Details`` the twin writes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "lab_day.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def doc_blocks() -> list[tuple[int, str, str]]:
    """(line number, language, code) of every runnable block of the runbook, in order."""
    text = DOC.read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 1, m[1], m[2]) for m in FENCE.finditer(text)
            if m[1] in ("bash", "python")]


def environment(tmp: Path) -> dict:
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    for name, command in (("larp-twin", f'"{sys.executable}" -m twin.cli'), ("python", f'"{sys.executable}"')):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    return env


def run_block(lang: str, code: str, line: int, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    if lang == "bash":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    else:
        script = cwd / f".block_{line}.py"
        script.write_text(code)
        cmd = [sys.executable, str(script)]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"docs/lab_day.md block at line {line} ({lang}) failed with exit {r.returncode}:\n{code}\n"
                    f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def lab_day(tmp_path_factory):
    """Run every block in order; (folder, env, {line: CompletedProcess}, seconds)."""
    tmp = tmp_path_factory.mktemp("lab_day")
    env = environment(tmp)
    out = {}
    t0 = time.perf_counter()
    for line, lang, code in doc_blocks():
        out[line] = run_block(lang, code, line, tmp, env)
    return tmp, env, out, time.perf_counter() - t0


def test_the_runbook_has_the_blocks_of_every_flow():
    blocks = doc_blocks()
    text = "\n".join(code for _, _, code in blocks)
    for needed in ("larp-twin run my_plate.csv --out plan", "larp-twin export-ot2", "opentrons_simulate",
                   "python -m opentrons.cli analyze --check", "--gen5-folder gen5_exports", 'reader="gen5-folder"',
                   "larp-twin fit",
                   "larp-twin compare plan", 'pipettor="ot2-sim"'):
        assert needed in text, needed


@pytest.mark.ot2  # the runbook's blocks run opentrons_simulate and opentrons.cli analyze
def test_every_block_runs_on_the_twins(lab_day):
    tmp, _, out, seconds = lab_day
    assert (tmp / "plan" / "deck.txt").is_file() and (tmp / "larp_my_plate.py").is_file()
    # ~35 s on an idle 2-core machine; the bound only catches a block that runs away (e.g. a folder wait)
    assert seconds < 300, f"the runbook took {seconds:.0f} s; keep its commands short"
    run_out = next(r.stdout for r in out.values() if "-> plan" in r.stdout)
    assert re.search(r"^timing: robot preparation [\d.]+ min; .* one scan of 10 wells [\d.]+ min; \d+ reads in",
                     run_out, re.M), run_out


@pytest.mark.ot2  # the runbook's blocks run opentrons_simulate and opentrons.cli analyze
def test_the_app_analysis_passes_and_shows_what_the_runbook_says(lab_day):
    tmp = lab_day[0]
    analysis = json.loads((tmp / "analysis.json").read_text())
    assert analysis["result"] == "ok" and analysis["errors"] == []
    assert analysis["metadata"]["protocolName"] == "LARP my_plate"
    mounts = {p["pipetteName"]: p["mount"] for p in analysis["pipettes"]}
    assert mounts == {"p20_single_gen2": "left", "p300_single_gen2": "right"}
    sheet = (tmp / "plan" / "deck.txt").read_text()
    slots = {int(m[1]): m[2] for m in re.finditer(r"^\s+(\d+)\s+\S+ \((\S+)\)$", sheet, re.M)}
    assert {int(lw["location"]["slotName"]): lw["loadName"] for lw in analysis["labware"]} == slots
    assert slots[1] == "corning_96_wellplate_360ul_flat"
    # liquids: the deck sheet's stocks, with the volumes it gives
    fills = {m[1]: float(m[2]) for m in re.finditer(r"^(\S+)\s+.+ of \S+\s+(\d+)$", sheet, re.M)}
    assert {liq["displayName"] for liq in analysis["liquids"]} == set(fills) == {
        "toluene", "Cs-oleate/toluene", "PbBr2/DMF", "OAc", "OLAm"}
    loaded: dict[str, float] = {}
    names = {liq["id"]: liq["displayName"] for liq in analysis["liquids"]}
    for c in analysis["commands"]:
        if c["commandType"] == "loadLiquid":
            name = names[c["params"]["liquidId"]]
            loaded[name] = loaded.get(name, 0.0) + sum(c["params"]["volumeByWell"].values())
    assert loaded.keys() == fills.keys()
    for name, volume in fills.items():
        assert abs(loaded[name] - volume) <= 1.0, (name, loaded[name], volume)
    assert "Picking up tip from A1 of tips_300 on slot 9" in (tmp / "simulate_log.txt").read_text()


@pytest.mark.ot2  # the runbook's blocks run opentrons_simulate and opentrons.cli analyze
def test_the_gen5_settings_table_is_what_the_twin_reads_and_writes(lab_day):
    from instruments.cytation.gen5 import read_gen5_spectra
    from twin.config import Schedule

    doc = DOC.read_text(encoding="utf-8")
    proc = read_gen5_spectra(lab_day[0] / "plan" / "gen5_export.txt").procedure
    s = Schedule()
    assert (proc["excitation_nm"], proc["emission_start_nm"], proc["emission_stop_nm"], proc["emission_step_nm"]) == \
        (s.excitation_nm, s.emission_start_nm, s.emission_stop_nm, s.emission_step_nm) == (365, 400, 650, 2)
    assert int(proc["gain"]) == s.gain
    lines = "\n".join(proc["lines"])
    for row, found in [("| Fixed excitation | **365 nm** (bandwidth 20 nm", "Fixed Excitation: 365/20 nm"),
                       ("| Emission | **start 400 nm, stop 650 nm, step 2 nm** (126 wavelengths; bandwidth 20 nm)",
                        "Emission Start: 400/20 nm,  Stop: 650 nm,  Step: 2 nm"),
                       ("| Optics | **Bottom** |", "Optics: Bottom,  Gain: 100"),
                       (f"| Gain | **{s.gain}** |", f"Gain: {s.gain}"),
                       ("| Light source | Xenon flash, lamp energy High |", "Light Source: Xenon Flash,  Lamp Energy: High"),
                       ("| Read speed | **Sweep**, delay 0 msec, 1 measurement per data point |",
                        "Read Speed: Sweep,  Delay: 0 msec,  Measurements/Data Point: 1"),
                       ("| Read height | **7 mm** |", "Read Height: 7 mm")]:
        assert row in doc, row
        assert found in lines, found
    assert f"every **{s.every_min:g} min** for **{s.hours:g} h**" in doc
    assert f"--every-min {s.every_min:g}" in doc  # fit and compare of the stand-in, read on the default schedule


@pytest.mark.ot2  # the runbook's blocks run opentrons_simulate and opentrons.cli analyze
def test_folder_mode_took_the_twins_exports_and_fit_reads_the_lab_export(lab_day):
    tmp, _, out, _ = lab_day
    for run in ("lab_watch", "lab_watch_py"):  # the command, and the same from Python
        watched = json.loads((tmp / run / "manifest.json").read_text())
        assert watched["reads"] == 4 and watched["backends"]["reader"] == "gen5-folder", run
    printed = "\n".join(r.stdout for r in out.values())
    assert [f"read {k} taken (read_00{k}.txt)" for k in range(1, 5)] == re.findall(r"read \d+ taken \S+", printed)
    import pandas as pd

    standin = pd.read_parquet(tmp / "lab_standin" / "spectra.parquet")
    watched_spectra = pd.read_parquet(tmp / "lab_watch" / "spectra.parquet")
    first4 = standin[standin["read"] < 4].sort_values(["well", "read", "wavelength_nm"])["intensity"].to_numpy()
    got = watched_spectra.sort_values(["well", "read", "wavelength_nm"])["intensity"].to_numpy()
    assert (first4 == got).all()
    # timed by the exports' own Date/Time (10 min apart, as the runbook's block writes them), not by their arrival
    times = watched_spectra.groupby("read", observed=True)["time_min"].first().to_numpy()
    assert np.allclose(np.diff(times), 10.0), times
    fit = pd.read_csv(tmp / "lab_fit" / "features.csv")
    assert list(fit.columns) == ["well", "read", "time_min", "peak_nm", "fwhm_nm", "height", "area", "r2", "status"]
    assert fit["well"].nunique() == 10 and (fit["status"] == "ok").mean() > 0.9


@pytest.mark.ot2  # the runbook's blocks run opentrons_simulate and opentrons.cli analyze
def test_the_compare_block_wrote_the_comparison(lab_day):
    tmp = lab_day[0]
    for name in ("comparison.csv", "summary.json", "comparison.png"):
        assert (tmp / "compare" / name).is_file(), name
    summary = json.loads((tmp / "compare" / "summary.json").read_text())
    assert summary["wells_compared"] == 10 and summary["wells_missing_in_twin"] == []
