"""Gen5 folder mode: a twin writes Gen5 exports into a folder on a schedule; the folder reader turns them into reads."""

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from instruments.cytation.folder import Gen5FolderError, Gen5FolderReader, Gen5FolderTimeout
from instruments.cytation.gen5 import Gen5FormatError, write_gen5_spectra
from instruments.errors import ReaderError
from instruments.labware import Labware
from instruments.clock import Clock

DATA = Path(__file__).parents[1] / "data"
SCAN = dict(excitation_nm=365.0, emission_start_nm=500.0, emission_stop_nm=540.0, emission_step_nm=4.0, gain=100)
WL = np.arange(500.0, 541.0, 4.0)
WELLS = ["A1", "A2", "B1"]
FAST = dict(poll_s=0.01, settle_s=0.03, timeout_s=5.0)


def gaussian_counts(k: int, wells=WELLS, wl=WL) -> np.ndarray:
    """Read k of the twin: a Gaussian PL peak that red-shifts 4 nm per read, brighter per well."""
    peak = 510.0 + 4.0 * k
    scale = 20_000.0 * (1.0 + 0.5 * np.arange(len(wells)))[:, None]
    return np.round(scale * np.exp(-0.5 * ((wl[None, :] - peak) / 12.0) ** 2))


def write_export(path: Path, k: int, **kw) -> Path:
    args = dict(wells=WELLS, wavelength_nm=WL, counts=gaussian_counts(k), excitation_nm=365.0, gain=100)
    args.update(kw)
    return write_gen5_spectra(path, args.pop("wells"), args.pop("wavelength_nm"), args.pop("counts"), **args)


def twin_writer(folder: Path, jobs, every_s: float) -> threading.Thread:
    """A thread that runs ``jobs`` (callables of the folder), one every ``every_s`` seconds: Gen5's export schedule."""

    def run():
        for job in jobs:
            time.sleep(every_s)
            job(folder)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def loaded(folder, **settings) -> tuple[Clock, Gen5FolderReader]:
    clock = Clock()
    reader = Gen5FolderReader(clock, folder, **{**FAST, **settings})
    clock.run_process(reader.open_tray())
    reader.load_plate(Labware("corning_96_wellplate_360ul_flat", name="plate"))
    clock.run_process(reader.close_tray())
    return clock, reader


def test_reads_are_the_exports_the_twin_writes_in_order_and_time_follows_the_wall_clock(tmp_path):
    write_export(tmp_path / "yesterday.txt", 9)  # already there: not a read of this run
    clock, reader = loaded(tmp_path)
    assert clock.now == 0.0  # tray moves belong to Gen5: no time, no error
    overflowed = gaussian_counts(2)
    overflowed[1, 2] = np.nan
    writer = twin_writer(tmp_path, [lambda f: write_export(f / "read_001.txt", 0),
                                    lambda f: write_export(f / "read_002.csv", 1, layout="csv"),
                                    lambda f: write_export(f / "read_003.txt", 2, counts=overflowed)], every_s=0.1)
    t0 = time.perf_counter()
    reads = [clock.run_process(reader.read_pl(WELLS, **SCAN)) for _ in range(2)]
    reads.append(clock.run_process(reader.read_pl(["B1", "A2"], **SCAN)))  # a subset, in another order
    wall = time.perf_counter() - t0
    writer.join()
    np.testing.assert_array_equal(reads[0].counts, gaussian_counts(0))
    np.testing.assert_array_equal(reads[1].counts, gaussian_counts(1))
    np.testing.assert_array_equal(reads[2].counts, overflowed[[2, 1]])
    assert reads[2].wells == ["B1", "A2"] and reads[2].overflow[1].sum() == 1
    np.testing.assert_array_equal(reads[0].wavelength_nm, WL)
    assert [r.path.name for r in reader.received] == ["read_001.txt", "read_002.csv", "read_003.txt"]
    assert 0.25 <= clock.now <= wall + 1e-6 and all(r.end_s > r.start_s for r in reads)
    assert [e["file"] for e in reader.log if e["command"] == "gen5_export"] == [r.path.name for r in reader.received]


