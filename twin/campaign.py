"""The campaign runner: robot prepares the plate, the plate goes to the reader, the reader scans on schedule.

The same generator runs on virtual time (twins: a 12 h campaign in about a second) and on the wall clock (real
drivers).  Results come back as a labelled spectra cube; see ``twin.results``.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from instruments.ot2.layout import DeckLayout
from instruments.reader import emission_grid
from twin.config import LabConfig, Schedule
from twin.faults import EventLog, FaultInjector, FaultPlan
from twin.lab import Lab
from twin.platemap import validate_plate_map
from twin.prep import plan_deck, prepare_plate
from twin.recovery import CampaignAborted, GuardedPipettor, Recovery
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


def _plate_state(plate) -> dict:
    """The filled wells of ``plate``: volume, components and injection time (journaled after preparation)."""
    idx = [i for i in range(plate.n_wells) if plate.volume_uL[i] > 0]
    comps = sorted({c for i in idx for c in plate.mixture(i)})
    return {"wells": [plate.wells[i] for i in idx], "volume_uL": plate.volume_uL[idx].round(6),
            "injected_at_s": plate.injected_at_s[idx],
            "components": {c: plate.component(c)[idx].round(6) for c in comps}}


def run_campaign(campaign: Campaign, seed: int = 0, progress: bool | None = None, *, journal=None,
                 on_read=None, on_alert=None, crashed_at=()) -> CampaignResult:
    """Run ``campaign`` end to end and return its results.

    With ``campaign.faults`` set, the twins inject its faults and every instrument operation runs under its
    policies; ``result.events`` is the event log (every fault and action).  ``journal`` (a ``twin.journal.Journal``)
    receives the plate state after preparation, every event and every read as it happens, and ``done`` at the end.
    ``on_read(index, fresh)`` is called after each read (``fresh``: newly journaled, not a replayed one);
    ``on_alert(event)`` on every pause-and-alert.  ``crashed_at``: see ``twin.faults.FaultInjector``.
    """
    wall0 = time.perf_counter()
    plate_map = validate_plate_map(campaign.plate_map, campaign.plate_wells, source=f"{campaign.name} plate map")
    plan = plan_deck(plate_map, plate_map.attrs["plate_wells"], layout=campaign.layout)
    deck_sheet = plan.deck_sheet()  # before the plate leaves the deck for the reader
    fault_plan = campaign.faults
    events = EventLog(sink=(lambda e: journal.append("event", **e)) if journal is not None else None)
    injector = FaultInjector(fault_plan, seed, events, crashed_at) if fault_plan is not None else None
    lab = Lab(campaign.lab, plan, seed=seed, faults=injector)
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
    if per_read > sched.every_min * 60:
        warnings.warn(f"one scan of {len(filled)} wells takes {per_read / 60:.1f} min, longer than every_min="
                      f"{sched.every_min:g}: reads will run back to back (as Gen5 does), "
                      f"~{int(sched.hours * 60 // (per_read / 60)) + 1} reads instead of "
                      f"{int(sched.hours * 60 // sched.every_min) + 1}", stacklevel=2)
    reads = []
    marks: dict[str, float] = {}

    def read_once():
        return reader.read_pl(filled, excitation_nm=sched.excitation_nm, emission_start_nm=sched.emission_start_nm,
                              emission_stop_nm=sched.emission_stop_nm, emission_step_nm=sched.emission_step_nm,
                              gain=sched.gain)

    def main():
        yield from prepare_plate(guarded_pipettor, plan, plate_map)
        marks["prep_done_s"] = clock.now
        plate = plan.deck.remove("plate")
        if journal is not None:
            journal.append("plate", t_s=clock.now, **_plate_state(plate),
                           skipped_wells=getattr(guarded_pipettor, "skipped_wells", []))
        if sched.temperature_C != reader.temperature_C:
            yield from reader.set_temperature(sched.temperature_C)
        yield from guarded("tray", reader.open_tray, "open the tray")
        yield clock.timeout(sched.plate_transfer_s)
        reader.load_plate(plate)
        yield from guarded("tray", reader.close_tray, "close the tray")
        t0 = marks["kinetic_start_s"] = clock.now
        end = t0 + sched.hours * 3600.0
        k = 0
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
    if journal is not None:
        journal.append("done", virtual_s=marks["done_s"], reads=len(reads))
    result = CampaignResult.from_run(
        campaign=campaign, plate_map=plate_map, plate=plan.plate, reads=reads, seed=seed,
        virtual_s=marks["done_s"], wall_s=time.perf_counter() - wall0, backends=lab.backends, marks=marks,
        logs={"pipettor": pipettor.log, "reader": reader.log}, deck_sheet=deck_sheet,
    )
    result.events = events.events
    if fault_plan is not None:
        result.manifest["faults"] = fault_summary(events.events)
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
