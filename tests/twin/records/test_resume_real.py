"""Resume on real drivers: the Cytation serial driver against the pty emulator on a (sped-up) wall clock.

The run crashes after a few reads; ``resume`` restores the plate from the journal, reconnects the reader on a new
port and continues the kinetic schedule at the wall-clock offset, keeping every journaled read and repeating none.
"""

import functools
import itertools
import json
import time

import numpy as np
import pandas as pd
import pytest

from instruments.cytation import Cytation5Emulator, LinkSettings
from instruments.errors import ReaderError
from scenarios import plates
from twin.campaign import Campaign
from instruments.clock import Clock
from twin.config import LabConfig, Schedule
from twin.records.journal import Journal, JournalError, read_journal
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR, resume, run_durable, start_run

FACTOR = 0.02  # wall seconds per campaign second: prep (~66 s) takes 1.3 s, one read slot (60 s) 1.2 s
EVERY_S = 60.0


class PowerCut(Exception):
    """Stands in for the PC dying right after a read was journaled."""


@pytest.fixture
def fast_clock(monkeypatch):
    monkeypatch.setattr("twin.lab.Clock", functools.partial(Clock, factor=FACTOR))


def serial_campaign(port: str) -> Campaign:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = ["A1", "A2"]
    lab = LabConfig(reader="cytation-serial", reader_port=port, realtime=True,
                    reader_link=LinkSettings(wait_for_temperature=False))
    return Campaign(name="real", plate_map=pm, lab=lab,
                    schedule=Schedule(hours=0.1, every_min=EVERY_S / 60, emission_step_nm=25))


def crash_after(n_reads: int):
    def on_read(index: int, fresh: bool) -> None:
        if index == n_reads - 1:
            raise PowerCut(f"after read {index}")
    return on_read


