"""The campaign runner: robot prepares the plate, the plate goes to the reader, the reader scans on schedule.

The same generator runs on virtual time (twins: a 12 h campaign in about a second) and on the wall clock (real
drivers).  Results come back as a labelled spectra cube; see ``twin.results``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from instruments.ot2.layout import DeckLayout
from instruments.reader import SpectrumRead, emission_grid
from twin.config import LabConfig, Schedule
from twin.faults import EventLog, FaultInjector, FaultPlan
from twin.lab import Lab
from twin.platemap import validate_plate_map
from twin.prep import plan_deck, prepare_plate
from twin.faults.recovery import CampaignAborted, GuardedPipettor, Recovery
from twin.results import CampaignResult


class Campaign(BaseModel):
    """A runnable campaign: a plate map, a schedule and a lab configuration."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    name: str = "campaign"
    description: str = ""
    plate_map: pd.DataFrame
    plate_wells: int | None = Field(None, description="96 or 384; default: the smallest plate that fits")
    schedule: Schedule = Field(default_factory=Schedule)
    lab: LabConfig = Field(default_factory=LabConfig)
    start_time: datetime = Field(datetime(2000, 1, 1, 9, 0), description="wall-clock date of campaign t=0 written "
                                 "into exports; fixed by default so the same seed gives the same bytes")
    layout: DeckLayout | None = Field(None, description="OT-2 deck layout (slots, labware, pipettes); None: the "
                                      "default layout of twin.prep")
    faults: FaultPlan | None = Field(None, description="faults to inject and the runner's policies; None: no "
                                     "injection and no policies (errors end the run)")


@dataclass
class _Progress:
    """A tqdm bar over virtual minutes, off when stderr is not a terminal."""

    total_min: float
    enabled: bool | None = None
    bar: object = field(default=None, init=False)

    def __post_init__(self):
        enabled = sys.stderr.isatty() if self.enabled is None else self.enabled
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total_min), unit="vmin", desc="virtual time", leave=True,
                            dynamic_ncols=True)

    def ticker(self, clock, step_s: float = 60.0):
        while True:
            yield clock.timeout(step_s)
            if self.bar is not None:
                self.bar.update(step_s / 60.0)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def read_duration_s(campaign: Campaign, n_wells: int) -> float:
    """How long one scan of ``n_wells`` takes on the configured reader twin."""
    s = campaign.schedule
    n_wl = len(emission_grid(s.emission_start_nm, s.emission_stop_nm, s.emission_step_nm))
    return campaign.lab.reader_timing.scan_s(n_wells, n_wl)


@dataclass
class Restart:
    """Where a run on real drivers continues after a crash (``twin.records.resume`` builds it from the journal).

    The physical plate exists once, so nothing is replayed: the plate's state is restored from its journaled record,
    preparation is skipped, and the kinetic schedule continues at campaign time ``at_s``.
    """

    plate: dict  #: the journaled ``plate`` record (filled wells, volumes per component, ``injected_at_s``)
    at_s: float  #: campaign seconds at which the clock restarts
    time_factor: float = 1.0  #: wall seconds per campaign second (realtime clock)
    reads: list = field(default_factory=list)  #: journaled reads as ``SpectrumRead``, in order
    events: list = field(default_factory=list)  #: journaled events, in order
    kinetic_start_s: float | None = None  #: journaled t0 of the kinetic schedule; None: not started before the crash
    last_slot: int = -1  #: schedule slot of the last journaled read
    done: bool = False  #: the journal already holds ``done`` (the crash came while writing the outputs)


def on_real_drivers(lab: LabConfig) -> bool:
    """True when ``lab`` drives real instruments or the wall clock (a run that cannot be replayed)."""
    return lab.realtime or lab.pipettor != "sim" or lab.reader != "sim"


def read_from_record(rec: dict) -> SpectrumRead:
    """The SpectrumRead of a journaled ``read`` record (None counts, i.e. OVRFLW, back to NaN)."""
    counts = np.array([[np.nan if v is None else v for v in row] for row in rec["counts"]], float)
    return SpectrumRead(list(rec["wells"]), np.asarray(rec["wavelength_nm"], float), counts, float(rec["start_s"]),
                        float(rec["end_s"]), float(rec["excitation_nm"]), int(rec["gain"]))


def _restore_plate(plate, state: dict) -> None:
    """Put the journaled contents and injection times back into the (empty) ``plate``."""
    idx = plate.indices(state["wells"])
    plate.contents = {}
    for comp, vols in state["components"].items():
        plate.contents[comp] = np.zeros(plate.n_wells)
        plate.contents[comp][idx] = np.asarray(vols, float)
    plate.injected_at_s = np.full(plate.n_wells, np.nan)
    plate.injected_at_s[idx] = [np.nan if v is None else v for v in state["injected_at_s"]]


