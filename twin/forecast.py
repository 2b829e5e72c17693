"""The twin's forecast band of a plate, and the flags of wells that leave it: one module for every user of the band.

``larp-twin forecast``, the monitor (``twin.monitor``), ``compare``'s coverage and the forecast flags of a run
(``twin.records.flags``) all call :class:`Ensemble`. The band is a Monte Carlo over the three things that make a
measured well differ from the twin's nominal one:

1. **parameter uncertainty**: ``draws`` parameter sets from ``chemistry.uncertainty`` (what ``calibrate`` knows);
2. **well-to-well scatter**: one ``LarpModel.sample_batch`` of the plate per draw (failed wells included);
3. **reader noise**: every draw's expected spectra become counts through the reader twin's own detector model
   (``instruments.sim.reader.detect_counts``), and are fitted by the same batched Gaussian fit as a run
   (``twin.analysis.fit_gaussians``), so a band of ``peak_nm``/``fwhm_nm``/``height`` is a band of what a run reports.

Per draw the chemistry is evaluated for every well x read x wavelength at once. ``Band`` holds, per well and read, the
central interval at ``level`` (peak and FWHM over the draws whose fit is usable; height over all draws, a dark draw
counting as 0 RFU) and the *flag band*: the interval of the working draws (a draw's failed wells left out: the
twin's model of a missed injection is what a flag should catch), widened from ``level`` to ``FLAG_LEVEL`` by the
normal tails (height in log10). A well is flagged after ``consecutive`` reads in a row outside its flag band.
Measured false alarms and detections: ``benchmarks/bench_flags.py`` (docs/monitor.md quotes them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

METRICS = ("peak_nm", "fwhm_nm", "height")
LEVEL = 0.9  #: the central interval ``larp-twin forecast`` writes and ``compare`` measures coverage of
FLAG_LEVEL = 0.9995  #: the flag band: a working well leaves it on ~0.05 % of reads per metric (normal tails)
CONSECUTIVE = 3  #: reads in a row outside the flag band before a well is flagged (reader noise is per read)
DRAWS = 48  #: Monte Carlo draws; the forecast command's default is larger (``FORECAST_DRAWS``)
FORECAST_DRAWS = 200
HEIGHT_FLOOR_RFU = 10.0  #: the reader's dark level: heights are banded in log10(max(height, floor))
MIN_USABLE = 0.25  #: peak/FWHM are banded only where at least this share of the draws gives a usable fit
USABLE = ("ok", "saturated")
NODE_EVERY = 3  #: the Monte Carlo runs at every 3rd read; the band is interpolated in age between


def load_params(params=None):
    """``LarpParameters`` from None (the built-in calibration), an instance, a dict of fields (a manifest's record)
    or a parameter file (``twin.params``)."""
    from chemistry import LarpParameters
    from twin.params import load_params as load_file

    if params is None:
        return LarpParameters.calibrated()
    if isinstance(params, LarpParameters):
        return params
    if isinstance(params, dict):
        return LarpParameters.model_validate({**LarpParameters.calibrated().model_dump(), **params})
    return load_file(params)


def load_uncertainty(uncertainty=None, params=None):
    """A ``chemistry.uncertainty.ParameterUncertainty``: an instance, a file, or None: the one ``calibrate`` wrote
    beside a ``params`` file (``P.uncertainty.json``), else the built-in calibration's."""
    from chemistry import uncertainty as unc

    if isinstance(uncertainty, unc.ParameterUncertainty):
        return uncertainty
    if uncertainty is not None:
        return unc.ParameterUncertainty.from_json(uncertainty)
    if isinstance(params, (str, bytes)) or hasattr(params, "__fspath__"):
        return unc.load_uncertainty(params)
    return unc.default_uncertainty()


VOLUMES = ("antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL")


def pipetting_scatter(plate: pd.DataFrame) -> dict:
    """Relative pipetting error per component, ``{column: (median, SD)}`` of ln(dispensed / nominal) over the wells,
    from a run's ``plate.csv`` (its ``dispensed_*`` columns); {} without them (a plate map, or a real robot, which
    logs what it was told: the lab's own pipetting is part of the calibrated well-to-well scatter).

    A dispense a fault skipped (nothing dispensed) is left out: the band is the plan's, and the flags judge the
    skipped well against it. The SD, not a robust width: small ligand transfers scatter more than large ones."""
    out = {}
    for col in VOLUMES:
        if f"dispensed_{col}" not in plate:
            continue
        nominal = pd.to_numeric(plate[col], errors="coerce").to_numpy(float)
        done = pd.to_numeric(plate[f"dispensed_{col}"], errors="coerce").to_numpy(float)
        ok = (nominal > 0) & (done > 0) & np.isfinite(nominal) & np.isfinite(done)
        if ok.sum() < 3:
            continue
        x = np.log(done[ok] / nominal[ok])
        out[col] = (float(np.median(x)), float(np.std(x)))
    return out


def plate_recipes(plate: pd.DataFrame, wells: list, temperature_C: float = 25.0, *, factors: dict | None = None):
    """``chemistry.WellRecipes`` of ``wells`` from plate-map rows, at their nominal volumes: the band is the plan's
    (the volumes a run's robot dispensed are what a flag must judge, not what the band may assume; the lab's
    pipetting scatter is part of the calibrated well-to-well scatter)."""
    from chemistry import WellRecipes

    p = plate.assign(well=plate["well"].astype(str)).set_index("well").loc[list(wells)]
    factors = factors or {}

    def num(c):
        v = pd.to_numeric(p[c], errors="coerce").fillna(0.0).to_numpy(float)
        return v * factors[c] if c in factors else v

    return WellRecipes.from_volumes(
        antisolvent=list(p["antisolvent"]), antisolvent_uL=num("antisolvent_uL"), cs_uL=num("cs_uL"),
        pbbr2_uL=num("pbbr2_uL"), acid=list(p["acid"]), acid_uL=num("acid_uL"), amine=list(p["amine"]),
        amine_uL=num("amine_uL"), temperature_C=temperature_C)


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2.0)


