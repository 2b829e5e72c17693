"""Gen5 folder mode: a twin writes Gen5 exports into a folder on a schedule; the folder reader turns them into reads."""

import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from instruments.cytation.folder import Gen5FolderError, Gen5FolderNote, Gen5FolderReader, Gen5FolderTimeout
from instruments.cytation.gen5 import write_gen5_spectra
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


def test_reads_are_the_exports_the_twin_writes_in_order_timed_by_the_exports(tmp_path):
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
    # timed by the exports themselves (Date/Time, 1-s steps, or arrival), in order; the wait is no campaign time
    assert 0.2 <= reads[-1].start_s <= wall + 1.0 and clock.now == 0.0
    assert all(b.start_s > a.start_s and r.end_s >= r.start_s for a, b, r in zip(reads, reads[1:], reads))
    assert [e["file"] for e in reader.log if e["command"] == "gen5_export"] == [r.path.name for r in reader.received]


def test_no_new_export_in_time_is_a_timeout_and_the_wait_is_no_campaign_time(tmp_path):
    clock, reader = loaded(tmp_path, timeout_s=0.2)
    t0 = time.perf_counter()
    with pytest.raises(Gen5FolderTimeout, match=r"no new Gen5 export \(\*\.txt, \*\.csv\) in .* within 0.2 s"):
        clock.run_process(reader.read_pl(WELLS, **SCAN))
    # a resumed run continues at the read slot it stopped at, so no planned read is lost to the wait
    assert time.perf_counter() - t0 >= 0.2 and clock.now == 0.0 and reader.received == []


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


def test_bad_files_are_skipped_mismatched_exports_fail_clearly_and_reads_already_received_are_kept(tmp_path):
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
    expected_errors = [  # good Gen5 exports of another protocol: Gen5's settings must be fixed, the run ends
        r"05_other_grid.txt: the export holds emission 500..536 nm \(10 points\), the read asked for 500..540 nm "
        r"\(11 points\)",
        r"06_other_excitation.txt: the export was excited at 400 nm, the read asked for 365 nm",
        r"07_other_gain.txt: the export was read at gain 80, the read asked for gain 100",
        r"08_other_wells.txt: wells \['B1'\] were asked for but not read",
    ]
    with pytest.warns(Gen5FolderNote) as notes:
        reads = [clock.run_process(reader.read_pl(WELLS, **SCAN))]
        for message in expected_errors:
            with pytest.raises(Gen5FolderError, match=message):
                clock.run_process(reader.read_pl(WELLS, **SCAN))
        reads.append(clock.run_process(reader.read_pl(WELLS, **SCAN)))
    np.testing.assert_array_equal(reads[0].counts, gaussian_counts(0))
    np.testing.assert_array_equal(reads[1].counts, gaussian_counts(3))
    assert [r.path.name for r in reader.received] == ["01_good.txt", "09_good.txt"]
    assert [p.name for p, _ in reader.rejected] == ["05_other_grid.txt", "06_other_excitation.txt",
                                                    "07_other_gain.txt", "08_other_wells.txt"]
    # files that are no (complete) fluorescence export are skipped with a note naming each, not raised
    assert [p.name for p, _ in reader.skipped] == ["02_truncated.txt", "03_utf16.txt", "04_absorbance.txt"]
    text = "\n".join(str(n.message) for n in notes)
    assert re.search(r"skipped 02_truncated.txt .*ends mid-line", text)
    assert re.search(r"skipped 03_utf16.txt .*not a Gen5 export", text)
    assert re.search(r"skipped 04_absorbance.txt .*expected read type 'Fluorescence Spectrum'.*Absorbance", text)
    assert issubclass(Gen5FolderError, ReaderError)


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


def test_a_file_too_large_for_an_export_is_skipped_unread(tmp_path):
    clock, reader = loaded(tmp_path)
    big = tmp_path / "video.csv"
    with open(big, "wb") as fh:  # sparse: 300 MB that take no disk
        fh.truncate(300_000_000)
    twin_writer(tmp_path, [lambda f: write_export(f / "read_001.txt", 0)], every_s=0.05).join()
    with pytest.warns(Gen5FolderNote, match=r"skipped video.csv .*300,000,000 bytes, too large"):
        read = clock.run_process(reader.read_pl(WELLS, **SCAN))
    assert read.source == "read_001.txt"


def test_an_exports_own_read_time_is_its_header_date_and_time_month_first(tmp_path):
    from datetime import datetime

    from instruments.cytation.gen5 import Gen5Spectra, export_read_time

    def header(date, clock):
        return Gen5Spectra([], WL, np.zeros((1, 0, len(WL))), np.zeros((1, 0, len(WL)), bool), ["EM Spectrum"],
                           {"Date": date, "Time": clock})

    assert export_read_time(header("3/7/2024", "11:31:30 AM")) == datetime(2024, 3, 7, 11, 31, 30)
    assert export_read_time(header("10/14/2024", "2:23:45 PM")) == datetime(2024, 10, 14, 14, 23, 45)
    assert export_read_time(header("10/14/2024", "14:23:45")) == datetime(2024, 10, 14, 14, 23, 45)
    assert export_read_time(header("14/10/2024", "2:23:45 PM")) is None  # day-first: never guessed
    assert export_read_time(header("", "")) is None
    path = write_export(tmp_path / "r.txt", 0, when=datetime(2026, 3, 2, 16, 5, 9))
    from instruments.cytation.gen5 import read_gen5_spectra

    assert export_read_time(read_gen5_spectra(path)) == datetime(2026, 3, 2, 16, 5, 9)