def _plate_state(plate) -> dict:
    """The filled wells of ``plate``: volume, components and injection time (journaled after preparation)."""
    idx = [i for i in range(plate.n_wells) if plate.volume_uL[i] > 0]
    comps = sorted({c for i in idx for c in plate.mixture(i)})
    return {"wells": [plate.wells[i] for i in idx], "volume_uL": plate.volume_uL[idx].round(6),
            "injected_at_s": plate.injected_at_s[idx],
            "components": {c: plate.component(c)[idx].round(6) for c in comps}}


def run_campaign(campaign: Campaign, seed: int = 0, progress: bool | None = None, *, journal=None,
                 on_read=None, on_alert=None, crashed_at=(), restart: Restart | None = None) -> CampaignResult:
    """Run ``campaign`` end to end and return its results.

    With ``campaign.faults`` set, the twins inject its faults and every instrument operation runs under its
    policies; ``result.events`` is the event log (every fault and action).  ``journal`` (a ``twin.records.journal.Journal``)
    receives the plate state after preparation, every event and every read as it happens, and ``done`` at the end.
    ``on_read(index, fresh)`` is called after each read (``fresh``: newly journaled, not a replayed one);
    ``on_alert(event)`` on every pause-and-alert.  ``crashed_at``: see ``twin.faults.FaultInjector``.
    On real drivers the journal also gets ``clock`` (the wall-clock epoch of campaign t=0) before preparation and
    ``kinetic`` (the schedule's t0); ``restart`` (a ``Restart``) continues such a run after a crash.
    """
    wall0 = time.perf_counter()
    plate_map = validate_plate_map(campaign.plate_map, campaign.plate_wells, source=f"{campaign.name} plate map")
    plan = plan_deck(plate_map, plate_map.attrs["plate_wells"], layout=campaign.layout)
    deck_sheet = plan.deck_sheet()  # before the plate leaves the deck for the reader
    fault_plan = campaign.faults
    events = EventLog(sink=(lambda e: journal.append("event", **e)) if journal is not None else None)
    injector = FaultInjector(fault_plan, seed, events, crashed_at) if fault_plan is not None else None
    lab = Lab(campaign.lab, plan, seed=seed, faults=injector)
    real = on_real_drivers(campaign.lab)
    if restart is not None:
        lab.clock.restart_at(restart.at_s, restart.time_factor)
        events.events.extend(restart.events)
    elif journal is not None and real:
        epoch, factor = lab.clock.wall_epoch()
        journal.append("clock", wall_epoch_s=epoch, time_factor=factor, realtime=lab.clock.realtime)
    sched = campaign.schedule
    clock, pipettor, reader = lab.clock, lab.pipettor, lab.reader
    recovery = Recovery(fault_plan, events, clock, on_alert) if fault_plan is not None else None
    guarded_pipettor = GuardedPipettor(pipettor, recovery) if recovery is not None else pipettor

    def guarded(operation: str, make, what: str):
        if recovery is None:
            value = yield from make()
            return True, value
        return (yield from recovery.guard(operation, make, what))

    filled = [w for w, v in zip(plate_map["well"], plate_map[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL",
                                                                "amine_uL"]].sum(axis=1)) if v > 0]
    per_read = read_duration_s(campaign, len(filled))
    if campaign.lab.reader == "sim" and 0 < sched.every_min * 60 < per_read:  # the twin's scan time, not Gen5's
        warnings.warn(f"one scan of {len(filled)} wells takes {per_read / 60:.1f} min, longer than every_min="
                      f"{sched.every_min:g}: reads will run back to back (as Gen5 does), "
                      f"~{int(sched.hours * 60 // (per_read / 60)) + 1} reads instead of "
                      f"{int(sched.hours * 60 // sched.every_min) + 1}", stacklevel=2)
    reads = list(restart.reads) if restart is not None else []
    marks: dict[str, float] = {}

    def read_once():
        return reader.read_pl(filled, excitation_nm=sched.excitation_nm, emission_start_nm=sched.emission_start_nm,
                              emission_stop_nm=sched.emission_stop_nm, emission_step_nm=sched.emission_step_nm,
                              gain=sched.gain)

    def main():
        if restart is None:
            yield from prepare_plate(guarded_pipettor, plan, plate_map)
            marks["prep_done_s"] = clock.now
            plate = plan.deck.remove("plate")
            if journal is not None:
                journal.append("plate", t_s=clock.now, **_plate_state(plate),
                               skipped_wells=getattr(guarded_pipettor, "skipped_wells", []))
        else:  # the plate exists: restore its journaled state instead of preparing it
            marks["prep_done_s"] = restart.plate["t_s"]
            plate = plan.deck.remove("plate")
            _restore_plate(plate, restart.plate)
            events.add(clock.now, "crash", "resumed", reads_kept=len(reads), last_slot=restart.last_slot)
            if restart.done:
                marks["kinetic_start_s"] = restart.kinetic_start_s if restart.kinetic_start_s is not None \
                    else clock.now
                marks["done_s"] = clock.now
                return
        if sched.temperature_C != reader.temperature_C:
            yield from reader.set_temperature(sched.temperature_C)
        yield from guarded("tray", reader.open_tray, "open the tray")
        if restart is None:
            yield clock.timeout(sched.plate_transfer_s)
        reader.load_plate(plate)
        yield from guarded("tray", reader.close_tray, "close the tray")
        k = 0
        if restart is not None and restart.kinetic_start_s is not None:
            t0 = marks["kinetic_start_s"] = restart.kinetic_start_s
            # the next slot is the first not yet read whose time is still ahead, or the latest overdue one (now)
            k = restart.last_slot + 1 if sched.every_min <= 0 else \
                max(restart.last_slot + 1, math.floor((clock.now - t0) / (sched.every_min * 60.0) + 1e-9))
            for missed in range(restart.last_slot + 1, k):
                events.add(clock.now, "recovery", "read_missed", slot=missed, reason="crash")
        else:
            t0 = marks["kinetic_start_s"] = clock.now
            if journal is not None and real:
                journal.append("kinetic", t_s=t0)
        end = t0 + sched.hours * 3600.0
        while True:
            start = max(t0 + k * sched.every_min * 60.0, clock.now)  # an overrunning read pushes the next one back
            if start > end + 1e-6:
                break
            yield clock.wait_until(start)
            if recovery is not None:
                yield from recovery.check_temperature(reader, sched.temperature_C, f"before read slot {k}")
            ok, r = yield from guarded("read", read_once, f"read slot {k}")
            if ok:
                reads.append(r)
                fresh = True
                if journal is not None:
                    fresh = journal.append("read", index=len(reads) - 1, slot=k, start_s=r.start_s, end_s=r.end_s,
                                           wells=r.wells, wavelength_nm=r.wavelength_nm,
                                           excitation_nm=r.excitation_nm, gain=r.gain, counts=r.counts)
                if on_read is not None:
                    on_read(len(reads) - 1, fresh)
            else:
                events.add(clock.now, "recovery", "read_missed", slot=k)
            k += 1
        yield from guarded("tray", reader.open_tray, "open the tray")
        marks["done_s"] = clock.now

    est_prep_min = 1.0 * len(plate_map) + 10  # ~99 min for a 96-well plate on the OT-2 twin
    prog = _Progress(est_prep_min + sched.hours * 60 + per_read / 60, progress)
    clock.process(prog.ticker(clock))
    if injector is not None:
        for fault in injector.crashes():
            clock.process(injector.crash_process(clock, fault))
    try:
        clock.run_process(main())
    finally:
        prog.close()
        lab.close()
    if not reads:
        raise CampaignAborted(f"{campaign.name}: every read was skipped; nothing to report", None)
    if journal is not None and not (restart is not None and restart.done):
        journal.append("done", virtual_s=marks["done_s"], reads=len(reads))
    result = CampaignResult.from_run(
        campaign=campaign, plate_map=plate_map, plate=plan.plate, reads=reads, seed=seed,
        virtual_s=marks["done_s"], wall_s=time.perf_counter() - wall0, backends=lab.backends, marks=marks,
        logs={"pipettor": pipettor.log, "reader": reader.log}, deck_sheet=deck_sheet,
    )
    result.events = events.events
    if fault_plan is not None:
        result.manifest["faults"] = fault_summary(events.events)
        result.manifest["faults"]["not_fired"] = injector.not_fired()
    return result


def fault_summary(events: list[dict]) -> dict:
    """Counts for the manifest: faults injected (by kind) and the runner's actions (by action)."""
    injected: dict[str, int] = {}
    actions: dict[str, int] = {}
    for e in events:
        if e["action"] == "injected":
            injected[e["kind"]] = injected.get(e["kind"], 0) + 1
        else:
            actions[e["action"]] = actions.get(e["action"], 0) + 1
    return {"injected": dict(sorted(injected.items())), "injected_total": sum(injected.values()),
            "actions": dict(sorted(actions.items()))}
