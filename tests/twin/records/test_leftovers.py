"""What a hard end leaves behind is cleaned up (issue 20, part 6): a half-written results directory, the missing
finished-run marker after ``resume``, a journal whose last line was written twice, and the figure worker of a run
that died by SIGKILL."""

import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios import plates
from twin.outdir import MARKER, owner
from twin.records.journal import JournalError, read_journal
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR, resume

ROOT = Path(__file__).resolve().parents[3]
PLAN = ["--hours", "1", "--every-min", "10", "--quiet", "--seed", "2"]


def plate_csv(tmp_path) -> Path:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = ["A1", "A2"]
    path = tmp_path / "plate.csv"
    pm.to_csv(path, index=False)
    return path


def cli(*args, code: str = "") -> subprocess.CompletedProcess:
    """``larp-twin ARGS`` in a fresh interpreter, after running ``code`` (a patch standing in for a hard end)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    script = f"import sys\n{code}\nfrom twin.cli.main import main\nsys.exit(main({list(map(str, args))!r}))"
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


KILL_IN_RESULTS = """
import os, signal
import twin.records.export as export
def _killed(df, path):
    path.write_bytes(b"PAR1 half")  # the process dies while writing the spectra
    os.kill(os.getpid(), signal.SIGKILL)
export._write_parquet = _killed
"""


def test_resume_cleans_a_half_written_results_directory_and_marks_the_finished_run(tmp_path):
    plate = plate_csv(tmp_path)
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert cli("run", plate, "--out", ref, "--durable", "--no-figures", *PLAN).returncode == 0
    killed = cli("run", plate, "--out", run, "--durable", "--no-figures", *PLAN, code=KILL_IN_RESULTS)
    assert killed.returncode == -signal.SIGKILL
    assert [p.name.split("-")[0] for p in run.glob(".results.partial-*")] == [".results.partial"]
    assert not (run / MARKER).exists()

    done = cli("resume", run, "--no-figures", "--quiet")
    assert done.returncode == 0, done.stderr
    assert not list(run.glob(".results.*")), "the half-written results are gone"
    for name in ("spectra.parquet", "features.csv", "gen5_export.txt"):
        assert filecmp.cmp(ref / RESULTS_DIR / name, run / RESULTS_DIR / name, shallow=False), name
    marker = json.loads((run / MARKER).read_text())
    assert marker["command"] == "run" and "journal.jsonl" in marker["files"]
    assert owner(run)[0] == "run"
    # a finished run is a run's output again: `larp-twin run` may replace it without --overwrite
    again = cli("run", plate, "--out", run, "--durable", "--no-figures", *PLAN)
    assert again.returncode == 0, again.stderr


def test_a_journal_whose_last_line_was_written_twice_resumes_and_other_bad_lines_say_what_to_keep(tmp_path):
    plate = plate_csv(tmp_path)
    ref = tmp_path / "ref"
    assert cli("run", plate, "--out", ref, "--durable", "--no-figures", *PLAN).returncode == 0
    lines = (ref / JOURNAL_FILE).read_bytes().splitlines(keepends=True)
    reads = [k for k, line in enumerate(lines) if b'"type":"read"' in line]

    run = tmp_path / "run"  # killed after read 3, whose line was written twice (a retried append)
    run.mkdir()
    (run / "campaign.json").write_bytes((ref / "campaign.json").read_bytes())
    cut = reads[2] + 1
    (run / JOURNAL_FILE).write_bytes(b"".join(lines[:cut] + [lines[cut - 1]]))
    assert len(read_journal(run / JOURNAL_FILE)) == cut  # the repeat is the same record: kept once
    result = resume(run)
    assert read_journal(run / JOURNAL_FILE) == read_journal(ref / JOURNAL_FILE)
    assert result.manifest["reads"] == len(reads)

    bad = tmp_path / "bad"  # the same line repeated in the middle: refused, with the lines to keep and what next
    bad.mkdir()
    (bad / "campaign.json").write_bytes((ref / "campaign.json").read_bytes())
    (bad / JOURNAL_FILE).write_bytes(b"".join(lines[:cut] + [lines[cut - 1]] + lines[cut:]))
    with pytest.raises(JournalError, match=rf"line {cut + 1} \(a copy of line {cut}\) has seq {cut - 1}, expected "
                                           rf"{cut}.*keep its first {cut} lines \(`head -n {cut} journal.jsonl"
                                           rf".*run `larp-twin resume {bad}` again"):
        resume(bad)


def _processes_with(token: str) -> list[int]:
    """Live processes whose command line holds ``token`` (a run and the workers it forked share it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the worker processes through /proc")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="with one CPU the figures are drawn in the run's process")
def test_the_figure_worker_ends_when_its_run_dies_by_sigkill(tmp_path):
    plate = plate_csv(tmp_path)
    faults = tmp_path / "crash.yaml"
    faults.write_text("faults:\n  - {kind: crash, at_s: 900, hard: true}\n")
    out = tmp_path / f"hard-crash-{os.getpid()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "LARP_TWIN_FIGURE_WORKERS": ""}
    env.pop("LARP_TWIN_FIGURE_WORKERS")
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "run", str(plate), "--out", str(out), "--faults",
                             str(faults), *PLAN], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[int] = set()
    while proc.poll() is None:  # the run and its figure worker, until the planned SIGKILL
        seen |= set(_processes_with(str(out))) - {proc.pid}
        time.sleep(0.02)
    assert proc.returncode == -signal.SIGKILL
    assert seen, "the run forked no figure worker"
    deadline = time.monotonic() + 5.0
    while _processes_with(str(out)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _processes_with(str(out))
    for pid in left:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"figure workers outlived their run: {left}"
