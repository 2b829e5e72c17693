"""The durable journal: torn tails cut, corruption refused, replay verified; soft crash + resume = uninterrupted."""

import filecmp

import pytest

from scenarios import plates
from twin.campaign import Campaign
from twin.config import Schedule
from twin.faults import FaultPlan, SimulatedCrash
from twin.records.journal import Journal, JournalError, ReplayMismatch, read_journal
from twin.records.resume import RESULTS_DIR, resume, run_durable


def test_records_survive_and_a_torn_tail_is_cut(tmp_path):
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        assert j.append("read", index=0, counts=[[1.0, float("nan")]])
        j.append("event", kind="x")
    with open(p, "ab") as fh:
        fh.write(b'{"rec":{"seq":2,"type":"re')  # the record in flight when the process died
    assert [r["type"] for r in read_journal(p)] == ["read", "event"]
    with Journal(p) as j:
        assert len(j.recorded) == 2 and j.recorded[0]["counts"] == [[1.0, None]]
        assert not j.append("read", index=0, counts=[[1.0, float("nan")]])  # replayed, verified, not rewritten
        assert not j.append("event", kind="x")
        assert j.append("done")
    assert p.read_bytes().count(b"\n") == 3 and p.read_bytes().endswith(b"\n")


def test_damage_before_the_last_line_is_an_error(tmp_path):
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        for k in range(3):
            j.append("read", index=k)
    lines = p.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"index":1', b'"index":7')  # CRC no longer matches
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="corrupt"):
        read_journal(p)


def test_a_diverging_replay_is_refused(tmp_path):
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.append("read", index=0, counts=[1, 2])
    with Journal(p) as j, pytest.raises(ReplayMismatch):
        j.append("read", index=0, counts=[1, 3])


def small(faults):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = ["A1", "A2"]
    return Campaign(name="j", plate_map=pm, faults=FaultPlan(faults=faults),
                    schedule=Schedule(hours=1, every_min=5, emission_step_nm=25))


def test_crash_at_a_virtual_time_then_resume_equals_an_uninterrupted_run(tmp_path):
    faults = [{"kind": "reader_timeout", "nth": 3}]
    run_durable(small(faults), tmp_path / "ref", seed=9)
    with pytest.raises(SimulatedCrash):
        run_durable(small(faults + [{"kind": "crash", "at_s": 1500}]), tmp_path / "run", seed=9)
    before = read_journal(tmp_path / "run" / "journal.jsonl")
    assert before[-1]["kind"] == "crash" and 0 < sum(r["type"] == "read" for r in before) < 13
    r = resume(tmp_path / "run")
    after = read_journal(tmp_path / "run" / "journal.jsonl")
    assert after[:len(before)] == before and after[len(before)]["action"] == "resumed"
    assert r.manifest["reads"] == 13
    for name in ("plate.csv", "spectra.parquet", "features.csv", "gen5_export.txt", "log.jsonl"):
        assert filecmp.cmp(tmp_path / "ref" / RESULTS_DIR / name, tmp_path / "run" / RESULTS_DIR / name,
                           shallow=False), name
    assert resume(tmp_path / "run") is None  # complete: nothing to do


def test_resume_refuses_a_directory_without_a_run(tmp_path):
    with pytest.raises(JournalError, match="not a run directory"):
        resume(tmp_path)
