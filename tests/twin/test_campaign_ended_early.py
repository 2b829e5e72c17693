"""A Gen5-folder run whose Gen5 stops early (abort, PC crash, disk full) or that is stopped with Ctrl-C keeps every
read it received: a complete-but-short results directory, a manifest that says why and how many, and (durable runs)
a journal that ``resume`` continues once Gen5 writes exports again."""

import json
import os
import time

import numpy as np
import pytest

from instruments.cytation.gen5 import write_gen5_spectra
from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.cli.main import main
from twin.config import LabConfig, Schedule
from twin.early import RunEndedEarly
from twin.records.documents import on
from twin.records.export import write_results
from twin.records.journal import read_journal
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR, is_complete, resume, run_durable

WELLS = ["A1", "A2"]
SCHEDULE = Schedule(hours=5 * 10 / 60, every_min=10, emission_step_nm=25)  # 6 reads planned
WL = np.arange(400.0, 651.0, 25.0)


def counts(k: int) -> np.ndarray:
    peak = 500.0 + 5.0 * k
    return np.round(1e4 * (1.0 + np.arange(len(WELLS)))[:, None] * np.exp(-0.5 * ((WL - peak) / 20.0) ** 2))


def export(folder, k: int) -> None:
    """Gen5's export of read k (0-based), copied with an old time so it is complete at once."""
    path = write_gen5_spectra(folder / f"read_{k + 1:03d}.txt", WELLS, WL, counts(k), excitation_nm=365, gain=100)
    os.utime(path, (time.time() - 600 + k,) * 2)


def folder_campaign(folder, timeout_s: float = 0.4) -> Campaign:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = WELLS
    lab = LabConfig(reader="gen5-folder", reader_folder=str(folder), reader_include_existing=True,
                    reader_timeout_s=timeout_s)
    return Campaign(name="lab", plate_map=pm, lab=lab, schedule=SCHEDULE)


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "exports"
    f.mkdir()
    return f


def test_gen5_stopping_early_keeps_every_read_received_as_a_short_complete_result(folder, tmp_path):
    for k in range(3):  # Gen5 was aborted after its third read
        export(folder, k)
    with pytest.raises(RunEndedEarly) as caught:
        run_campaign(folder_campaign(folder), progress=False)
    stop = caught.value
    text = str(stop)
    assert "after read 3 of 6 planned" in text and str(folder) in text and "within 0.4 s" in text
    result = stop.result
    m = result.manifest
    assert m["reads"] == 3 and m["ended_early"]["reads"] == 3 and m["ended_early"]["planned_reads"] == 6
    assert "no new Gen5 export" in m["ended_early"]["reason"] and not m["ended_early"]["interrupted"]
    assert m["ended_early"]["after_read"] == 3 and m["ended_early"]["folder"] == str(folder)
    np.testing.assert_array_equal(result.dataset["intensity"].values, np.stack([counts(k) for k in range(3)], 1))
    out = write_results(result, tmp_path / "lab_watch", figures=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ended_early"]["reads"] == 3
    assert {"spectra.parquet", "features.csv", "plate.csv", "gen5_export.txt"} <= set(manifest["files"])


def test_a_gen5_run_that_never_exported_is_still_a_plain_timeout(folder):
    from instruments.cytation.folder import Gen5FolderTimeout

    with pytest.raises(Gen5FolderTimeout):  # nothing received: nothing to keep
        run_campaign(folder_campaign(folder, timeout_s=0.2), progress=False)


def test_ctrl_c_during_a_folder_run_keeps_the_reads_received(folder):
    for k in range(4):
        export(folder, k)

    def ctrl_c(doc):
        if doc["index"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(RunEndedEarly) as caught:
        run_campaign(folder_campaign(folder), progress=False, subscribers=[on("read", ctrl_c)])
    stop = caught.value
    assert stop.interrupted and stop.exit_code == 130 and "interrupted" in str(stop)
    assert stop.result.manifest["reads"] == 2 and stop.result.manifest["ended_early"]["interrupted"]


def test_a_durable_folder_run_writes_its_reads_and_resume_continues_when_gen5_exports_again(folder, tmp_path):
    run = tmp_path / "run"
    for k in range(2):
        export(folder, k)
    with pytest.raises(RunEndedEarly, match=r"(?s)after read 2 of 6 planned.*larp-twin resume"):
        run_durable(folder_campaign(folder), run, figures=False)
    manifest = json.loads((run / RESULTS_DIR / "manifest.json").read_text())
    assert manifest["reads"] == 2 and manifest["ended_early"]["planned_reads"] == 6
    assert (run / RESULTS_DIR / "spectra.parquet").exists() and not is_complete(run)
    journal = read_journal(run / JOURNAL_FILE)
    assert [r["source"] for r in journal if r["type"] == "read"] == ["read_001.txt", "read_002.txt"]
    assert not [r for r in journal if r["type"] == "done"]

    # the CLI: the reads are on disk, the run is not a success (exit 3), one line names the folder and the count
    code = main(["resume", str(run), "--no-figures", "--quiet"])
    assert code == 3

    for k in range(2, 6):  # Gen5 restarted: the remaining reads arrive
        export(folder, k)
    result = resume(run)
    assert result.manifest["reads"] == 6 and "ended_early" not in result.manifest and is_complete(run)
    np.testing.assert_array_equal(result.dataset["intensity"].values, np.stack([counts(k) for k in range(6)], 1))
    sources = [r["source"] for r in read_journal(run / JOURNAL_FILE) if r["type"] == "read"]
    assert sources == [f"read_{k + 1:03d}.txt" for k in range(6)]  # none taken twice


def test_the_cli_message_of_a_short_run_is_one_line_naming_the_folder_and_the_reads_kept(folder, tmp_path, capsys):
    run = tmp_path / "run"
    export(folder, 0)
    with pytest.raises(RunEndedEarly):
        run_durable(folder_campaign(folder), run, figures=False)
    capsys.readouterr()
    assert main(["resume", str(run), "--no-figures", "--quiet"]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("note: gen5-folder: ")]  # the files it found, named
    assert len(err) == 1 and err[0].startswith("larp-twin: error: ")
    assert str(folder) in err[0] and "kept 1 of 6 planned reads" in err[0] and str(run / RESULTS_DIR) in err[0]
