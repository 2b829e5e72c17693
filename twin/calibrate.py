"""Calibrate the chemistry model to a lab's own measurements: ``larp-twin calibrate PLATE_MAP MEASURED --out P.json``.

What is fitted (``FIT_PARAMETERS``: 6 parameters, times and rates in log space; every other parameter stays at its
current value, and ``FIXED_NOTES`` says why the ones the data cannot determine are fixed): the collapse time, the LSW
ripening rate, the amine capping and the early size focusing in polar antisolvent, and where chloroform wells start
(size, defects). A weak prior (residual ``PRIOR_WEIGHT`` x change / bound width) pulls each toward its starting
value, and the paper's own numbers (the targets of ``scripts/calibrate_chemistry.py``) stay in the fit so that
toluene and C8 behaviour are not traded for these wells.

Uncertainty: the Laplace approximation at the optimum, cov = s^2 (J^T J)^-1 in the fitted space, written as
``P.uncertainty.json`` beside ``P.json`` (``chemistry.uncertainty``); the report says per parameter its value, sd,
posterior/prior width and whether the data determine it (or why it sits on a bound).

Injection times are not in such tables: the robot twin prepares the plate map (``twin.prep``) and the age of each
well at the start of the kinetic run is read off its injection time, plus the plate transfer and tray close.

Cross-validation: leave-wells-out folds (every ``N_FOLDS``-th well held out), and by condition: each acid-/amine-
majority block predicted by a fit of the other, the late read predicted by a fit of the first reads. Each is judged
on what it held out: t0 peak RMSE, late peak RMSE of the wells still emitting, share of wells whose intensity
direction (first read -> last read) is right. The report also forecasts the same wells at the other ligand:PbBr2
ratio (1:30 <-> 1:15). Writes ``P.json`` (``LarpParameters.model_dump_json()``), ``P.uncertainty.json`` and, beside
them, ``calibration_report.csv`` (per well and read: measured, fitted, cross-validated), ``calibration_report.png``
and ``calibration_report.txt``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from chemistry import LarpModel, LarpParameters, spectral_features
from chemistry.recipes import WellRecipes
from chemistry.uncertainty import ParameterUncertainty, uncertainty_path

ROOT = Path(__file__).resolve().parents[1]
GRID_NM = np.arange(400.0, 651.0, 1.0)
RFU_PER_UNIT = 40_000.0  # instruments.sim.reader.ReaderNoise.rfu_per_unit at gain 100
EMITTING_RFU = 1000.0  # a measured height below this is a collapsed well: its peak/FWHM are fits of noise
N_FOLDS = 5
PRIOR_WEIGHT = 0.3
#: fitted parameters: (lower bound, upper bound, fitted space). "log": the fit and its covariance work on ln(value)
#: (times, rates, equilibrium constants: positive, and their uncertainty is relative). Everything else is kept; the
#: ones issue 21 took out of this fit, and why, are in FIXED_NOTES.
FIT_PARAMETERS: dict[str, tuple[float, float, str]] = {
    "collapse_tau_min": (200.0, 900.0, "log"),
    "ripening_nm3_per_min": (0.05, 10.0, "log"),
    "amine_cap_polarity": (0.0, 1.0, "linear"),
    "size_polarity": (0.8, 2.5, "linear"),
    "defect_polarity": (0.0, 2.0, "linear"),
    "dispersion_early_polarity": (0.0, 0.6, "linear"),
}
#: parameters the 1:30 chloroform wells cannot determine, fixed to physically argued values (chemistry/parameters.py)
FIXED_NOTES: dict[str, str] = {
    "amine_bound_per_free_amine": "15: the CF capping saturates by the first free amine (lab B1, 1:1.1, as blue as "
                                  "B10); any value >~ 10 gives the same wells, so the data cannot pick one",
    "dispersion_early_free_amine": "0.03: the amine part of the early CF broadening; collinear with "
                                   "dispersion_early_polarity in one antisolvent",
    "trap_solvation_polarity": "10: the lab's CF acid-majority t0 heights are flat from 1:0.1 to 1:1.0, so the data "
                               "set only a lower bound (K >~ 10, a fit runs to any upper bound); fixed at that bound: "
                               "91 % of the trap-forming ligands solvated in chloroform, the driver kept on",
    "dispersion_focus_tau_min": "120: two reads (~0.5 h, ~10.8 h) cannot resolve the focusing time (posterior/prior "
                                "5.9 when fitted); only the amplitude is fitted",
    "le_chatelier": "2: one Le Chatelier factor for every disintegration (paper, Fig. 2 text); excess = 0 at 1:30",
    "batch_scatter_ligand_excess": "1: scatter x2 at 1:15 (paper: 1:30 'provided better reproducibility')",
    "desorption_polarity": "0: the delayed collapse carries the CF instability (A2 map: no exponential decay)",
}
#: why a fitted parameter may end on a bound (printed beside it in the report)
BOUND_NOTES: dict[str, str] = {
    "amine_cap_polarity": "upper bound 1 = the amine-majority CF t0 blue shift needs the full cap",
    "defect_polarity": "0 = chloroform dims nothing beyond its solvated traps (lab t0 heights like toluene's)",
}
SCALES = {"peak_nm": 1.5, "fwhm_nm": 2.5, "log_height": 0.2}


class CalibrationError(ValueError):
    """Bad input to the calibration (message names the file and the problem)."""


# ------------------------------------------------------------------ input (swap for twin.measured.read_measured)
def read_long_table(path) -> pd.DataFrame:
    """The lab's measurements as calibrate uses them: ``well, run_min | time_min, peak_nm, fwhm_nm, height``.

    Any format ``twin.measured.read_measured`` reads (a long table, or a Gen5 export it fits itself); rows without
    a height (a fit that failed) are left out.
    """
    from twin.measured import read_measured

    df = read_measured(path)
    time_col = "run_min" if "run_min" in df.columns else "time_min"
    out = df.loc[df["height"].notna(), ["well", time_col, "peak_nm", "fwhm_nm", "height"]].reset_index(drop=True)
    if out.empty:
        raise CalibrationError(f"{path}: no row has a height to fit")
    out.attrs["time_col"] = time_col
    return out


# ------------------------------------------------------------------ injection ages from the robot twin
def injection_lead_min(plate_map: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Minutes between each well's injection and the start of the kinetic run, from the robot twin's preparation."""
    from instruments.sim.reader import ReaderTiming
    from twin.config import LabConfig, Schedule
    from twin.lab import Lab
    from twin.prep import plan_deck, prepare_plate

    plan = plan_deck(plate_map, plate_map.attrs["plate_wells"])
    lab = Lab(LabConfig(), plan, seed=seed)
    done = {}

    def prep():
        yield from prepare_plate(lab.pipettor, plan, plate_map)
        done["t"] = lab.clock.now

    lab.clock.run_process(prep())
    timing = ReaderTiming()
    start_s = done["t"] + Schedule().plate_transfer_s + timing.tray_open_s + timing.tray_close_s
    inj = plan.plate.injected_at_s
    return pd.Series({w: (start_s - inj[plan.plate.index(w)]) / 60.0 for w in plate_map["well"]})


