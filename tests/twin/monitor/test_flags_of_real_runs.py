"""A run on real instruments (here: Gen5 folder mode) carries the twin's forecast flags in its event log and in
``events.jsonl``, so they are on disk for the lab's record and not only on the live page; a twin run without
faults writes no ``events.jsonl`` at all (its outputs are unchanged)."""

import json
import os
import time
from datetime import datetime, timedelta

import numpy as np

from instruments.cytation.gen5 import write_gen5_spectra
from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import LabConfig, Schedule
from twin.records.export import write_results

WELLS = ["A1", "A2"]
SCHEDULE = Schedule(hours=4 * 10 / 60, every_min=10, emission_step_nm=5)  # 5 reads
WL = np.arange(400.0, 651.0, 5.0)


def _export(folder, k: int, a1_peak_nm: float) -> None:
    """Read k: A1 emits at ``a1_peak_nm``; A2 stays dark (a missed injection)."""
    counts = np.vstack([2e4 * np.exp(-0.5 * ((WL - a1_peak_nm) / 11.0) ** 2), np.full(WL.size, 5.0)])
    path = write_gen5_spectra(folder / f"read_{k + 1:03d}.txt", WELLS, WL, np.round(counts), excitation_nm=365,
                              gain=100, when=datetime(2026, 3, 2, 11, 0) + timedelta(minutes=10 * k))
    os.utime(path, (time.time() - 600 + k,) * 2)


def test_a_real_runs_forecast_flags_reach_its_event_log_and_events_jsonl(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(5):
        _export(folder, k, a1_peak_nm=521.0)  # A1 as the twin expects for toluene 1:0.1; A2 dark
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 1]].copy()
    pm["well"] = WELLS
    lab = LabConfig(reader="gen5-folder", reader_folder=str(folder), reader_include_existing=True,
                    reader_timeout_s=5)
    result = run_campaign(Campaign(name="lab", plate_map=pm, lab=lab, schedule=SCHEDULE), progress=False)
    out = write_results(result, tmp_path / "run", figures=False)  # the records layer judges the reads
    flags = [e for e in result.events if e.get("kind") == "forecast"]
    assert "A2" in {f["well"] for f in flags}, flags  # the dark well
    # A1's synthetic line sits at the twin's peak (its width and height are not the twin's: flagged for those)
    assert not [f for f in flags if f["well"] == "A1" and f["feature"] == "peak_nm"], flags
    assert all(f["action"] == "flagged" and f["reads"] == 3 for f in flags)
    assert any(f["well"] == "A2" and "dark where the twin expects light" in f["detail"] for f in flags)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e.get("kind") == "forecast"] == json.loads(json.dumps(flags))


def test_a_twin_run_without_faults_writes_no_event_log(tmp_path):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0]].copy()
    pm["well"] = ["A1"]
    result = run_campaign(Campaign(name="twin", plate_map=pm, schedule=Schedule(hours=0.5, every_min=10)),
                          progress=False)
    assert not [e for e in result.events if e.get("kind") == "forecast"]
    out = write_results(result, tmp_path / "run", figures=False)
    assert not (out / "events.jsonl").exists()
