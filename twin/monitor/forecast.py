"""The twin's forecast of a plate: a per-well band of peak position and FWHM, and flags for wells that leave it.

The band comes straight from the closed-form chemistry model (no campaign is simulated): the plate map's nominal
recipes, evaluated at each well's measured ages, under ``seeds`` draws of the plate's well-to-well variability
(``LarpModel.sample_batch``), all in one vectorised call per seed. ``params`` is a ``chemistry.LarpParameters`` or a
JSON/YAML file of its fields (calibrated parameters); None means ``LarpParameters.calibrated()``.

A well is flagged when ``consecutive`` reads in a row fall outside its band (widened by the reader's noise
tolerance), or when it is dark where the twin expects light (or the reverse).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from twin.messages import UserError

FEATURES = ("peak_nm", "fwhm_nm")
TOLERANCE = {"peak_nm": 3.0, "fwhm_nm": 4.0}  #: nm added to each side of the band (fit and reader noise)
DARK_HEIGHT = 0.02  #: model PL height (reference well = 1) below which the twin expects a dark well


@dataclass
class Forecast:
    """Band per well and read: ``lo[f]``, ``hi[f]`` (well, read) for f in FEATURES; ``bright`` (well, read)."""

    wells: list
    lo: dict
    hi: dict
    bright: np.ndarray
    flags: list = field(default_factory=list)  #: event dicts, one per flagged well and feature


def load_params(params=None):
    """``LarpParameters`` from None (the built-in calibration), an instance, or a parameter file (``twin.params``)."""
    from chemistry import LarpParameters
    from twin.params import load_params as load_file

    if params is None:
        return LarpParameters.calibrated()
    if isinstance(params, LarpParameters):
        return params
    return load_file(params)


def _recipes(plate: pd.DataFrame, wells: list, temperature_C: float):
    from chemistry import WellRecipes

    p = plate.assign(well=plate["well"].astype(str)).set_index("well").loc[wells]
    num = lambda c: pd.to_numeric(p[c], errors="coerce").fillna(0.0).to_numpy(float)  # noqa: E731
    return WellRecipes.from_volumes(
        antisolvent=list(p["antisolvent"]), antisolvent_uL=num("antisolvent_uL"), cs_uL=num("cs_uL"),
        pbbr2_uL=num("pbbr2_uL"), acid=list(p["acid"]), acid_uL=num("acid_uL"), amine=list(p["amine"]),
        amine_uL=num("amine_uL"), temperature_C=temperature_C)


def forecast_band(plate: pd.DataFrame, wells: list, time_min: np.ndarray, *, params=None, seeds: int = 8,
                  temperature_C: float = 25.0, quantiles=(0.0, 1.0)) -> Forecast:
    """The band of ``FEATURES`` for ``wells`` (plate-map rows) at ages ``time_min`` (well, read; minutes)."""
    from chemistry import LarpModel

    model = LarpModel(load_params(params))
    recipes = _recipes(plate, wells, temperature_C)
    ages = np.where(np.isfinite(time_min), time_min, np.nan)
    draws = {f: [] for f in FEATURES}
    heights = []
    for seed in range(max(1, int(seeds))):
        batch = model.sample_batch(len(wells), np.random.default_rng(10_000 + seed))
        st = model.state(recipes, ages, batch=batch)
        draws["peak_nm"].append(st.peak_nm)
        draws["fwhm_nm"].append(st.fwhm_nm)
        heights.append(st.pl_height)
    lo, hi = {}, {}
    with np.errstate(all="ignore"):
        for f in FEATURES:
            stack = np.stack(draws[f])
            lo[f] = np.nanquantile(stack, quantiles[0], axis=0) - TOLERANCE[f]
            hi[f] = np.nanquantile(stack, quantiles[1], axis=0) + TOLERANCE[f]
        h = np.stack(heights)
        h = np.where(np.isfinite(h), h, 0.0)
        # expected to emit when most draws do: the model's occasional failed well (a few %) is one draw in many
        bright = np.median(h, axis=0) > DARK_HEIGHT
    return Forecast(list(wells), lo, hi, bright)


def flag_wells(fc: Forecast, observed: dict, read_end_s: np.ndarray, *, consecutive: int = 3,
               blanks=()) -> list[dict]:
    """Flag events for wells whose reads leave the band for more than ``consecutive`` - 1 reads in a row.

    ``observed``: feature -> (well, read) array (NaN: no usable fit, i.e. dark). Returns events in the
    ``events.jsonl`` shape: ``t_s, kind="forecast", action="flagged", well, feature, first_read, reads``.
    """
    flags = []
    blanks = set(blanks)
    for i, w in enumerate(fc.wells):
        if w in blanks:
            continue
        for f in FEATURES:
            obs = observed[f][i]
            lo, hi = fc.lo[f][i], fc.hi[f][i]
            bright = fc.bright[i]
            dark_obs = ~np.isfinite(obs)
            outside = np.where(bright, dark_obs | (obs < lo) | (obs > hi), ~dark_obs & np.isfinite(lo))
            run = 0
            for k, out in enumerate(outside):
                run = run + 1 if out else 0
                if run == consecutive:
                    first = k - consecutive + 1
                    why = ("dark where the twin expects light" if bright[first:k + 1].all() and dark_obs[first:k + 1].all()
                           else f"{f} outside the twin's band")
                    flags.append({"t_s": round(float(read_end_s[k]), 3), "kind": "forecast", "action": "flagged",
                                  "well": w, "feature": f, "first_read": int(first), "reads": int(consecutive),
                                  "detail": why})
                    break
    return flags


def forecast_view(view, *, params=None, seeds: int = 8, consecutive: int = 3) -> Forecast:
    """Band and flags for a ``twin.monitor.source.RunView``."""
    if view.plate.empty or not view.wells or view.time_min.size == 0:
        return Forecast(list(view.wells), {f: np.zeros((0, 0)) for f in FEATURES},
                        {f: np.zeros((0, 0)) for f in FEATURES}, np.zeros(0, bool))
    wells = [w for w in view.wells]
    known = set(view.plate["well"].astype(str))
    missing = [w for w in wells if w not in known]
    if missing:
        raise UserError(f"wells {missing[:5]} are read but not in the plate map")
    fc = forecast_band(view.plate, wells, view.time_min, params=params, seeds=seeds,
                       temperature_C=float(view.schedule.get("temperature_C", 25.0)))
    usable = np.isin(view.status.astype(str), ("ok", "saturated"))
    observed = {f: np.where(usable, getattr(view, f), np.nan) for f in FEATURES}
    fc.flags = flag_wells(fc, observed, view.read_end_s, consecutive=consecutive, blanks=view.blanks())
    return fc


def flags_for_result(result, *, params=None, seeds: int = 8, consecutive: int = 3) -> list[dict]:
    """Forecast flags of a finished ``CampaignResult`` (what ``larp-twin run`` appends to ``events.jsonl``)."""
    from twin.monitor.source import RunView

    ds = result.dataset
    feats = result.features()
    wells = [str(w) for w in ds["well"].values]
    nw, nr = ds["time_min"].shape
    v = RunView(name=result.name, wells=wells, plate=result.plate, time_min=ds["time_min"].values,
                read_end_s=(ds["read_start_min"].values * 60.0),
                peak_nm=feats["peak_nm"].to_numpy(float).reshape(nw, nr),
                fwhm_nm=feats["fwhm_nm"].to_numpy(float).reshape(nw, nr),
                height=feats["height"].to_numpy(float).reshape(nw, nr),
                status=feats["status"].to_numpy(object).reshape(nw, nr),
                schedule=result.manifest.get("schedule", {}))
    return forecast_view(v, params=params, seeds=seeds, consecutive=consecutive).flags