def test_a_crashed_serial_run_resumes_on_the_wall_clock_without_losing_or_repeating_reads(tmp_path, fast_clock):
    run = tmp_path / "run"
    with Cytation5Emulator(time_factor=0.0005, line_rate=False) as emu, pytest.raises(PowerCut):
        run_durable(serial_campaign(emu.port), run, seed=3, on_read=crash_after(3))
    before = read_journal(run / JOURNAL_FILE)
    old_reads = [r for r in before if r["type"] == "read"]
    assert [r["slot"] for r in old_reads] == [0, 1, 2]
    clock = next(r for r in before if r["type"] == "clock")
    t0 = next(r for r in before if r["type"] == "kinetic")["t_s"]
    plate = next(r for r in before if r["type"] == "plate")
    time.sleep(2.2 * EVERY_S * FACTOR)  # down for over two slots: at least slot 3 passes unread

    with Cytation5Emulator(time_factor=0.0005, line_rate=False) as emu2:  # re-plugged: a new port
        at_resume_s = (time.time() - clock["wall_epoch_s"]) / clock["time_factor"]
        result = resume(run, lab_overrides={"reader_port": emu2.port})
        returned_s = (time.time() - clock["wall_epoch_s"]) / clock["time_factor"]
    after = read_journal(run / JOURNAL_FILE)

    # nothing journaled is lost or changed; read indices run 0, 1, 2 ... once each
    assert after[:len(before)] == before
    reads = [r for r in after if r["type"] == "read"]
    assert [r["index"] for r in reads] == list(range(len(reads))) and reads[:3] == old_reads
    start = next(r for r in after[len(before):] if r["type"] == "start")
    assert start["resumed"] and start["lab_overrides"] == {"reader_port": emu2.port}
    assert not [r for r in after[len(before):] if r["type"] in ("plate", "clock", "kinetic")]

    # the clock restarted at the wall-clock offset: not before resume was called, and no read is stamped later than
    # the wall clock when resume returned (a clock set ahead would stamp the last one so), whatever the machine's speed
    resumed = next(r for r in after[len(before):] if r["type"] == "event" and r["action"] == "resumed")
    assert at_resume_s <= resumed["t_s"] <= reads[3]["start_s"] and reads[-1]["start_s"] <= returned_s

    # the missed slots are logged, the next read is the latest overdue slot (at once) or the first one ahead
    new = reads[3:]
    missed = [r["slot"] for r in after if r["type"] == "event" and r["action"] == "read_missed"]
    first = new[0]["slot"]
    assert missed == list(range(3, first)) and first >= 4
    assert resumed["t_s"] >= t0 + (first - 1) * EVERY_S  # slot first-1 had passed: not read late
    assert new[0]["start_s"] >= min(t0 + first * EVERY_S, resumed["t_s"]) - 1e-6
    assert new[0]["start_s"] < t0 + (first + 1) * EVERY_S  # read in its own slot, before the next one is due
    slots = [r["slot"] for r in reads]
    assert slots == sorted(set(slots)) and slots[-1] == 6  # ran to the end of the 6-min schedule
    starts = [r["start_s"] for r in reads]
    assert all(b > a for a, b in itertools.pairwise(starts))
    assert after[-1]["type"] == "done" and after[-1]["reads"] == len(reads)

    # the outputs hold the journaled reads and the new ones, aged from the journaled injection times
    out = run / RESULTS_DIR
    assert result.manifest["reads"] == len(reads) and result.manifest["kinetic_start_s"] == round(t0, 3)
    ds = result.dataset
    assert np.allclose(ds["read_start_min"].values * 60, starts)
    for k, r in enumerate(reads):
        counts = np.array([[np.nan if v is None else v for v in row] for row in r["counts"]], float)
        assert np.array_equal(ds["intensity"].values[:, k, :], counts, equal_nan=True)
    inj = dict(zip(plate["wells"], plate["injected_at_s"]))
    mid_s = np.array([(r["start_s"] + r["end_s"]) / 2 for r in reads])
    for w in ds["well"].values:
        assert np.allclose(ds["time_min"].sel(well=w).values, (mid_s - inj[w]) / 60.0)
    table = pd.read_csv(out / "plate.csv")
    assert np.allclose(table.set_index("well").loc[plate["wells"], "injected_at_min"],
                       np.array(plate["injected_at_s"]) / 60.0, atol=1e-4)
    assert (out / "spectra.parquet").exists() and (out / "events.jsonl").exists()
    assert resume(run) is None  # complete: nothing to do, no reader needed

    # a crash while writing the outputs: the journal is done, so nothing is read again
    (out / "manifest.json").unlink()
    with Cytation5Emulator(time_factor=0.0005, line_rate=False) as emu3:
        again = resume(run, lab_overrides={"reader_port": emu3.port})
    assert emu3.state.commands.count("O") == 0
    assert [r for r in read_journal(run / JOURNAL_FILE) if r["type"] in ("read", "done")] == reads + [after[-1]]
    assert np.array_equal(again.dataset["intensity"].values, ds["intensity"].values, equal_nan=True)


def test_a_crash_during_preparation_is_refused_as_a_half_made_plate(tmp_path):
    run = start_run(serial_campaign("/dev/ttyUSB0"), tmp_path / "run", seed=1)
    with Journal(run / JOURNAL_FILE) as journal:
        journal.append("start", campaign="real", seed=1, spec_sha="x", resumed=False, lab_overrides={})
        journal.append("clock", wall_epoch_s=time.time(), time_factor=1.0, realtime=True)
        journal.append("event", t_s=40.0, kind="tip_pickup", action="injected")
    with pytest.raises(JournalError, match="half-made.*new run"):
        resume(run)


def test_a_run_that_never_reached_the_lab_starts_afresh(tmp_path, fast_clock):
    run = start_run(serial_campaign("/dev/nonexistent-port"), tmp_path / "run", seed=1)
    with pytest.raises(ReaderError):
        resume(run)  # no reader on that port: nothing was done
    assert [r["type"] for r in read_journal(run / JOURNAL_FILE)] == ["start"]
    spec = json.loads((run / "campaign.json").read_text())
    assert spec["lab"]["reader_port"] == "/dev/nonexistent-port"  # overrides never rewrite the run's config