def test_no_new_export_in_time_is_a_timeout_and_the_wait_is_on_the_clock(tmp_path):
    clock, reader = loaded(tmp_path, timeout_s=0.2)
    with pytest.raises(Gen5FolderTimeout, match=r"no new Gen5 export \(\*\.txt, \*\.csv\) in .* within 0.2 s"):
        clock.run_process(reader.read_pl(WELLS, **SCAN))
    assert clock.now >= 0.2 and reader.received == []


def test_an_export_still_being_written_is_taken_once_it_is_complete(tmp_path):
    raw = write_export(tmp_path / "full.txt", 0).read_bytes()
    (tmp_path / "full.txt").unlink()
    clock, reader = loaded(tmp_path, settle_s=0.3)

    def first_half(folder):
        (folder / "slow.txt").write_bytes(raw[:len(raw) // 2])

    def second_half(folder):
        with open(folder / "slow.txt", "ab") as fh:
            fh.write(raw[len(raw) // 2:])

    writer = twin_writer(tmp_path, [first_half, second_half], every_s=0.1)
    read = clock.run_process(reader.read_pl(WELLS, **SCAN))
    writer.join()
    np.testing.assert_array_equal(read.counts, gaussian_counts(0))
    assert reader.rejected == []


def test_bad_exports_fail_clearly_and_reads_already_received_are_kept(tmp_path):
    good = write_export(tmp_path / "01_good.txt", 0).read_bytes()
    (tmp_path / "02_truncated.txt").write_bytes(good[:len(good) // 2])
    (tmp_path / "03_utf16.txt").write_bytes(good.decode("cp1252").encode("utf-16"))
    (tmp_path / "04_absorbance.txt").write_bytes((DATA / "gen5_abs_spectrum_h1_ovrflw.txt").read_bytes())
    write_export(tmp_path / "05_other_grid.txt", 0, wavelength_nm=WL[:-1], counts=gaussian_counts(0)[:, :-1])
    write_export(tmp_path / "06_other_excitation.txt", 0, excitation_nm=400.0)
    write_export(tmp_path / "07_other_gain.txt", 0, gain=80)
    write_export(tmp_path / "08_other_wells.txt", 0, wells=["A1", "A2", "C1"])
    write_export(tmp_path / "09_good.txt", 3)
    for k, path in enumerate(sorted(tmp_path.iterdir())):  # Gen5's order: modification times
        os.utime(path, ns=(1_700_000_000_000_000_000 + k * 10**9,) * 2)
    clock, reader = loaded(tmp_path, include_existing=True)
    expected_errors = [
        (Gen5FormatError, r"02_truncated.txt line \d+: the file ends mid-line.*truncated"),
        (Gen5FormatError, r"03_utf16.txt: looks UTF-16; Gen5 exports are Windows-1252"),
        (Gen5FormatError, r"04_absorbance.txt: expected read type 'Fluorescence Spectrum'.*Absorbance Spectrum"),
        (Gen5FolderError, r"05_other_grid.txt: the export holds emission 500..536 nm \(10 points\), the read asked "
                          r"for 500..540 nm \(11 points\)"),
        (Gen5FolderError, r"06_other_excitation.txt: the export was excited at 400 nm, the read asked for 365 nm"),
        (Gen5FolderError, r"07_other_gain.txt: the export was read at gain 80, the read asked for gain 100"),
        (Gen5FolderError, r"08_other_wells.txt: wells \['B1'\] were asked for but not read"),
    ]
    reads = [clock.run_process(reader.read_pl(WELLS, **SCAN))]
    for exc, message in expected_errors:
        with pytest.raises(exc, match=message):
            clock.run_process(reader.read_pl(WELLS, **SCAN))
    reads.append(clock.run_process(reader.read_pl(WELLS, **SCAN)))
    np.testing.assert_array_equal(reads[0].counts, gaussian_counts(0))
    np.testing.assert_array_equal(reads[1].counts, gaussian_counts(3))
    assert [r.path.name for r in reader.received] == ["01_good.txt", "09_good.txt"]
    assert [p.name for p, _ in reader.rejected] == [f"0{k}_{n}.txt" for k, n in enumerate(
        ["truncated", "utf16", "absorbance", "other_grid", "other_excitation", "other_gain", "other_wells"], 2)]
    assert all(issubclass(e, ReaderError) for e, _ in expected_errors)


def test_gen5_owns_the_incubator_and_absorbance_reads(tmp_path):
    clock, reader = loaded(tmp_path)
    with pytest.raises(Gen5FolderError, match="Gen5 owns the incubator.*37 °C in the Gen5 protocol"):
        clock.run_process(reader.set_temperature(37.0))
    with pytest.raises(Gen5FolderError, match="PL emission spectra only"):
        clock.run_process(reader.read_absorbance(["A1"], wavelength_nm=450.0))
    with pytest.raises(Gen5FolderError, match="PL emission spectra only"):
        clock.run_process(reader.read_absorbance_spectrum(["A1"], start_nm=400, stop_nm=500, step_nm=10))
    assert reader.temperature_C == 25.0


def test_a_missing_export_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(Gen5FolderError, match="nowhere does not exist"):
        Gen5FolderReader(Clock(), tmp_path / "nowhere")


def test_copied_exports_are_taken_in_order_without_waiting_for_them_to_settle(tmp_path):
    for k in range(3):
        path = write_export(tmp_path / f"read_{k + 1:03d}.txt", k)
        old = time.time() - 3600 + k  # copied off the Gen5 PC with their times kept
        os.utime(path, (old, old))
    fresh = write_export(tmp_path / "read_004.txt", 3)  # written just now: still watched until it settles
    settle_s = 3.0
    clock, reader = loaded(tmp_path, include_existing=True, settle_s=settle_s, poll_s=0.05)
    t0 = time.perf_counter()
    reads = [clock.run_process(reader.read_pl(WELLS, **SCAN)) for _ in range(3)]
    # files untouched for an hour are not watched for settle_s: all three together take less than one settle wait
    # (a bound on logic, not speed: waiting would cost >= 3 x settle_s)
    assert time.perf_counter() - t0 < settle_s
    for k, r in enumerate(reads):
        np.testing.assert_array_equal(r.counts, gaussian_counts(k))
    read = clock.run_process(reader.read_pl(WELLS, **SCAN))
    np.testing.assert_array_equal(read.counts, gaussian_counts(3))
    assert [r.path.name for r in reader.received][-1] == fresh.name


def test_the_timeout_names_the_folder_and_the_last_export_taken(tmp_path):
    clock, reader = loaded(tmp_path, timeout_s=0.2)
    twin_writer(tmp_path, [lambda f: write_export(f / "read_001.txt", 0)], every_s=0.0).join()
    clock.run_process(reader.read_pl(WELLS, **SCAN))
    with pytest.raises(Gen5FolderTimeout, match=rf"in {tmp_path} within 0.2 s \(last export taken: read_001.txt\)"):
        clock.run_process(reader.read_pl(WELLS, **SCAN))
    assert reader.received[-1].path.name == "read_001.txt"


def test_a_restarted_reader_skips_the_exports_taken_before_and_takes_those_written_meanwhile(tmp_path):
    old = write_export(tmp_path / "yesterday.txt", 9)  # there before the run: not one of its exports
    os.utime(old, (time.time() - 7200,) * 2)
    since = time.time() - 3600  # the run first started an hour ago
    for k in range(3):  # read 1 was taken, read 2 was refused, read 3 came while larp-twin was down
        path = write_export(tmp_path / f"read_{k + 1:03d}.txt", k)
        os.utime(path, (since + 60 * (k + 1),) * 2)
    clock, reader = loaded(tmp_path)
    reader.resume_after(["read_001.txt", "read_002.txt"], since)
    read = clock.run_process(reader.read_pl(WELLS, **SCAN))
    np.testing.assert_array_equal(read.counts, gaussian_counts(2))
    assert read.source == "read_003.txt" and [r.path.name for r in reader.received] == ["read_003.txt"]
