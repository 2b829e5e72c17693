"""Lab day in Gen5 folder mode loses no good export: half-written, empty, foreign and duplicate files, exports that
arrive while the watcher starts, and read times from the exports themselves (issue 20, part 1).

Each test runs a durable folder run (``run_durable``) while a thread plays Gen5 writing into the folder, and
asserts that every good export ends in the run, in order, after ``resume`` where the run had to end early."""

import functools
import os
import shutil
import threading
import time

import numpy as np
import pytest

import instruments.cytation
from instruments.cytation import Gen5FolderReader
from instruments.cytation.gen5 import write_gen5_spectra
from scenarios import plates
from twin.campaign import Campaign
from twin.cli.main import main
from twin.config import LabConfig, Schedule
from twin.early import RunEndedEarly
from twin.records.journal import read_journal
from twin.records.resume import JOURNAL_FILE, is_complete, resume, run_durable

WELLS = ["A1", "A2"]
SCHEDULE = Schedule(hours=2 * 10 / 60, every_min=10, emission_step_nm=25)  # 3 reads planned
WL = np.arange(400.0, 651.0, 25.0)


@pytest.fixture(autouse=True)
def quick_watcher(monkeypatch):
    """The lab's watcher, polling faster and calling a file complete after 0.3 s unchanged (2 s on lab day)."""
    monkeypatch.setattr(instruments.cytation, "Gen5FolderReader",
                        functools.partial(Gen5FolderReader, poll_s=0.05, settle_s=0.3))


def counts(k: int, wl=WL) -> np.ndarray:
    peak = 500.0 + 5.0 * k
    return np.round(1e4 * (1.0 + np.arange(len(WELLS)))[:, None] * np.exp(-0.5 * ((wl - peak) / 20.0) ** 2))


def export_bytes(k: int, tmp, when=None, wl=WL) -> bytes:
    path = write_gen5_spectra(tmp / f".make_{k}.txt", WELLS, wl, counts(k, wl), excitation_nm=365, gain=100,
                              when=when)
    raw = path.read_bytes()
    path.unlink()
    return raw


def campaign(folder, since: float, timeout_s: float = 1.5, include_existing: bool = False) -> Campaign:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = WELLS
    lab = LabConfig(reader="gen5-folder", reader_folder=str(folder), reader_timeout_s=timeout_s,
                    reader_include_existing=include_existing, reader_since_wall_s=since)
    return Campaign(name="lab", plate_map=pm, lab=lab, schedule=SCHEDULE)


def gen5(folder, steps) -> threading.Thread:
    """Gen5 writing into ``folder``: ``steps`` of (seconds to wait, callable of the folder), in a thread."""
    def run():
        for wait_s, step in steps:
            time.sleep(wait_s)
            step(folder)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def put(name: str, raw: bytes):
    return lambda folder: (folder / name).write_bytes(raw)


def append(name: str, raw: bytes):
    def step(folder):
        with open(folder / name, "ab") as fh:
            fh.write(raw)
    return step


def watch(c: Campaign, run, thread=None):
    """The durable run to its end (or its early end); then Gen5's thread is done."""
    try:
        result = run_durable(c, run, figures=False)
    except RunEndedEarly as stop:
        result = stop.result
    if thread is not None:
        thread.join()
    return result


def journaled_sources(run) -> list[str]:
    return [r["source"] for r in read_journal(run / JOURNAL_FILE) if r["type"] == "read"]


def assert_reads(result, run, names, ks):
    assert journaled_sources(run) == names
    np.testing.assert_array_equal(result.dataset["intensity"].values, np.stack([counts(k) for k in ks], 1))


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "exports"
    f.mkdir()
    return f


def test_a_half_written_export_is_taken_once_complete_in_the_run_and_by_resume(folder, tmp_path):
    raw = [export_bytes(k, tmp_path) for k in range(3)]
    half = len(raw[1]) // 2
    since = time.time()
    # read 2's first half, then 1 s (more than the 0.3 s the watcher waits for a file to settle), then the rest
    steps = [(0.2, put("read_001.txt", raw[0])), (0.2, put("read_002.txt", raw[1][:half])),
             (1.0, append("read_002.txt", raw[1][half:])), (0.2, put("read_003.txt", raw[2][:half]))]
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipped read_002.txt .*ends mid-line"):
        result = watch(campaign(folder, since), run, gen5(folder, steps))
    assert result.manifest["ended_early"]["reads"] == 2  # read 3 stays half-written while the run watches
    assert_reads(result, run, ["read_001.txt", "read_002.txt"], [0, 1])
    append("read_003.txt", raw[2][half:])(folder)  # Gen5 finishes it while larp-twin is down
    result = resume(run)
    assert is_complete(run) and "ended_early" not in result.manifest
    assert_reads(result, run, ["read_001.txt", "read_002.txt", "read_003.txt"], [0, 1, 2])


def test_an_empty_file_blocks_no_export_in_the_run_nor_in_resume(folder, tmp_path):
    raw = [export_bytes(k, tmp_path) for k in range(3)]
    since = time.time()
    steps = [(0.2, put("read_001.txt", raw[0])), (0.2, put("read_002.txt", b"")),  # Gen5 lost read 2's bytes
             (0.2, put("read_003.txt", raw[1]))]
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"skipped read_002.txt .*empty \(0 bytes"):
        result = watch(campaign(folder, since), run, gen5(folder, steps))
    assert_reads(result, run, ["read_001.txt", "read_003.txt"], [0, 1])
    (folder / "read_004.txt").write_bytes(raw[2])
    result = resume(run)  # the empty file is still there: it holds up nothing
    assert is_complete(run)
    assert_reads(result, run, ["read_001.txt", "read_003.txt", "read_004.txt"], [0, 1, 2])