@dataclass
class Band:
    """The band of every well (rows, ``wells``) and read (columns); each dict maps a metric of ``METRICS`` to a
    (well, read) array (NaN: no band, e.g. peak where the twin expects the well dark)."""

    wells: list
    level: float
    lo: dict
    median: dict
    hi: dict
    flag_lo: dict
    flag_hi: dict
    p_usable: np.ndarray  #: share of the draws with a usable fit
    p_failed: np.ndarray  #: (well,) share of the draws in which the well failed
    draws: int
    flags: list = field(default_factory=list)  #: event dicts, filled by ``flag_wells``

    @property
    def n_reads(self) -> int:
        return int(self.p_usable.shape[1]) if self.p_usable.ndim == 2 else 0

    def inside(self, metric: str, observed: np.ndarray) -> np.ndarray:
        """True/False where ``observed`` (well, read) is inside the central band; NaN where either is missing."""
        lo, hi = self.lo[metric], self.hi[metric]
        obs = np.asarray(observed, float)
        ok = np.isfinite(obs) & np.isfinite(lo) & np.isfinite(hi)
        out = np.full(obs.shape, np.nan)
        out[ok] = ((obs[ok] >= lo[ok]) & (obs[ok] <= hi[ok])).astype(float)
        return out


class Ensemble:
    """``draws`` plates of the twin for ``wells`` of ``plate``: parameter draws, their models and plate batches.

    Built once per plate map (models are reused for every read); ``band(ages, reads)`` evaluates them at any ages.
    Random streams: parameters and batches from ``seed``; the reader noise of draw d at read r from ``(seed, d, r)``,
    so a read's band does not depend on which other reads are computed with it (the monitor adds one read at a time).
    """

    def __init__(self, plate: pd.DataFrame, wells: list, *, params=None, uncertainty=None, draws: int = DRAWS,
                 seed: int = 0, noise=None, gain: int = 100, wavelength_nm=None, temperature_C: float = 25.0,
                 scatter: bool = True, model_error: dict | None = None):
        from chemistry import LarpModel
        from instruments.sim.reader import ReaderNoise, failed_in_batch

        if int(draws) < 2:
            from twin.messages import UserError

            raise UserError(f"--draws {draws!r}: allowed: an integer >= 2 (Monte Carlo draws of the band)")
        self.wells = [str(w) for w in wells]
        self.draws = int(draws)
        self.seed = int(seed)
        self.noise = noise if noise is not None else ReaderNoise()
        self.gain = int(gain)
        self.wavelength_nm = (np.arange(400.0, 651.0, 2.0) if wavelength_nm is None
                              else np.asarray(wavelength_nm, float))
        scatter_uL = pipetting_scatter(plate)
        self.pipetting = scatter_uL
        base = load_params(params)
        rng = np.random.default_rng([self.seed, 0])
        unc = load_uncertainty(uncertainty, params)
        #: the model discrepancy (``ParameterUncertainty.discrepancy``: the calibrated model's cross-validated error
        #: on held-out lab wells), added per well and draw to the central band; ``model_error`` overrides it
        self.model_error = {m: float(v) for m, v in (unc.discrepancy if model_error is None else model_error).items()}
        param_draws = unc.sample(base, rng, self.draws)
        self.models = [LarpModel(p, well_scatter=scatter) for p in param_draws]
        # the twin robot's pipetting scatter, one draw per plate draw (none for a plate map or a real robot)
        self.recipes = []
        for d in range(self.draws):
            vrng = np.random.default_rng([self.seed, 3, d])
            factors = {c: np.exp(mu + sd * vrng.standard_normal(len(self.wells))) for c, (mu, sd) in
                       scatter_uL.items()}
            self.recipes.append(plate_recipes(plate, self.wells, temperature_C, factors=factors))
        # one plate of well scatter per draw, keyed by recipe (failed wells follow recipes, as in a run)
        self.batches = [m.sample_batch(len(self.wells), np.random.default_rng([self.seed, 1, d]), recipes=r)
                        for d, (m, r) in enumerate(zip(self.models, self.recipes))]
        self.failed = np.stack([failed_in_batch(b) for b in self.batches])  # (draw, well)
        self._cache: dict[int, tuple] = {}  # read number -> (ages column, features of every draw at it)

    def features(self, ages_min: np.ndarray, reads=None, progress=None) -> dict:
        """Fitted ``peak_nm``, ``fwhm_nm``, ``height`` and ``usable`` of every draw: (draw, well, read) arrays.

        ``ages_min``: (well, read) minutes since injection (NaN: not injected); ``reads``: each column's read number
        (the key of its reader-noise stream; default 0, 1, ...); ``progress(done, draws)``: called after each draw."""
        from instruments.sim.reader import detect_counts
        from twin.analysis.fitting import fit_gaussians

        ages = np.asarray(ages_min, float)
        nw, nr = ages.shape
        reads = np.arange(nr) if reads is None else np.asarray(reads, int)
        shape = (self.draws, nw, nr)
        out = {m: np.full(shape, np.nan) for m in METRICS}
        out["usable"] = np.zeros(shape, bool)
        if nw == 0 or nr == 0:
            return out
        # columns computed before at the same ages come from the cache (the monitor asks again at every new read)
        todo = []
        for j, r in enumerate(reads):
            hit = self._cache.get(int(r))
            if hit is not None and hit[0].shape == ages[:, j].shape and np.array_equal(hit[0], ages[:, j],
                                                                                       equal_nan=True):
                for name in out:
                    out[name][:, :, j] = hit[1][name]
            else:
                todo.append(j)
        if not todo:
            return out
        sub = ages[:, todo]
        wl = self.wavelength_nm
        for d, (model, batch, recipes) in enumerate(zip(self.models, self.batches, self.recipes)):
            expected = model.spectra(recipes, sub, wl, batch=batch)  # (well, read, wavelength)
            counts = np.empty(expected.shape)
            for jj, j in enumerate(todo):
                counts[:, jj] = detect_counts(expected[:, jj], self.gain, self.noise,
                                              np.random.default_rng([self.seed, 2, d, int(reads[j])]))
            fit = fit_gaussians(counts, wl, gain=self.gain, reader_noise=self.noise)
            usable = np.isin(fit.status, USABLE)
            out["usable"][d][:, todo] = usable
            out["peak_nm"][d][:, todo] = np.where(usable, fit.peak_nm, np.nan)
            out["fwhm_nm"][d][:, todo] = np.where(usable, fit.fwhm_nm, np.nan)
            out["height"][d][:, todo] = np.where(usable, fit.height, 0.0)
            if progress is not None:
                progress(d + 1, self.draws)
        for j in todo:
            self._cache[int(reads[j])] = (ages[:, j].copy(), {name: out[name][:, :, j].copy() for name in out})
        return out

    def band(self, ages_min: np.ndarray, reads=None, *, level: float = LEVEL, every: int = NODE_EVERY,
             progress=None) -> Band:
        """The band at ``ages_min`` (well, read): central interval at ``level`` and the flag band.

        The Monte Carlo runs at every ``every``-th read (read numbers 0, every, 2 every, ... and the last column);
        the band is interpolated linearly in each well's age between them: the band moves slowly against the
        read interval, and the fits are ~95 % of the cost."""
        check_level(level)
        ages = np.asarray(ages_min, float)
        nr = ages.shape[1] if ages.ndim == 2 else 0
        reads = np.arange(nr) if reads is None else np.asarray(reads, int)
        nodes = np.flatnonzero((reads % max(1, int(every)) == 0) | (np.arange(nr) == nr - 1))
        b = self._band_at(ages[:, nodes], reads[nodes], level, progress)
        if nodes.size == nr:
            return b
        for arrays in (b.lo, b.median, b.hi, b.flag_lo, b.flag_hi):
            for m in METRICS:
                arrays[m] = _interpolate(ages, nodes, arrays[m])
        b.p_usable = _interpolate(ages, nodes, b.p_usable)
        return b

    def _band_at(self, ages_min: np.ndarray, reads, level: float, progress=None) -> Band:
        f = self.features(ages_min, reads, progress)
        q = (0.5 - level / 2.0, 0.5, 0.5 + level / 2.0)
        usable = f["usable"]
        p_usable = usable.mean(axis=0)
        working = ~self.failed[:, :, None] & np.ones_like(usable)
        lo, med, hi, flo, fhi = {}, {}, {}, {}, {}
        widen = _z(FLAG_LEVEL) / _z(level)
        # the model discrepancy of every draw and well (persistent over reads: an error of the condition). It is a
        # held-out RMS error, so it already holds the lab's well scatter; the draws carry the twin's own, so only
        # the rest is added: sqrt(max(D^2 - SD_draws^2, 0)) per well and read
        disc = {}
        for k, m in enumerate(METRICS):
            e = np.random.default_rng([self.seed, 4, k]).standard_normal((self.draws, len(self.wells), 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                if m == "height":
                    d = self.model_error.get("log10_height", 0.0)
                    spread = np.nanstd(np.log10(np.maximum(np.where(usable, f[m], np.nan), HEIGHT_FLOOR_RFU)), axis=0)
                else:
                    d = self.model_error.get(m, 0.0)
                    spread = np.nanstd(f[m], axis=0)
            rest = np.sqrt(np.maximum(d ** 2 - np.nan_to_num(spread) ** 2, 0.0))
            disc[m] = 10.0 ** (e * rest) if m == "height" else e * rest
        with np.errstate(all="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no band there
                for m in METRICS:
                    x = f[m] + disc[m] if m != "height" else f[m] * disc[m]
                    qs = np.nanquantile(x, q, axis=0, method="weibull") if x.size else np.full((3,) + x.shape[1:], np.nan)
                    if m != "height":
                        qs[:, p_usable < MIN_USABLE] = np.nan
                    lo[m], med[m], hi[m] = qs
                    # the flag band: working draws only, in log10 for height
                    w = np.where(working, f[m], np.nan)
                    if m == "height":
                        w = np.log10(np.maximum(w, HEIGHT_FLOOR_RFU))
                    wq = np.nanquantile(w, q, axis=0, method="weibull") if w.size else np.full((3,) + w.shape[1:], np.nan)
                    if m != "height":
                        enough = (working & usable).sum(axis=0) >= np.maximum(2, MIN_USABLE * working.sum(axis=0))
                        wq[:, ~enough] = np.nan
                    flo[m] = wq[1] - widen * (wq[1] - wq[0])
                    fhi[m] = wq[1] + widen * (wq[2] - wq[1])
        return Band(self.wells, float(level), lo, med, hi, flo, fhi, p_usable, self.failed.mean(axis=0),
                    self.draws)


def _interpolate(ages: np.ndarray, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (well, node) at every column of ``ages`` (well, read), linear in each well's age."""
    out = np.full(ages.shape, np.nan)
    for i in range(ages.shape[0]):
        x, y = ages[i, nodes], values[i]
        ok = np.isfinite(x)
        if ok.sum() == 0:
            continue
        if ok.sum() == 1:
            out[i] = y[ok][0]
            continue
        out[i] = np.interp(ages[i], x[ok], y[ok])
    return out


def check_level(level: float) -> None:
    from twin.messages import UserError

    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise UserError(f"--level {level!r}: allowed: a share 0 < level < 1 (0.9 = the central 90 % interval)")


def flag_wells(band: Band, observed: dict, read_end_s: np.ndarray, *, consecutive: int = CONSECUTIVE,
               blanks=()) -> list[dict]:
    """Flag events for wells whose reads leave the flag band ``consecutive`` reads in a row.

    ``observed``: metric -> (well, read) array of the run's fits (NaN peak/FWHM and NaN or 0 height: no usable fit,
    i.e. dark). Returns events in the ``events.jsonl`` shape: ``t_s, kind="forecast", action="flagged", well,
    feature, first_read, reads, detail``; one per well and metric, at the read that completes the run of reads.
    """
    flags = []
    blanks = set(blanks)
    k_need = max(1, int(consecutive))
    for m in METRICS:
        obs = np.asarray(observed[m], float)
        lo, hi = band.flag_lo[m], band.flag_hi[m]
        if m == "height":
            dark = ~np.isfinite(obs) | (obs <= 0)
            val = np.log10(np.maximum(np.where(dark, 0.0, obs), HEIGHT_FLOOR_RFU))
            out = np.isfinite(lo) & ((val < lo) | (val > hi))
        else:
            dark = ~np.isfinite(obs)
            out = ~dark & np.isfinite(lo) & ((obs < lo) | (obs > hi))
        for i, w in enumerate(band.wells):
            if w in blanks:
                continue
            run = 0
            for k, o in enumerate(out[i]):
                run = run + 1 if o else 0
                if run == k_need:
                    first = k - k_need + 1
                    span = slice(first, k + 1)
                    if m == "height" and dark[i, span].all():
                        why = "dark where the twin expects light"
                    elif m == "height" and (val[i, span] > hi[i, span]).all():
                        why = "brighter than the twin's band"
                    elif m == "height":
                        why = "dimmer than the twin's band"
                    else:
                        why = f"{m} outside the twin's band"
                    flags.append({"t_s": round(float(read_end_s[k]), 3), "kind": "forecast", "action": "flagged",
                                  "well": w, "feature": m, "first_read": int(first), "reads": int(k_need),
                                  "detail": why})
                    break
    flags.sort(key=lambda e: (e["t_s"], e["well"], METRICS.index(e["feature"])))
    return flags


def flagged_wells(flags: list[dict]) -> list[str]:
    """The wells named by ``flags``, each once, in plate order of first appearance."""
    return list(dict.fromkeys(f["well"] for f in flags))


def observed_of(peak_nm, fwhm_nm, height, status) -> dict:
    """The run's fits as ``flag_wells`` takes them: features of unusable fits NaN."""
    usable = np.isin(np.asarray(status).astype(str), USABLE)
    return {"peak_nm": np.where(usable, peak_nm, np.nan), "fwhm_nm": np.where(usable, fwhm_nm, np.nan),
            "height": np.where(usable, height, np.nan)}


@dataclass
class PlateForecast:
    """What ``forecast_plate`` wrote: the long table, the band and the summary (``forecast.json``)."""

    table: pd.DataFrame
    band: Band
    summary: dict


def forecast_plate(campaign, out_dir, *, uncertainty=None, level: float = LEVEL, seed: int = 0,
                   draws: int = FORECAST_DRAWS, figure: bool = True) -> PlateForecast:
    """The band of every well and read of ``campaign`` (a ``twin.campaign.Campaign``), written into ``out_dir``.

    The reads' times come from the twin running the plan once (the robot's preparation sets each well's injection
    time, the reader's scan time the read times), nominal chemistry; the band is ``Ensemble.band`` at those ages.
    Writes ``forecast.csv`` (``well, run_min, metric, lo, median, hi``; ``run_min`` = minutes since the reader's
    kinetic run started, as in the lab's tables and ``compare``), ``forecast.json`` and ``forecast.png``.
    """
    import json
    import time
    from pathlib import Path

    from twin.campaign import run_campaign

    check_level(level)
    wall0 = time.perf_counter()
    plan = campaign.model_copy(update={"lab": campaign.lab.model_copy(update={"well_scatter": False})})
    result = run_campaign(plan, seed=seed, progress=False)
    c = result.cube
    plate = result.plate
    wells_all = [str(w) for w in c.wells]
    pb = plate.set_index("well").loc[wells_all, "pbbr2_uL"].astype(float).to_numpy()
    keep = np.flatnonzero(pb > 0)  # blanks have no band
    wells = [wells_all[i] for i in keep]
    ages = np.asarray(c.time_min, float)[keep]
    inj = plate.set_index("well").loc[wells, "injected_at_min"].astype(float).to_numpy()
    run_min = inj[:, None] + ages - float(result.manifest["kinetic_start_s"]) / 60.0
    unc = load_uncertainty(uncertainty)
    ens = Ensemble(plate, wells, params=campaign.lab.chemistry, uncertainty=unc, draws=draws, seed=seed,
                   noise=campaign.lab.reader_noise, gain=int(c.attrs.get("gain", 100)), wavelength_nm=c.wavelength_nm,
                   temperature_C=float(campaign.schedule.temperature_C))
    t_mc = time.perf_counter()
    band = ens.band(ages, level=level)
    mc_s = time.perf_counter() - t_mc
    nw, nr = ages.shape
    frames = []
    for m in METRICS:
        frames.append(pd.DataFrame({"well": np.repeat(wells, nr), "run_min": run_min.ravel(), "metric": m,
                                    "lo": band.lo[m].ravel(), "median": band.median[m].ravel(),
                                    "hi": band.hi[m].ravel()}))
    table = pd.concat(frames, ignore_index=True)
    table["_w"] = pd.Categorical(table["well"], categories=wells).codes
    table = table.sort_values(["_w", "run_min"], kind="stable").drop(columns="_w").reset_index(drop=True)
    table = table.round({"run_min": 3, "lo": 3, "median": 3, "hi": 3})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "forecast.csv", index=False, lineterminator="\n")
    from twin.params import params_record

    rec = params_record(campaign.lab.chemistry, campaign.lab.chemistry_source)
    summary = {
        "plate": campaign.name, "wells": nw, "reads": nr, "level": level, "draws": int(draws), "seed": int(seed),
        "metrics": list(METRICS), "time_axis": "run_min (minutes since the reader's kinetic run started)",
        "chemistry": {"source": rec["source"], "sha256": rec["sha256"]},
        "uncertainty": {"names": list(unc.names), "source": getattr(unc, "source", "")},
        "pipetting_scatter_ln": {k: [round(a, 5), round(b, 5)] for k, (a, b) in ens.pipetting.items()},
        "failed_well_share": round(float(band.p_failed.mean()), 4) if nw else 0.0,
        "kinetic_start_s": result.manifest["kinetic_start_s"], "monte_carlo_s": round(mc_s, 2),
        "files": ["forecast.csv", "forecast.json"] + (["forecast.png"] if figure else []),
    }
    if figure and nw:
        plot_forecast(table, out / "forecast.png", summary)
    summary["wall_s"] = round(time.perf_counter() - wall0, 2)
    (out / "forecast.json").write_text(json.dumps(summary, indent=2) + "\n")
    return PlateForecast(table, band, summary)


def plot_forecast(table: pd.DataFrame, path, summary: dict):
    """One panel per well: the central band of peak (blue, left axis) and height (orange, log, right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wells = list(dict.fromkeys(table["well"]))
    ncol = min(8, len(wells))
    nrow = int(np.ceil(len(wells) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.1 * nrow + 0.9), squeeze=False, sharex=True)
    for ax in axes.ravel()[len(wells):]:
        ax.set_visible(False)
    groups = {k: g for k, g in table.groupby(["well", "metric"], sort=False)}
    for ax, well in zip(axes.ravel(), wells):
        pk = groups.get((well, "peak_nm"))
        h_ = pk["run_min"] / 60.0
        ax.fill_between(h_, pk["lo"], pk["hi"], color="tab:blue", alpha=0.3, lw=0)
        ax.plot(h_, pk["median"], color="tab:blue", lw=1.0)
        ax.set_ylim(470, 540)
        ax.tick_params(labelsize=7)
        ax.set_title(well, fontsize=8, pad=2)
        ax2 = ax.twinx()
        ht = groups.get((well, "height"))
        ax2.fill_between(ht["run_min"] / 60.0, np.maximum(ht["lo"], HEIGHT_FLOOR_RFU),
                         np.maximum(ht["hi"], HEIGHT_FLOOR_RFU), color="tab:orange", alpha=0.25, lw=0)
        ax2.plot(ht["run_min"] / 60.0, np.maximum(ht["median"], HEIGHT_FLOOR_RFU), color="tab:orange", lw=1.0)
        ax2.set_yscale("log")
        ax2.set_ylim(HEIGHT_FLOOR_RFU / 2, 2e5)
        ax2.tick_params(labelsize=6, colors="tab:orange")
    for ax in axes[:, 0]:
        ax.set_ylabel("peak (nm)", color="tab:blue", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("h since the kinetic run started", fontsize=7)
    fig.suptitle(f"{summary['plate']}: the twin's central {summary['level']:.0%} band ({summary['draws']} draws: "
                 f"parameter uncertainty, well scatter, pipetting, reader noise)\nblue: peak (nm), orange: height "
                 f"(RFU, log); line: median", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