# ------------------------------------------------------------------ the problem
@dataclass
class Problem:
    """Measured rows with their recipes and ages (model rows = wells of the plate map)."""

    wells: list[str]
    recipes: WellRecipes
    rows: pd.DataFrame  # measured rows + column 'age_min' and 'w' (index into wells)

    def subset(self, keep: list[str]) -> "Problem":
        return Problem(self.wells, self.recipes, self.rows[self.rows.well.isin(keep)].reset_index(drop=True))


def build_problem(plate_map: pd.DataFrame, measured: pd.DataFrame, seed: int = 0) -> Problem:
    from instruments.sim.plate_recipes import recipes_from_plate  # noqa: F401  (same recipe path as the runner)

    wells = list(plate_map["well"])
    unknown = sorted(set(measured.well) - set(wells))
    if unknown:
        raise CalibrationError(f"measured wells not in the plate map: {', '.join(unknown[:8])}")
    recipes = WellRecipes.from_volumes(
        antisolvent=list(plate_map.antisolvent), antisolvent_uL=plate_map.antisolvent_uL.values.astype(float),
        cs_uL=plate_map.cs_uL.values.astype(float), pbbr2_uL=plate_map.pbbr2_uL.values.astype(float),
        acid=list(plate_map.acid), acid_uL=plate_map.acid_uL.values.astype(float), amine=list(plate_map.amine),
        amine_uL=plate_map.amine_uL.values.astype(float))
    rows = measured.copy()
    if measured.attrs.get("time_col") == "time_min":
        rows["age_min"] = rows["time_min"]
    else:
        lead = injection_lead_min(plate_map, seed)
        rows["age_min"] = rows["run_min"] + rows.well.map(lead)
    rows["w"] = rows.well.map({w: i for i, w in enumerate(wells)})
    return Problem(wells, recipes, rows.reset_index(drop=True))


