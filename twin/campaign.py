"""The campaign runner: robot prepares the plate, the plate goes to the reader, the reader scans on schedule.

The same generator runs on virtual time (twins: a 12 h campaign in about a second) and on the wall clock (real
drivers).  Results come back as a labelled spectra cube; see ``twin.results``.
"""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from instruments.errors import ReaderError
from instruments.ot2.layout import DeckLayout
from twin.config import LabConfig, Schedule
from twin.early import RunEndedEarly, ended_early_message, ended_early_record
from twin.faults import EventLog, FaultInjector, FaultPlan
from twin.faults.recovery import CampaignAborted, GuardedPipettor, Recovery
from twin.faults.summary import fault_summary
from twin.lab import Lab
from twin.platemap import VOLUME_COLUMNS, validate_plate_map
from twin.prep import plan_deck, prepare_plate
from twin.procedure.model import Procedure, procedure_from_schedule
from twin.procedure.runner import (
    ProcedureRunner,
    Resume,
    check_pl_size,
    planned_min,
    planned_reads,
    step_duration_s,
    warn_overruns,
)
from twin.records.documents import DocumentStream, ProgressBar
from twin.records.restart import Restart, plate_state, restore_plate
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
    procedure: Procedure | None = Field(None, description="the reader's procedure (twin.procedure); None: the "
                                        "one-loop PL procedure ``schedule`` stands for")


def procedure_of(campaign: Campaign) -> Procedure:
    """The reader procedure ``campaign`` runs: its own, or the one its schedule stands for."""
    return campaign.procedure if campaign.procedure is not None else procedure_from_schedule(campaign.schedule)


def read_duration_s(campaign: Campaign, n_wells: int) -> float:
    """How long one PL scan of ``n_wells`` takes on the configured reader twin."""
    return step_duration_s(procedure_of(campaign).pl, campaign.lab.reader_timing, n_wells)


def check_campaign_size(campaign: Campaign, source: str | None = None) -> None:
    """Refuse (``ProcedureTooLarge``) a campaign whose PL reads would not fit in memory, before anything runs or is
    written (``run_campaign`` checks again)."""
    plate_map = validate_plate_map(campaign.plate_map, campaign.plate_wells, source=f"{campaign.name} plate map")
    filled = int((plate_map[VOLUME_COLUMNS].sum(axis=1) > 0).sum())
    check_pl_size(procedure_of(campaign), campaign.lab.reader_timing, filled,
                  source=source or f"{campaign.name}'s procedure")


