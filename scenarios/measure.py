"""Measurements on a campaign's noisy end-to-end data: fitted PL features per well and read, grouped by series.

A :class:`PaperRun` holds one campaign's result and its fitted features; :meth:`PaperRun.series` gives one of the
paper's series (e.g. "toluene OAc:OLAm 1:30") as (ratio x read) matrices of peak, FWHM and height, the way the
paper's figures read them: "t = 0" is each well's first read, "12 h" the read nearest 720 min after injection.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.analysis.features import USABLE_STATUS


@dataclass
class Series:
    """One plate-map group's wells sorted by amine per acid; matrices shaped (n_wells, n_reads)."""

    label: str
    wells: list[str]
    ratios: np.ndarray
    time_min: np.ndarray
    peak_nm: np.ndarray  # NaN where the fit is not usable
    fwhm_nm: np.ndarray
    height: np.ndarray  # 0 where the well is dark (no peak, or one below the reader's noise: low_signal)

    def at(self, ratio: float) -> int:
        """Row of the well whose amine per acid is closest to ``ratio``."""
        return int(np.argmin(np.abs(self.ratios - ratio)))

    def rows(self, ratios) -> list[int]:
        return [self.at(r) for r in ratios]

    def read_at(self, minutes: float) -> np.ndarray:
        """Per well, the read index nearest ``minutes`` after injection."""
        return np.nanargmin(np.abs(self.time_min - minutes), axis=1)

    def value(self, name: str, minutes: float | None) -> np.ndarray:
        """Per well, ``name`` (peak_nm, fwhm_nm, height) at the first read (None) or nearest ``minutes``."""
        m = getattr(self, name)
        idx = np.zeros(len(self.wells), int) if minutes is None else self.read_at(minutes)
        return m[np.arange(len(self.wells)), idx]

    def t0(self, name: str) -> np.ndarray:
        return self.value(name, None)

    def t12(self, name: str) -> np.ndarray:
        return self.value(name, 720.0)


@dataclass
class PaperRun:
    """A scenario's campaign result with its fitted features (wells x reads) joined to the plate map."""

    name: str
    result: object
    features: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def plate(self) -> pd.DataFrame:
        return self.result.plate

    def series(self, group: str) -> Series:
        plate = self.plate[self.plate["group"] == group].sort_values("amine_per_acid", kind="stable")
        if plate.empty:
            raise KeyError(f"{self.name}: no wells in group {group!r}; groups: {sorted(self.plate['group'].unique())}")
        wells = list(plate["well"])
        f = self.features.set_index("well").loc[wells]
        n_reads = int(self.features["read"].max()) + 1
        shape = (len(wells), n_reads)
        usable = f["status"].isin(USABLE_STATUS).to_numpy()
        dark = f["status"].isin(("no_peak", "low_signal")).to_numpy()  # no peak above the reader's noise

        def matrix(values):
            return np.asarray(values, float).reshape(shape)

        return Series(
            label=group, wells=wells, ratios=plate["amine_per_acid"].to_numpy(float),
            time_min=matrix(f["time_min"]),
            peak_nm=matrix(np.where(usable, f["peak_nm"], np.nan)),
            fwhm_nm=matrix(np.where(usable, f["fwhm_nm"], np.nan)),
            height=matrix(np.where(usable, f["height"], np.where(dark, 0.0, np.nan))),
        )


def run_scenario(name: str, seed: int = 0, hours: float = 12.0, every_min: float | None = None,
                 **campaign) -> PaperRun:
    """Run a built-in scenario on the twin and fit every spectrum; reader-overrun warnings are kept, not raised.

    ``every_min`` None: the scenario's own cadence (the paper's 40-well plates: back to back, as the lab ran them).
    """
    from scenarios import build_campaign
    from twin.config import Schedule

    sched = Schedule(hours=hours) if every_min is None else Schedule(hours=hours, every_min=every_min)
    return run_built(build_campaign(name, schedule=sched, **campaign), seed)


def run_plate_map(plate_map: pd.DataFrame, name: str, plate_wells: int = 96, seed: int = 0, hours: float = 12.0,
                  every_min: float = 10.0) -> PaperRun:
    """Run an ad-hoc plate map (what-if studies) on the twin and fit every spectrum."""
    from twin.campaign import Campaign
    from twin.config import Schedule

    return run_built(Campaign(name=name, plate_map=plate_map, plate_wells=plate_wells,
                              schedule=Schedule(hours=hours, every_min=every_min)), seed)


def run_built(c, seed: int = 0) -> PaperRun:
    """Run a :class:`twin.campaign.Campaign` quietly and fit every spectrum."""
    from twin.campaign import run_campaign

    name = c.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_campaign(c, seed=seed, progress=False)
    return PaperRun(name, result, result.features(), [str(w.message) for w in caught])


def twin_state(run: PaperRun, minutes=(0.0, 720.0)):
    """The twin's hidden chemistry state (noise-free model, batch-neutral) of every well, from the volumes that
    actually reached it, at ``minutes`` after injection: a :class:`chemistry.LarpState` of arrays (n_wells, n_times).
    This is what XRD/TEM/TRPL would see; the plate reader cannot."""
    from chemistry import LarpModel, WellRecipes

    p = run.plate
    recipes = WellRecipes.from_volumes(
        antisolvent=list(p["antisolvent"]), antisolvent_uL=p["dispensed_antisolvent_uL"].to_numpy(float),
        cs_uL=p["dispensed_cs_uL"].to_numpy(float), pbbr2_uL=p["dispensed_pbbr2_uL"].to_numpy(float),
        acid=list(p["acid"]), acid_uL=p["dispensed_acid_uL"].to_numpy(float), amine=list(p["amine"]),
        amine_uL=p["dispensed_amine_uL"].to_numpy(float))
    ages = np.tile(np.asarray(minutes, float), (len(p), 1))
    return LarpModel().state(recipes, ages)