def predict(params: LarpParameters, problem: Problem) -> pd.DataFrame:
    """Model peak, FWHM and height (RFU at gain 100) for every measured row."""
    rows = problem.rows
    ages = np.full((len(problem.wells), max(1, len(rows))), -1.0)
    ages[rows.w.values, np.arange(len(rows))] = rows.age_min.values
    model = LarpModel(params)
    feats = spectral_features(GRID_NM, model.spectra(problem.recipes, ages, GRID_NM))
    idx = (rows.w.values, np.arange(len(rows)))
    return pd.DataFrame({"model_peak_nm": feats.peak_nm[idx], "model_fwhm_nm": feats.fwhm_nm[idx],
                         "model_height": feats.height[idx] * RFU_PER_UNIT})


def residuals_data(params: LarpParameters, problem: Problem) -> np.ndarray:
    pred = predict(params, problem)
    m = problem.rows
    emit = m.height.values >= EMITTING_RFU
    mh = np.maximum(pred.model_height.values, 1.0)
    res = [np.where(emit, np.nan_to_num(pred.model_peak_nm.values - m.peak_nm.values, nan=30.0), 0.0)
           / SCALES["peak_nm"],
           np.where(emit, np.nan_to_num(pred.model_fwhm_nm.values - m.fwhm_nm.values, nan=30.0), 0.0)
           / SCALES["fwhm_nm"],
           np.where(emit, np.log(mh / m.height.values), np.maximum(np.log(mh / EMITTING_RFU), 0.0))
           / SCALES["log_height"]]
    return np.concatenate(res)


def _paper_evaluator(skip_cf_1to30: bool = True):
    """The paper's targets (``scripts/calibrate_chemistry.py``) as an evaluator, or None if the script is absent."""
    path = ROOT / "scripts" / "calibrate_chemistry.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_paper_targets", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    # the chloroform OAc:OLAm 1:30 targets are readings of Fig. 6, i.e. of the very wells of the shared measured
    # table (real_data README): the lab's own fits supersede them when those wells are calibrated on
    keep = [t for t in mod.TARGETS if not (skip_cf_1to30 and t.antisolvent == "chloroform" and t.ligands == "C18"
                                           and abs(t.acid_per_pbbr2 - 1 / 30) < 1e-9)]
    return mod.Evaluator(keep)


@dataclass
class FitResult:
    """The fitted parameter set and its Laplace posterior (fitted space, see ``FIT_PARAMETERS``)."""

    params: LarpParameters
    uncertainty: ParameterUncertainty
    prior_sd: np.ndarray  # width of the bounds as a uniform prior's sd, fitted space
    residual_variance: float  # weighted residual variance per degree of freedom (scales the covariance)
    n_residuals: int
    on_bound: list[str]

    def table(self) -> pd.DataFrame:
        """Per fitted parameter: value, its sd, the posterior/prior width ratio and whether the data determine it."""
        unc = self.uncertainty
        value = self.uncertainty.values
        ratio = unc.sd / self.prior_sd
        rows = []
        for i, k in enumerate(unc.names):
            sd_nat = value[k] * unc.sd[i] if unc.space[i] == "log" else unc.sd[i]
            verdict = ("on bound: " + BOUND_NOTES.get(k, "NOT justified")) if k in self.on_bound else (
                "determined" if ratio[i] < 0.5 else "weakly determined" if ratio[i] < 0.9 else "NOT determined")
            rows.append({"parameter": k, "value": value[k], "sd": sd_nat, "space": unc.space[i],
                         "posterior_over_prior": ratio[i], "verdict": verdict})
        return pd.DataFrame(rows)


def _to_fitted(names, values):
    return np.array([np.log(max(v, 1e-12)) if FIT_PARAMETERS[k][2] == "log" else v for k, v in zip(names, values)])