def run_campaign(campaign: Campaign, seed: int = 0, progress: bool | None = None, *, subscribers=(),
                 crashed_at=(), restart: Restart | None = None) -> CampaignResult:
    """Run ``campaign`` end to end and return its results.

    The robot prepares the plate, the plate goes to the reader, and ``twin.procedure.ProcedureRunner`` runs the
    reader's procedure.  The run emits documents (``twin.records.documents``: start, plate, event, read, abs_read,
    done ...) to each of ``subscribers`` (callables ``(name, doc)``: a ``JournalWriter``, a monitor ...); a progress
    bar subscribes when ``progress`` (None: when stderr is a terminal).  With ``campaign.faults`` set, the twins
    inject its faults and every instrument operation runs under its policies; ``result.events`` is the event log.
    ``crashed_at``: see ``twin.faults.FaultInjector``.  ``restart`` (a ``Restart``) continues a run on real drivers
    after a crash.
    """
    wall0 = time.perf_counter()
    plate_map = validate_plate_map(campaign.plate_map, campaign.plate_wells, source=f"{campaign.name} plate map")
    plan = plan_deck(plate_map, plate_map.attrs["plate_wells"], layout=campaign.layout)
    deck_sheet = plan.deck_sheet()  # before the plate leaves the deck for the reader
    procedure = procedure_of(campaign)
    filled = [w for w, v in zip(plate_map["well"], plate_map[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL",
                                                                "amine_uL"]].sum(axis=1)) if v > 0]
    timing = campaign.lab.reader_timing
    check_pl_size(procedure, timing, len(filled), source=f"{campaign.name}'s procedure")  # before anything is read
    warn_overruns(procedure, timing, len(filled))
    est_prep_min = 1.0 * len(plate_map) + 10  # ~99 min for a 96-well plate on the OT-2 twin
    bar = ProgressBar(est_prep_min + planned_min(procedure, timing, len(filled)), progress)
    stream = DocumentStream([*subscribers, bar])
    emit = stream.emit
    fault_plan = campaign.faults
    events = EventLog(sink=lambda e: emit("event", e))
    injector = FaultInjector(fault_plan, seed, events, crashed_at) if fault_plan is not None else None
    lab = Lab(campaign.lab, plan, seed=seed, faults=injector)
    real = campaign.lab.is_real
    emit("start", {"campaign": campaign.name, "seed": seed, "procedure": procedure.model_dump(mode="json"),
                   "wells": filled, "resumed": restart is not None})
    if restart is not None:
        lab.clock.restart_at(restart.at_s, restart.time_factor)
        events.events.extend(restart.events)
        since = campaign.lab.reader_since_wall_s
        lab.reader.resume_after(restart.sources, restart.wall_epoch_s if since is None else since,
                                reads=restart.reads)
    elif real:
        epoch, factor = lab.clock.wall_epoch()
        emit("clock", {"wall_epoch_s": epoch, "time_factor": factor, "realtime": lab.clock.realtime})
    clock, pipettor, reader = lab.clock, lab.pipettor, lab.reader
    recovery = Recovery(fault_plan, events, clock, lambda a: emit("alert", a)) if fault_plan is not None else None
    guarded_pipettor = GuardedPipettor(pipettor, recovery) if recovery is not None else pipettor

    def guarded(operation: str, make, what: str):
        if recovery is None:
            value = yield from make()
            return True, value
        return (yield from recovery.guard(operation, make, what))

    runner = ProcedureRunner(
        procedure, reader, clock, filled, emit, guarded, events.add,
        check_temperature=(lambda what: recovery.check_temperature(reader, procedure.temperature_C, what))
        if recovery is not None else None)
    if restart is not None:
        runner.pl_reads.extend(restart.reads)
        runner.abs_reads.extend(restart.abs_reads)
    marks: dict[str, float] = {}

    def main():
        if restart is None:
            yield from prepare_plate(guarded_pipettor, plan, plate_map)
            marks["prep_done_s"] = clock.now
            plate = plan.deck.remove("plate")
            emit("plate", {"t_s": clock.now, **plate_state(plate),
                           "skipped_wells": getattr(guarded_pipettor, "skipped_wells", [])})
        else:  # the plate exists: restore its journaled state instead of preparing it
            marks["prep_done_s"] = restart.plate["t_s"]
            plate = plan.deck.remove("plate")
            restore_plate(plate, restart.plate)
            events.add(clock.now, "crash", "resumed", reads_kept=len(restart.reads), last_slot=restart.last_slot)
            if restart.done:
                marks["kinetic_start_s"] = restart.kinetic_start_s if restart.kinetic_start_s is not None \
                    else clock.now
                marks["done_s"] = clock.now
                return
        if procedure.temperature_C != reader.temperature_C:
            yield from reader.set_temperature(procedure.temperature_C)
        yield from guarded("tray", reader.open_tray, "open the tray")
        if restart is None:
            yield clock.timeout(procedure.plate_transfer_s)
        reader.load_plate(plate)
        yield from guarded("tray", reader.close_tray, "close the tray")
        if restart is not None and restart.kinetic_start_s is not None:
            t0 = marks["kinetic_start_s"] = restart.kinetic_start_s
            yield from runner.run(t0, Resume(t0, restart.last_loop, restart.last_slot))
        else:
            t0 = marks["kinetic_start_s"] = clock.now
            if real:
                emit("kinetic", {"t_s": t0})
            yield from runner.run(t0)
        yield from guarded("tray", reader.open_tray, "open the tray")
        marks["done_s"] = clock.now

    if injector is not None:
        for fault in injector.crashes():
            clock.process(injector.crash_process(clock, fault))
    stopped = None
    try:
        clock.run_process(main())
    except (ReaderError, KeyboardInterrupt) as exc:
        # on real instruments the reads received are the only copy: keep them (twins replay, so they just fail)
        if not (real and runner.pl_reads and "kinetic_start_s" in marks):
            raise
        stopped = _ended_early(exc, reader, procedure, len(runner.pl_reads), clock.now)
        events.add(clock.now, "reader", "ended_early", **{k: v for k, v in stopped.items() if k != "at_s"})
        marks["done_s"] = clock.now
    finally:
        bar.close()
        lab.close()
    reads, abs_reads = runner.pl_reads, runner.abs_reads
    if not reads:
        raise CampaignAborted(f"{campaign.name}: every read was skipped; nothing to report", None)
    if not (restart is not None and restart.done) and stopped is None:  # an early end is no ``done``: resumable
        emit("done", {"virtual_s": marks["done_s"], "reads": len(reads),
                      **({"abs_reads": len(abs_reads)} if abs_reads else {})})
    result = CampaignResult.from_run(
        campaign=campaign, plate_map=plate_map, plate=plan.plate, reads=reads, seed=seed,
        virtual_s=marks["done_s"], wall_s=time.perf_counter() - wall0, backends=lab.backends, marks=marks,
        logs={"pipettor": pipettor.log, "reader": reader.log}, deck_sheet=deck_sheet, abs_reads=abs_reads,
        procedure=procedure if campaign.procedure is not None else None,
    )
    result.events = events.events
    failed = getattr(reader, "failed_wells", None)  # the reader twin's failed wells (missed/clogged injections)
    if failed is not None:
        result.manifest["failed_wells"] = [w for w in failed() if w in set(filled)]
    if fault_plan is not None:
        result.manifest["faults"] = fault_summary(events.events)
        result.manifest["faults"]["not_fired"] = injector.not_fired()
    if stopped is not None:
        result.manifest["ended_early"] = stopped
        raise RunEndedEarly(ended_early_message(campaign.name, stopped), result,
                            interrupted=stopped["interrupted"])
    return result


def _ended_early(exc: BaseException, reader, procedure: Procedure, n_reads: int, at_s: float) -> dict:
    """The manifest's ``ended_early`` for a procedure stopped by ``exc`` (a reader error or Ctrl-C)."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    return ended_early_record("interrupted (Ctrl-C)" if interrupted else str(exc), n_reads,
                              planned_reads(procedure), interrupted=interrupted, folder=getattr(reader, "folder", None),
                              at_s=at_s, rejected=[p.name for p, _ in getattr(reader, "rejected", ())],
                              rejected_files=getattr(reader, "rejected_signatures", {}))
