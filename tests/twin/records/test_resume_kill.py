"""Crash safety for real: a campaign subprocess is SIGKILLed at random moments, resumed each time, and must lose or
duplicate nothing it had journaled, then finish with the outputs of an uninterrupted run."""

import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scenarios import plates
from twin.campaign import Campaign
from twin.config import Schedule
from twin.faults import FaultPlan
from twin.records.journal import read_journal
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR, start_run

ROOT = Path(__file__).resolve().parents[3]
KILLS = 10


def short_campaign():
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = ["A1", "A2"]
    plan = FaultPlan(faults=[{"kind": "tip_pickup", "nth": 3}, {"kind": "reader_timeout", "nth": 4},
                             {"kind": "temperature_excursion", "at_s": 1800, "duration_s": 60}])
    return Campaign(name="kill", plate_map=pm, schedule=Schedule(hours=1, every_min=5, emission_step_nm=25),
                    faults=plan)


def resume_process(run: Path, pace_s: float) -> subprocess.Popen:
    """``larp-twin resume RUN``; ``pace_s`` > 0: about that many wall seconds per 5-min read (``--pace``)."""
    # each process gets a different hash seed: resumed runs must not depend on set/dict-of-str ordering
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONHASHSEED": "random"}
    pace = ["--pace", str(300.0 / pace_s)] if pace_s > 0 else []
    return subprocess.Popen([sys.executable, "-m", "twin.cli", "resume", str(run), "--quiet", "--no-figures",
                             *pace], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def check_journal(path: Path, before: list[dict]) -> list[dict]:
    """Nothing journaled before is lost or changed; no read index appears twice; seq has no gaps."""
    now = read_journal(path)
    assert now[:len(before)] == before, "a journaled record was lost or changed"
    assert [r["seq"] for r in now] == list(range(len(now)))
    idx = [r["index"] for r in now if r["type"] == "read"]
    assert idx == list(range(len(idx))), f"reads lost or duplicated: {idx}"
    return now


def test_sigkill_at_random_points_loses_nothing_and_resume_completes(tmp_path):
    rng = np.random.default_rng(2024)
    ref_run = start_run(short_campaign(), tmp_path / "ref", seed=5)
    assert resume_process(ref_run, pace_s=0.0).wait(timeout=60) == 0  # uninterrupted, same interpreter settings
    ref_reads = [r for r in read_journal(ref_run / JOURNAL_FILE) if r["type"] == "read"]
    run = start_run(short_campaign(), tmp_path / "run", seed=5)
    journal = run / JOURNAL_FILE
    records: list[dict] = []
    kills = growing = 0
    while kills < KILLS:
        size0 = journal.stat().st_size if journal.exists() else 0
        proc = resume_process(run, pace_s=0.45)
        if kills % 4 == 3:  # now and then: die during start-up or replay
            deadline = time.monotonic() + float(rng.uniform(0.1, 2.0))
        else:  # mostly: die while new records are being appended (a random moment after the first one lands)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if journal.exists() and journal.stat().st_size > size0:
                    deadline = time.monotonic() + float(rng.uniform(0.0, 0.7))
                    break
                time.sleep(0.01)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break  # finished before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        before = len(records)
        records = check_journal(journal, records)
        growing += len(records) > before
    proc = resume_process(run, pace_s=0.0)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    records = check_journal(journal, records)
    reads = [r for r in records if r["type"] == "read"]
    assert reads == ref_reads and records[-1]["type"] == "done"
    for name in ("plate.csv", "spectra.parquet", "features.csv", "gen5_export.txt", "log.jsonl", "events.jsonl"):
        assert filecmp.cmp(tmp_path / "ref" / RESULTS_DIR / name, run / RESULTS_DIR / name, shallow=False), name
    print(f"\nkill/resume cycles: {kills} SIGKILLs ({growing} while the journal was growing), "
          f"{len(reads)} reads, 0 lost, 0 duplicated")
    assert kills >= KILLS // 2 and growing >= 3
