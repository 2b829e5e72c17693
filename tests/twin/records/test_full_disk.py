"""A durable run on a full disk keeps its journal, names the file it could not write and says how to continue;
once space is freed ``larp-twin resume`` finishes it with the bytes of an uninterrupted run (issue 20, part 2).

The small disk is a real tmpfs the test mounts (as root); where the machine does not allow that, the test is skipped
and says why."""

import filecmp
import os
import re
import shutil
import subprocess
import uuid

import pytest

from scenarios import plates
from twin.cli.main import main
from twin.records.journal import read_journal
from twin.records.resume import CAMPAIGN_FILE, JOURNAL_FILE, RESULTS_DIR

RESULT_FILES = ("plate.csv", "spectra.parquet", "features.csv", "gen5_export.txt", "log.jsonl", "deck.txt")
PLAN = ["--hours", "1", "--every-min", "5", "--quiet", "--seed", "4"]


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs mounted for the test (unmounted after)."""
    mnt = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8); this test fills a real small disk")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {done.stderr.strip() or done.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def plate_csv(tmp_path):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 9, 19]].copy()
    pm["well"] = ["A1", "A2", "A3"]
    path = tmp_path / "plate.csv"
    pm.to_csv(path, index=False)
    return path


def fill(disk, leave_bytes: int):
    """A ballast file that leaves ``leave_bytes`` free on ``disk``."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    ballast = disk / "ballast.bin"
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * max(free - leave_bytes, 0))
    return ballast


@pytest.mark.parametrize("fails_in, figures", [("results", False), ("results", True), ("journal", False)])
def test_a_full_disk_keeps_the_journal_and_resume_gives_the_bytes_of_an_uninterrupted_run(tmp_path, small_disk,
                                                                                          capsys, fails_in, figures):
    plate = plate_csv(tmp_path)
    ref = tmp_path / "ref"
    plan = PLAN if figures else [*PLAN, "--no-figures"]
    assert main(["run", str(plate), "--out", str(ref), "--durable", *plan]) == 0
    journal_size = (ref / JOURNAL_FILE).stat().st_size + (ref / CAMPAIGN_FILE).stat().st_size
    # room for the whole journal but not the results, or for half the journal
    ballast = fill(small_disk, journal_size + 8192 if fails_in == "results" else journal_size // 2)
    run = small_disk / "run"
    capsys.readouterr()
    code = main(["run", str(plate), "--out", str(run), "--durable", *plan])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    named = rf"{run / RESULTS_DIR}/[\w./]+" if fails_in == "results" else re.escape(str(run / JOURNAL_FILE))
    assert re.match(rf"larp-twin: error: {named}: No space left on device; ", err[0]), err[0]  # the file, by name
    assert f"continue with `larp-twin resume {run}`" in err[0]
    kept = read_journal(run / JOURNAL_FILE)
    ref_records = read_journal(ref / JOURNAL_FILE)
    if fails_in == "results":  # the finished journal is all there
        assert kept == ref_records and kept[-1]["type"] == "done"
    else:  # what was journaled before the disk filled is there, nothing else
        assert 0 < len(kept) < len(ref_records) and kept == ref_records[:len(kept)]
    assert not list(run.glob(".results.partial-*"))

    ballast.unlink()  # the user frees space
    assert main(["resume", str(run), "--quiet", *([] if figures else ["--no-figures"])]) == 0
    assert read_journal(run / JOURNAL_FILE) == ref_records
    for name in RESULT_FILES + (("figures/features_vs_time.png",) if figures else ()):
        assert filecmp.cmp(ref / RESULTS_DIR / name, run / RESULTS_DIR / name, shallow=False), name
    assert (run / ".larp-twin.json").is_file()
