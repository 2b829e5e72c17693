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

from instruments.reader import emission_grid
from twin.config import LabConfig, Schedule
from twin.lab import Lab
from twin.platemap import validate_plate_map
from twin.prep import plan_deck, prepare_plate
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


def run_campaign(campaign: Campaign, seed: int = 0, progress: bool | None = None) -> CampaignResult:
    """Run ``campaign`` end to end and return its results."""
    wall0 = time.perf_counter()
    plate_map = validate_plate_map(campaign.plate_map, campaign.plate_wells, source=f"{campaign.name} plate map")
    plan = plan_deck(plate_map, plate_map.attrs["plate_wells"])
    lab = Lab(campaign.lab, plan, seed=seed)
    sched = campaign.schedule
    clock, pipettor, reader = lab.clock, lab.pipettor, lab.reader
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

    def main():
        yield from prepare_plate(pipettor, plan, plate_map)
        marks["prep_done_s"] = clock.now
        plate = plan.deck.remove("plate")
        if sched.temperature_C != reader.temperature_C:
            yield from reader.set_temperature(sched.temperature_C)
        yield from reader.open_tray()
        yield clock.timeout(sched.plate_transfer_s)
        reader.load_plate(plate)
        yield from reader.close_tray()
        t0 = marks["kinetic_start_s"] = clock.now
        end = t0 + sched.hours * 3600.0
        k = 0
        while True:
            start = max(t0 + k * sched.every_min * 60.0, clock.now)  # an overrunning read pushes the next one back
            if start > end + 1e-6:
                break
            yield clock.wait_until(start)
            r = yield from reader.read_pl(filled, excitation_nm=sched.excitation_nm,
                                          emission_start_nm=sched.emission_start_nm,
                                          emission_stop_nm=sched.emission_stop_nm,
                                          emission_step_nm=sched.emission_step_nm, gain=sched.gain)
            reads.append(r)
            k += 1
        yield from reader.open_tray()
        marks["done_s"] = clock.now

    est_prep_min = 0.4 * len(plate_map) + 10
    prog = _Progress(est_prep_min + sched.hours * 60 + per_read / 60, progress)
    clock.process(prog.ticker(clock))
    try:
        clock.run_process(main())
    finally:
        prog.close()
        lab.close()
    return CampaignResult.from_run(
        campaign=campaign, plate_map=plate_map, plate=plan.plate, reads=reads, seed=seed,
        virtual_s=marks["done_s"], wall_s=time.perf_counter() - wall0, backends=lab.backends, marks=marks,
        logs={"pipettor": pipettor.log, "reader": reader.log}, deck_sheet=plan.deck_sheet(),
    )