def _to_natural(names, x):
    return [float(np.exp(v)) if FIT_PARAMETERS[k][2] == "log" else float(v) for k, v in zip(names, x)]


def fit(problem: Problem, base: LarpParameters, paper=None, max_nfev: int = 200, *,
        with_uncertainty: bool = False):
    """Weighted least squares of the measured rows (+ the paper's targets + a weak prior) in the fitted space.

    Returns the parameters, or a :class:`FitResult` (with the Laplace covariance s^2 (J^T J)^-1 at the optimum) when
    ``with_uncertainty``.
    """
    names = list(FIT_PARAMETERS)
    space = [FIT_PARAMETERS[k][2] for k in names]
    lo_nat = np.array([FIT_PARAMETERS[k][0] for k in names])
    hi_nat = np.array([FIT_PARAMETERS[k][1] for k in names])
    lo, hi = _to_fitted(names, lo_nat), _to_fitted(names, hi_nat)
    x0 = np.clip(_to_fitted(names, [getattr(base, k) for k in names]), lo, hi)
    width = hi - lo
    n_data = 3 * len(problem.rows) + (len(paper.targets) if paper is not None else 0)

    def residuals(x):
        params = base.model_copy(update=dict(zip(names, _to_natural(names, x))))
        try:
            r = [residuals_data(params, problem)]
            if paper is not None:
                r.append(paper.residuals(params))
        except Exception:  # an infeasible corner: steer away
            r = [np.full(n_data, 10.0)]
        return np.concatenate(r + [PRIOR_WEIGHT * (x - x0) / width])

    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale=width, diff_step=1e-3, max_nfev=max_nfev)
    params = base.model_copy(update=dict(zip(names, _to_natural(names, sol.x))))
    if not with_uncertainty:
        return params
    jac = sol.jac
    m, k = jac.shape
    dof = max(m - k, 1)
    s2 = float(2.0 * sol.cost / dof)
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    on_bound = [n for n, x, a, b in zip(names, sol.x, lo, hi) if min(x - a, b - x) < 0.01 * (b - a)]
    unc = ParameterUncertainty(names=names, mean=sol.x, cov=cov, space=space, lower=lo_nat, upper=hi_nat,
                               source="larp-twin calibrate (Laplace: s^2 (J^T J)^-1 at the optimum, s^2 = "
                                      f"{s2:.3g}; {m} residuals)")
    return FitResult(params, unc, width / np.sqrt(12.0), s2, m, on_bound)