def test_foreign_files_stop_nothing_and_resume_before_read_1_does_not_fail_on_them(folder, tmp_path):
    raw = [export_bytes(k, tmp_path) for k in range(3)]
    since = time.time()
    run = tmp_path / "run"
    gen5(folder, [(0.1, put("notes.txt", b"plate 3: B7 looked cloudy\n")),
                  (0.0, put("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256))))]).join()
    with pytest.warns(UserWarning, match="skipped notes.txt .*not a Gen5 export"), \
            pytest.raises(Exception, match=r"(?s)no new Gen5 export.*skipped: notes.txt, photo.csv.*larp-twin resume"):
        run_durable(campaign(folder, since, timeout_s=0.8), run, figures=False)  # no read yet: a plain timeout
    assert (run / JOURNAL_FILE).exists()
    for k in range(3):  # Gen5 starts exporting; the stray files stay where they are
        (folder / f"read_{k + 1:03d}.txt").write_bytes(raw[k])
    with pytest.warns(UserWarning, match="skipped photo.csv .*not a Gen5 export"):
        result = resume(run)
    assert is_complete(run)
    assert_reads(result, run, ["read_001.txt", "read_002.txt", "read_003.txt"], [0, 1, 2])


def test_a_byte_identical_copy_is_no_new_read(folder, tmp_path):
    raw = [export_bytes(k, tmp_path) for k in range(3)]
    since = time.time()
    steps = [(0.2, put("read_001.txt", raw[0])), (0.2, put("read_001 - Copy.txt", raw[0])),
             (0.2, put("read_002.txt", raw[1])), (0.2, put("read_003.txt", raw[2]))]
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipped read_001 - Copy.txt .*byte-identical copy of read_001.txt"):
        result = watch(campaign(folder, since), run, gen5(folder, steps))
    assert is_complete(run)
    assert_reads(result, run, ["read_001.txt", "read_002.txt", "read_003.txt"], [0, 1, 2])


def test_exports_arriving_while_the_watcher_starts_are_taken_and_older_files_are_listed(folder, tmp_path, capsys,
                                                                                       monkeypatch):
    raw = [export_bytes(k, tmp_path, wl=np.arange(400.0, 651.0, 2.0)) for k in range(3)]  # the CLI's default scan
    old = folder / "yesterday.txt"
    old.write_bytes(export_bytes(9, tmp_path))
    os.utime(old, (time.time() - 86400,) * 2)
    from twin.lab import Lab

    start_lab = Lab.__init__

    def slow_start(lab, *args, **kwargs):  # read 1 lands after `larp-twin run` started, before the watcher does
        (folder / "read_001.txt").write_bytes(raw[0])
        time.sleep(0.05)
        start_lab(lab, *args, **kwargs)

    monkeypatch.setattr(Lab, "__init__", slow_start)
    thread = gen5(folder, [(1.0, put("read_002.txt", raw[1])), (0.2, put("read_003.txt", raw[2]))])
    write_plate(tmp_path / "plate.csv")
    code = main(["run", str(tmp_path / "plate.csv"), "--gen5-folder", str(folder), "--hours", str(SCHEDULE.hours),
                 "--every-min", "10", "--reader-timeout-s", "3", "--durable", "--out", str(tmp_path / "run"),
                 "--no-figures"])
    thread.join()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "read 1 taken (read_001.txt)" in out and "read 3 taken (read_003.txt)" in out
    assert "1 file(s) already there before the run are not taken as its reads" in err and "yesterday.txt" in err
    assert journaled_sources(tmp_path / "run") == ["read_001.txt", "read_002.txt", "read_003.txt"]


def write_plate(path) -> None:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = WELLS
    pm.to_csv(path, index=False)


def test_reads_are_timed_by_the_exports_own_times_not_by_the_schedule(folder, tmp_path):
    from datetime import datetime

    base = time.time() - 3600  # copied off the Gen5 PC: four reads made 12 s apart an hour ago
    for k in range(3):
        when = datetime.fromtimestamp(round(base) + 12 * k)
        raw = export_bytes(k, tmp_path, when=when)
        path = folder / f"read_{k + 1:03d}.txt"
        path.write_bytes(raw)
        os.utime(path, (round(base) + 12 * k + 5,) * 2)  # each export written 5 s after its read started
    result = watch(campaign(folder, time.time(), include_existing=True), tmp_path / "run")
    reads = [r for r in read_journal(tmp_path / "run" / JOURNAL_FILE) if r["type"] == "read"]
    starts = np.array([r["start_s"] for r in reads])
    np.testing.assert_allclose(np.diff(starts), [12.0, 12.0])  # not the schedule's 10 min
    np.testing.assert_allclose([r["end_s"] - r["start_s"] for r in reads], 5.0)
    ages = result.dataset["time_min"].values  # (wells, reads): the middle of each read, 0.2 min apart
    np.testing.assert_allclose(np.diff(ages, axis=1), 0.2, atol=1e-6)
    assert [r["wall_s"] for r in reads] == [round(base) + 12 * k for k in range(3)]

    # an export without Date/Time is timed by its arrival (modification time): 30 s apart here
    again = tmp_path / "again"
    again.mkdir()
    for k in range(3):
        raw = export_bytes(k, tmp_path).replace(b"\r\nDate\t", b"\r\nDated\t")
        path = again / f"read_{k + 1:03d}.txt"
        path.write_bytes(raw)
        os.utime(path, (base + 30 * k,) * 2)
    watch(campaign(again, time.time(), include_existing=True), tmp_path / "run2")
    starts = [r["start_s"] for r in read_journal(tmp_path / "run2" / JOURNAL_FILE) if r["type"] == "read"]
    np.testing.assert_allclose(np.diff(starts), [30.0, 30.0], atol=1e-3)