# ------------------------------------------------------------------ metrics and report
def metrics(rows: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """t0 and late peak RMSE, t0 and late FWHM RMSE (wells still emitting), intensity-direction agreement (first ->
    last read)."""
    t = rows.age_min.values
    df = rows.assign(**pred)
    first = df.loc[df.groupby("well").age_min.idxmin()].set_index("well")
    last = df.loc[df.groupby("well").age_min.idxmax()].set_index("well")
    late_emit = last[last.height >= EMITTING_RFU]
    first_emit = first[first.height >= EMITTING_RFU]
    rmse = lambda a, b: float(np.sqrt(np.nanmean((a - b) ** 2)))  # noqa: E731
    agree = np.sign(np.log(last.height / first.height)) == np.sign(np.log(np.maximum(last.model_height, 1e-9)
                                                                          / np.maximum(first.model_height, 1e-9)))
    return {"t0_peak_rmse_nm": rmse(first.model_peak_nm, first.peak_nm),
            "late_peak_rmse_nm": rmse(late_emit.model_peak_nm, late_emit.peak_nm),
            "t0_fwhm_rmse_nm": rmse(first_emit.model_fwhm_nm, first_emit.fwhm_nm),
            "late_fwhm_rmse_nm": rmse(late_emit.model_fwhm_nm, late_emit.fwhm_nm),
            "direction_agreement": float(agree.mean()), "n_wells": int(len(first)),
            "late_min": float(np.median(t[df.index.isin(df.groupby('well').age_min.idxmax())])) if len(t) else 0.0}


def cross_validate(problem: Problem, base: LarpParameters, paper=None, n_folds: int = N_FOLDS,
                   max_nfev: int = 200) -> pd.DataFrame:
    """Leave-wells-out: each fold fitted without its wells, predictions for the held-out wells only."""
    wells = sorted(set(problem.rows.well), key=problem.wells.index)
    parts = []
    for k in range(n_folds):
        held = wells[k::n_folds]
        if not held:
            continue
        params = fit(problem.subset([w for w in wells if w not in held]), base, paper, max_nfev)
        test = problem.subset(held)
        parts.append(pd.concat([test.rows, predict(params, test)], axis=1))
    return pd.concat(parts, ignore_index=True)


def condition_blocks(problem: Problem) -> dict[str, list[str]]:
    """The measured wells grouped by condition: acid-majority and amine-majority blocks (from their recipes)."""
    from chemistry.drivers import compute_drivers

    majority = compute_drivers(problem.recipes, LarpParameters()).amine_majority
    wells = sorted(set(problem.rows.well), key=problem.wells.index)
    blocks = {"acid-majority block": [w for w in wells if majority[problem.wells.index(w)] < 0.5],
              "amine-majority block": [w for w in wells if majority[problem.wells.index(w)] >= 0.5]}
    return {k: v for k, v in blocks.items() if v}


def cross_validate_by_condition(problem: Problem, base: LarpParameters, paper=None,
                                max_nfev: int = 200) -> dict[str, pd.DataFrame]:
    """Hold out whole conditions: each block fitted without the other's wells; the late reads from the early ones.

    Returns ``{"blocks": rows of every block predicted by a fit that never saw it, "late_from_early": every row
    predicted by a fit of the first read of each well only}``.
    """
    blocks = condition_blocks(problem)
    parts = []
    for name, held in blocks.items():
        rest = [w for ws in blocks.values() for w in ws if w not in held]
        if not rest:
            continue
        params = fit(problem.subset(rest), base, paper, max_nfev)
        test = problem.subset(held)
        parts.append(pd.concat([test.rows, predict(params, test)], axis=1).assign(fold=name))
    out = {"blocks": pd.concat(parts, ignore_index=True)} if parts else {}
    rows = problem.rows
    first = rows.groupby("well").age_min.transform("min") == rows.age_min
    if (~first).any():
        early = Problem(problem.wells, problem.recipes, rows[first].reset_index(drop=True))
        params = fit(early, base, paper, max_nfev)
        out["late_from_early"] = pd.concat([rows, predict(params, problem)], axis=1)
    return out


def by_condition_summary(cv: dict[str, pd.DataFrame]) -> dict:
    """Done-when figures: t0 from the held-out blocks; late and direction the worse of blocks and late-from-early."""
    cols = ["model_peak_nm", "model_fwhm_nm", "model_height"]
    m = {k: metrics(v.drop(columns=["w", "fold"], errors="ignore"), v[cols]) for k, v in cv.items()}
    out = {"folds": m}
    if "blocks" in m:
        late = [m[k]["late_peak_rmse_nm"] for k in m]
        out.update(t0_peak_rmse_nm=m["blocks"]["t0_peak_rmse_nm"], late_peak_rmse_nm=float(np.nanmax(late)),
                   direction_agreement=float(min(m[k]["direction_agreement"] for k in m)))
    return out


def discrepancy(rows: pd.DataFrame) -> dict[str, float]:
    """RMS error per feature of (held-out) predictions over the emitting reads: what the parameters do not carry."""
    emit = rows[(rows.height >= EMITTING_RFU) & (rows.model_height > 0)]
    rmse = lambda a, b: float(np.sqrt(np.nanmean((np.asarray(a) - np.asarray(b)) ** 2)))  # noqa: E731
    return {"peak_nm": rmse(emit.model_peak_nm, emit.peak_nm), "fwhm_nm": rmse(emit.model_fwhm_nm, emit.fwhm_nm),
            "log10_height": rmse(np.log10(emit.model_height), np.log10(emit.height))}




def other_ratio_forecast(params: LarpParameters, problem: Problem) -> pd.DataFrame:
    """The same wells at the other ligand:PbBr2 ratio (1:30 <-> 1:15: acid and amine x2 or /2), same ages.

    What the calibration implies for conditions it never saw (the lab's plate had both ratios); one row per well.
    """
    rec = problem.recipes
    ratio = np.round(rec.acid_umol / np.where(rec.pbbr2_umol > 0, rec.pbbr2_umol, 1.0), 9)
    from chemistry.drivers import REFERENCE_ACID_PER_PB

    factor = np.where(np.abs(ratio / REFERENCE_ACID_PER_PB - 1) < 0.05, 2.0, 0.5)
    other = WellRecipes(rec.antisolvent, rec.acid, rec.amine, rec.cs_umol, rec.pbbr2_umol, rec.acid_umol * factor,
                        rec.amine_umol * factor, rec.total_uL, rec.dmf_uL, rec.temperature_C)
    pred = predict(params, Problem(problem.wells, other, problem.rows))
    df = pd.concat([problem.rows[["well", "age_min"]], pred], axis=1)
    first = df.loc[df.groupby("well").age_min.idxmin()].set_index("well")
    last = df.loc[df.groupby("well").age_min.idxmax()].set_index("well")
    blocks = {w: b for b, ws in condition_blocks(problem).items() for w in ws}
    return pd.DataFrame({"block": [blocks[w] for w in first.index], "factor": factor[[problem.wells.index(w)
                                                                                       for w in first.index]],
                         "t0_peak_nm": first.model_peak_nm, "t0_fwhm_nm": first.model_fwhm_nm,
                         "t0_height": first.model_height, "late_peak_nm": last.model_peak_nm,
                         "late_height": last.model_height}, index=first.index)


def run_calibration(plate_map_path, measured_path, out_path, *, seed: int = 0, n_folds: int = N_FOLDS,
                    use_paper: bool = True, max_nfev: int = 200, base: LarpParameters | None = None,
                    by_condition: bool = True) -> dict:
    """The whole command: fit (+ uncertainty), cross-validate, write params JSON, its uncertainty and the report."""
    from twin.platemap import read_plate_map, validate_plate_map

    pm = read_plate_map(str(plate_map_path))
    pm = validate_plate_map(pm, pm.attrs["plate_wells"], source=str(plate_map_path))
    measured = read_long_table(measured_path)
    problem = build_problem(pm, measured, seed)
    if base is None:
        # start every fit (and every fold) from the hand-set defaults of the fitted subset, not from a stored fit of
        # these same wells: the cross-validation must not see its held-out wells through the starting point/prior
        defaults = LarpParameters()
        base = LarpParameters.calibrated().model_copy(update={k: getattr(defaults, k) for k in FIT_PARAMETERS})
    paper = _paper_evaluator() if use_paper else None
    result = fit(problem, base, paper, max_nfev, with_uncertainty=True)
    params = result.params
    fitted = pd.concat([problem.rows, predict(params, problem)], axis=1)
    cv = cross_validate(problem, base, paper, n_folds, max_nfev) if n_folds > 1 else None
    cond = cross_validate_by_condition(problem, base, paper, max_nfev) if by_condition else {}
    out_path = Path(out_path)
    from twin.outdir import atomic_file

    with atomic_file(out_path) as tmp:
        tmp.write_text(params.model_dump_json(indent=1))
    unc_path = uncertainty_path(out_path)
    summary = {"fitted": metrics(problem.rows, fitted[["model_peak_nm", "model_fwhm_nm", "model_height"]]),
               "params": {k: getattr(params, k) for k in FIT_PARAMETERS}, "parameter_table": result.table(),
               "residual_variance": result.residual_variance, "n_residuals": result.n_residuals}
    table = fitted.drop(columns=["w"])
    if cv is not None:
        cvm = cv.set_index(["well", "age_min"])[["model_peak_nm", "model_fwhm_nm", "model_height"]]
        cvm.columns = ["cv_" + c for c in cvm.columns]
        table = table.join(cvm, on=["well", "age_min"])
        summary["cross_validated"] = metrics(cv.drop(columns=["w"]),
                                             cv[["model_peak_nm", "model_fwhm_nm", "model_height"]])
    if cond:
        summary["by_condition"] = by_condition_summary(cond)
        if "blocks" in cond:
            bm = cond["blocks"].set_index(["well", "age_min"])[["model_peak_nm", "model_height"]]
            bm.columns = ["block_cv_" + c for c in bm.columns]
            table = table.join(bm, on=["well", "age_min"])
    summary["other_ratio"] = other_ratio_forecast(params, problem)
    held = cv if cv is not None else fitted
    result.uncertainty.discrepancy.update(discrepancy(held))
    with atomic_file(unc_path) as tmp:
        result.uncertainty.to_json(tmp)
    summary["discrepancy"] = dict(result.uncertainty.discrepancy)
    table["peak_resid_nm"] = table.model_peak_nm - table.peak_nm
    table["log_height_resid"] = np.log(np.maximum(table.model_height, 1.0) / table.height)
    report_dir = out_path.parent
    table.to_csv(report_dir / "calibration_report.csv", index=False, float_format="%.4g")
    text = report_text(summary, params)
    (report_dir / "calibration_report.txt").write_text(text)
    _figure(table, report_dir / "calibration_report.png", summary["other_ratio"])
    summary["text"] = text
    summary["params_obj"] = params
    summary["uncertainty"] = result.uncertainty
    summary["files"] = [out_path, unc_path, report_dir / "calibration_report.csv",
                        report_dir / "calibration_report.txt", report_dir / "calibration_report.png"]
    return summary


def _metric_line(label: str, m: dict) -> str:
    return (f"{label}: t0 peak RMSE {m['t0_peak_rmse_nm']:.2f} nm (target <= 4); late "
            f"(~{m['late_min'] / 60:.1f} h) peak RMSE {m['late_peak_rmse_nm']:.2f} nm for wells still "
            f"emitting (target <= 5); intensity direction right for {100 * m['direction_agreement']:.0f} "
            f"% of {m['n_wells']} wells (target >= 90 %); FWHM RMSE {m['t0_fwhm_rmse_nm']:.2f} nm (t0), "
            f"{m['late_fwhm_rmse_nm']:.2f} nm (late, wells still emitting)")


def report_text(summary: dict, params: LarpParameters) -> str:
    tab = summary.get("parameter_table")
    lines = [f"fitted parameters ({len(summary['params'])}; others kept; uncertainty: Laplace, residual variance "
             f"{summary.get('residual_variance', float('nan')):.3g} over {summary.get('n_residuals', 0)} residuals; "
             "posterior/prior = posterior sd over the bounds' uniform sd):"]
    if tab is not None:
        for r in tab.itertuples():
            lines.append(f"  {r.parameter:26s} {r.value:10.4g} +- {r.sd:<9.3g} ({r.space:6s}) posterior/prior "
                         f"{r.posterior_over_prior:5.2f}  {r.verdict}")
    else:
        lines += [f"  {k:26s} {v:10.4g}" for k, v in summary["params"].items()]
    lines.append("fixed, not fitted (the data cannot determine them):")
    lines += [f"  {k:26s} {getattr(params, k):10.4g}  {note}" for k, note in FIXED_NOTES.items()]
    for key, label in (("fitted", "in-sample (all wells)"),
                       ("cross_validated", f"cross-validated ({N_FOLDS} folds of held-out wells)")):
        if key in summary:
            lines.append(_metric_line(label, summary[key]))
    if "by_condition" in summary:
        bc = summary["by_condition"]
        for k, m in bc["folds"].items():
            what = ("each block predicted by a fit of the other block" if k == "blocks" else
                    "late reads predicted by a fit of the first reads")
            lines.append(_metric_line(f"by condition, {what}", m))
        if "t0_peak_rmse_nm" in bc:
            ok = lambda v, lim, up=False: "ok" if (v >= lim if up else v <= lim) else "MISSED"  # noqa: E731
            lines.append(f"done-when (by condition): t0 peak RMSE {bc['t0_peak_rmse_nm']:.2f} nm (<= 4: "
                         f"{ok(bc['t0_peak_rmse_nm'], 4)}), late {bc['late_peak_rmse_nm']:.2f} nm (<= 5: "
                         f"{ok(bc['late_peak_rmse_nm'], 5)}), direction {100 * bc['direction_agreement']:.0f} % "
                         f"(>= 90: {ok(bc['direction_agreement'], 0.9, True)})")
    if "discrepancy" in summary:
        d = summary["discrepancy"]
        lines.append(f"model discrepancy (held-out RMS error, emitting reads; in P.uncertainty.json for forecast "
                     f"bands): peak {d['peak_nm']:.2f} nm, FWHM {d['fwhm_nm']:.2f} nm, log10 height "
                     f"{d['log10_height']:.3f}")
    if "other_ratio" in summary:
        o = summary["other_ratio"]
        lines.append("forecast at the other ligand:PbBr2 ratio (acid and amine x%g), same ages, by block:"
                     % o.factor.iloc[0])
        for b, g in o.groupby("block", sort=False):
            lines.append(f"  {b:22s} t0 peak {g.t0_peak_nm.max():.1f}-{g.t0_peak_nm.min():.1f} nm, FWHM "
                         f"{g.t0_fwhm_nm.min():.1f}-{g.t0_fwhm_nm.max():.1f} nm; late peak "
                         f"{np.nanmin(g.late_peak_nm):.1f}-{np.nanmax(g.late_peak_nm):.1f} nm; height t0 "
                         f"{g.t0_height.median():.0f} -> late {g.late_height.median():.0f} RFU (median)")
    return "\n".join(lines) + "\n"


def _figure(table: pd.DataFrame, path: Path, other: pd.DataFrame | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wells = list(dict.fromkeys(table.well))
    x = np.arange(len(wells))
    fig, axes = plt.subplots(3, 1, figsize=(max(8, 0.5 * len(wells)), 9.5), sharex=True)
    for j, (t, g) in enumerate(table.groupby("age_min" if "run_min" not in table else "run_min")):
        g = g.set_index("well").reindex(wells)
        c = f"C{j}"
        axes[0].plot(x, g.peak_nm, "o", color=c, label=f"measured t={t:g} min")
        axes[0].plot(x, g.model_peak_nm, "-", color=c, label="fit")
        emitting = g.height >= EMITTING_RFU  # a collapsed well's width is a fit of noise
        axes[1].plot(x[emitting], g.fwhm_nm[emitting], "o", color=c)
        axes[1].plot(x, g.model_fwhm_nm, "-", color=c)
        axes[2].semilogy(x, g.height, "o", color=c)
        axes[2].semilogy(x, np.maximum(g.model_height, 1.0), "-", color=c)
        if "block_cv_model_peak_nm" in g:
            axes[0].plot(x, g.block_cv_model_peak_nm, "+", color=c, ms=9,
                         label="other block's fit" if j == 0 else None)
            axes[2].semilogy(x, np.maximum(g.block_cv_model_height, 1.0), "+", color=c, ms=9)
        if "cv_model_peak_nm" in g:
            axes[0].plot(x, g.cv_model_peak_nm, "x", color=c, label="cross-validated")
            axes[1].plot(x, g.cv_model_fwhm_nm, "x", color=c)
            axes[2].semilogy(x, np.maximum(g.cv_model_height, 1.0), "x", color=c)
    if other is not None:
        o = other.reindex(wells)
        lab = f"x{o.factor.iloc[0]:g} ligand per Pb (forecast)"
        axes[0].plot(x, o.t0_peak_nm, ":", color="C0", label=lab + ", t0")
        axes[0].plot(x, o.late_peak_nm, ":", color="C1", label=lab + ", late")
    axes[0].set_ylabel("peak (nm)")
    axes[0].set_ylim(470, 540)
    axes[1].set_ylabel("FWHM (nm, emitting wells)")
    axes[1].set_ylim(15, 55)
    axes[2].set_ylabel("height (RFU)")
    axes[2].set_xticks(x, wells, rotation=90)
    axes[0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_builtin(params: LarpParameters, source: str) -> Path:
    """Rewrite the CALIBRATED block of chemistry/parameters.py with every value that differs from the defaults."""
    target = ROOT / "chemistry" / "parameters.py"
    text = target.read_text()
    defaults = LarpParameters()
    values = {k: v for k, v in params.model_dump().items() if v != getattr(defaults, k)}
    lines = ["# BEGIN CALIBRATED (written by `larp-twin calibrate ... --write-builtin`; do not edit by hand)",
             f"# Paper targets (scripts/calibrate_chemistry.py) + {source}; re-run that command to reproduce.",
             "CALIBRATED: dict[str, float] = {"]
    lines += [f"    {k!r}: {v:.6g}," for k, v in values.items()]
    lines += ["}", "# END CALIBRATED"]
    new, n = re.subn(r"# BEGIN CALIBRATED.*?# END CALIBRATED", "\n".join(lines), text, flags=re.S)
    if n != 1:
        raise CalibrationError("chemistry/parameters.py: CALIBRATED markers not found exactly once")
    target.write_text(new)
    return target
