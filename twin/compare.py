"""Twin against lab: the twin's run and the lab's measurements, same wells, same times -> residuals and a verdict.

``compare(run_dir, measured, out_dir)`` writes into ``out_dir``:

- ``comparison.csv``: one row per measured well and read: the measured and the twin's peak (nm), FWHM (nm) and
  height (RFU) at that well's time, and the residuals ``twin - measured`` (``log10_height_ratio`` =
  log10(twin / measured), both heights floored at ``HEIGHT_FLOOR_RFU``);
- ``summary.json``: peak and FWHM RMSE (nm), log10-height RMSE (decades), the share of wells whose 12 h intensity
  direction (last measured read against first) agrees, the same RMSEs per measured read, and the counts of wells
  compared and missing;
- ``comparison.png``: per well one panel per metric (peak, FWHM, height), the twin as a line (and its forecast
  band, if given), the lab's reads as small points.

Time alignment (explicit, both directions documented):

- The twin's ``features.csv`` has ``time_min`` = each well's age since its precursor injection at the middle of
  its scan. ``plate.csv`` has ``injected_at_min`` (campaign minutes of each well's injection) and ``manifest.json``
  has ``kinetic_start_s`` (campaign seconds at which the reader's kinetic schedule began). So a twin read's time in
  the kinetic run is ``run_min = injected_at_min + time_min - kinetic_start_s / 60``.
- Measured ``run_min`` (minutes since the reader's kinetic run started) is compared on that axis; measured
  ``time_min`` (age since injection) on the twin's own ``time_min`` axis.
- The twin's features are interpolated linearly to each measured time, per well (nearest read within half a read
  interval beyond the twin's first/last read; farther out the row counts as outside the twin's run).

Which rows count: peak and FWHM residuals only where the lab's well still emits (measured height >=
``min_height``, default 1000 RFU: the shared data's README says heights of a few hundred RFU or less are fits of
noise) and both fits are usable (twin status ``ok``/``saturated``; a measured ``status``, if present, likewise).
Heights count wherever both are known; a twin read with no peak (``no_peak``, dark) counts as height 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from twin.measured import read_measured

USABLE = ("ok", "saturated")
HEIGHT_FLOOR_RFU = 10.0  #: dark level of the reader (the paper's blank wells read 0-20 RFU); log residuals floor
MIN_HEIGHT_RFU = 1000.0


class CompareError(ValueError):
    """Inputs that cannot be compared (no common wells, a run directory without its files, an output in the way)."""


@dataclass
class Comparison:
    table: pd.DataFrame
    summary: dict
    out_dir: Path


def load_run(run_dir) -> tuple[pd.DataFrame, pd.DataFrame, dict, Path]:
    """features, plate and manifest of a ``larp-twin run`` directory (or a durable run's ``results``)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run}: no such directory")
    if not (run / "features.csv").is_file() and (run / "results" / "features.csv").is_file():
        run = run / "results"
    for name in ("features.csv", "plate.csv", "manifest.json"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run} holds no {name}: pass a `larp-twin run` output directory")
    from twin.messages import reading

    with reading(run / "features.csv", "larp-twin features table"):
        features = pd.read_csv(run / "features.csv")
    with reading(run / "plate.csv", "larp-twin plate table"):
        plate = pd.read_csv(run / "plate.csv")
    with reading(run / "manifest.json", "larp-twin manifest (JSON)"):
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    need = {"features.csv": (features, ["well", "read", "time_min", "peak_nm", "fwhm_nm", "height", "status"]),
            "plate.csv": (plate, ["well", "injected_at_min"])}
    for name, (table, cols) in need.items():
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise CompareError(f"{run / name}: missing column(s) {missing}")
    if "kinetic_start_s" not in manifest:
        raise CompareError(f"{run / 'manifest.json'}: no kinetic_start_s (when the reads started)")
    return features, plate, manifest, run


def twin_run_minutes(features: pd.DataFrame, plate: pd.DataFrame, manifest: dict) -> np.ndarray:
    """Each twin read's minutes since the kinetic run started: injected_at_min + time_min - kinetic_start_s/60."""
    inj = plate.set_index("well")["injected_at_min"].astype(float)
    first = float(np.nanmin(inj.to_numpy())) if np.isfinite(inj.to_numpy()).any() else 0.0
    inj = inj.fillna(first)  # never-injected wells (blanks) run on the plate's first injection, as features do
    return (features["well"].map(inj).to_numpy(float) + features["time_min"].to_numpy(float)
            - float(manifest["kinetic_start_s"]) / 60.0)


def _at(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear interpolation of y(x) at t; the edge value within half a step beyond the ends, NaN farther out."""
    if x.size == 0:
        return np.full(t.shape, np.nan)
    if x.size == 1:
        return np.where(np.abs(t - x[0]) <= 1e-9, y[0], np.nan)
    half = 0.5 * float(np.median(np.diff(x)))
    out = np.interp(t, x, y)
    out[(t < x[0] - half) | (t > x[-1] + half)] = np.nan
    return out


def compare(run_dir, measured, out_dir, *, every_min: float | None = None, min_height: float = MIN_HEIGHT_RFU,
            figure: bool = True, level: float = 0.9, draws: int = 100, uncertainty=None,
            band: pd.DataFrame | None = None) -> Comparison:
    """Compare a twin run with a lab's measurements (a path for ``twin.measured.read_measured`` or its table).

    Beside the RMSEs: the coverage of the twin's central ``level`` band (``twin.forecast``, ``draws`` Monte Carlo
    draws with the run's chemistry and ``uncertainty``) at the measured wells' own ages.
    ``band``: a forecast interval to shade in the figure (long ``well, run_min, metric, lo, hi``, e.g. ``larp-twin
    forecast``'s table); default: the coverage band at the measured points.
    """
    features, plate, manifest, run = load_run(run_dir)
    meas = measured if isinstance(measured, pd.DataFrame) else read_measured(measured, every_min=every_min)
    axis = meas.attrs.get("time_axis", "run_min" if "run_min" in meas.columns else "time_min")
    if axis not in meas.columns:
        raise CompareError(f"measured table has no {axis} column")
    twin = features.copy()
    twin["run_min"] = twin_run_minutes(twin, plate, manifest)
    usable = twin["status"].isin(USABLE).to_numpy()
    twin["peak_use"] = np.where(usable, twin["peak_nm"], np.nan)
    twin["fwhm_use"] = np.where(usable, twin["fwhm_nm"], np.nan)
    twin["height_use"] = np.where(usable, twin["height"], np.where(twin["status"] == "no_peak", 0.0, np.nan))

    twin_wells = set(twin["well"])
    meas_wells = list(dict.fromkeys(meas["well"]))
    common = [w for w in meas_wells if w in twin_wells]
    missing = [w for w in meas_wells if w not in twin_wells]
    if not common:
        raise CompareError(f"no well of the measured data ({', '.join(meas_wells[:6])}...) is in the twin run "
                           f"{run} ({', '.join(sorted(twin_wells)[:6])}...): run the twin on the lab's plate map")
    inj = plate.set_index("well")["injected_at_min"].astype(float)
    offset_min = inj - float(manifest["kinetic_start_s"]) / 60.0  # age = run_min - offset

    rows = []
    for well in common:
        m = meas[meas["well"] == well]
        tw = twin[twin["well"] == well].sort_values(axis)
        x = tw[axis].to_numpy(float)
        t = m[axis].to_numpy(float)
        block = pd.DataFrame({"well": well, "read": m["read"].to_numpy() if "read" in m else -1, axis: t})
        if axis == "run_min":
            block["age_min"] = t - offset_min.get(well, np.nan)
        else:
            block["run_min"] = t + offset_min.get(well, np.nan)
        for name, col in (("peak_nm", "peak_use"), ("fwhm_nm", "fwhm_use"), ("height", "height_use")):
            block[f"measured_{name}"] = m[name].to_numpy(float)
            block[f"twin_{name}"] = _at(t, x, tw[col].to_numpy(float))
        block["twin_covers"] = np.isfinite(_at(t, x, np.zeros(x.size)))
        block["measured_status"] = m["status"].to_numpy() if "status" in m else ""
        rows.append(block)
    table = pd.concat(rows, ignore_index=True)
    emitting = table["measured_height"].to_numpy(float) >= min_height
    if "status" in meas.columns:
        emitting &= table["measured_status"].isin(USABLE).to_numpy()
    table["lab_emitting"] = emitting
    table["peak_residual_nm"] = np.where(emitting, table["twin_peak_nm"] - table["measured_peak_nm"], np.nan)
    table["fwhm_residual_nm"] = np.where(emitting, table["twin_fwhm_nm"] - table["measured_fwhm_nm"], np.nan)
    with np.errstate(invalid="ignore"):
        table["log10_height_ratio"] = (np.log10(np.maximum(table["twin_height"], HEIGHT_FLOOR_RFU))
                                       - np.log10(np.maximum(table["measured_height"], HEIGHT_FLOOR_RFU)))
    coverage = _band_coverage(table, plate, manifest, level=level, draws=draws, uncertainty=uncertainty)
    table = table.round(4)

    summary = _summary(table, axis, meas, run, missing, twin_wells, min_height)
    summary["band_coverage"] = coverage
    from twin.analysis.figure_data import composition_labels

    labels = composition_labels(plate) if {"acid", "amine", "acid_uL", "amine_uL"} <= set(plate.columns) else None
    if band is None:
        band = _coverage_band(table)
    out = _write(table, summary, out_dir, twin if figure else None, axis, band=band, labels=labels)
    return Comparison(table, summary, out)


def _coverage_band(table: pd.DataFrame) -> pd.DataFrame:
    """The coverage band at the measured points as a long ``well, run_min, metric, lo, hi`` table (for the figure)."""
    parts = [pd.DataFrame({"well": table["well"], "run_min": table["run_min"], "metric": m,
                           "lo": table[f"band_lo_{m}"], "hi": table[f"band_hi_{m}"]})
             for m in ("peak_nm", "fwhm_nm", "height") if f"band_lo_{m}" in table]
    return pd.concat(parts, ignore_index=True) if parts else None


def _band_coverage(table: pd.DataFrame, plate: pd.DataFrame, manifest: dict, *, level: float, draws: int,
                   uncertainty=None) -> dict:
    """Add ``band_lo_<metric>``, ``band_hi_<metric>``, ``inside_<metric>`` to ``table``; the share of measured
    points inside the twin's central ``level`` band (peak/FWHM where the lab's well emits, heights everywhere)."""
    from twin.forecast import METRICS, Ensemble

    wells = list(dict.fromkeys(table["well"]))
    key = table["read"].astype(str) if (table["read"] >= 0).all() else table["run_min"].round(3).astype(str)
    cols = list(dict.fromkeys(key))
    ages = np.full((len(wells), len(cols)), np.nan)
    wi = table["well"].map({w: i for i, w in enumerate(wells)}).to_numpy()
    ci = key.map({c: j for j, c in enumerate(cols)}).to_numpy()
    ages[wi, ci] = table["age_min" if "age_min" in table else "time_min"].to_numpy(float)
    reads = [int(c) if c.lstrip("-").isdigit() else j for j, c in enumerate(cols)]
    params = (manifest.get("chemistry") or {}).get("parameters")
    schedule = manifest.get("schedule") or {}
    if isinstance(schedule, str):
        schedule = {}
    ens = Ensemble(plate, wells, params=params, uncertainty=uncertainty, draws=draws,
                   gain=int(schedule.get("gain", 100)), temperature_C=float(schedule.get("temperature_C", 25.0)))
    band = ens.band(ages, reads, level=level, every=1)
    out = {"level": level, "draws": draws}
    inside_all = []
    for m in METRICS:
        lo, hi = band.lo[m][wi, ci], band.hi[m][wi, ci]
        obs = table[f"measured_{m}"].to_numpy(float)
        use = np.isfinite(obs) & np.isfinite(lo) & np.isfinite(hi)
        if m != "height":
            use &= table["lab_emitting"].to_numpy(bool)
        inside = np.where(use, (obs >= lo) & (obs <= hi), np.nan)
        table[f"band_lo_{m}"], table[f"band_hi_{m}"], table[f"inside_{m}"] = lo, hi, inside
        n = int(use.sum())
        out[m] = round(float(np.nanmean(inside)), 4) if n else None
        out[f"{m}_points"] = n
        inside_all.append(inside[use])
    allv = np.concatenate(inside_all)
    out["all"] = round(float(allv.mean()), 4) if allv.size else None
    out["points"] = int(allv.size)
    return out


def _rmse(v) -> float | None:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return round(float(np.sqrt(np.mean(v ** 2))), 4) if v.size else None


def _direction(table: pd.DataFrame, axis: str) -> tuple[float | None, int, list[str]]:
    """Share of wells whose intensity moves the same way (up/down) from their first to last measured read."""
    agree, wells, disagree = 0, 0, []
    for well, g in table.groupby("well", sort=False):
        g = g.sort_values(axis)
        g = g[np.isfinite(g["measured_height"]) & np.isfinite(g["twin_height"])]
        if len(g) < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        lab = np.sign(np.log10(max(last["measured_height"], HEIGHT_FLOOR_RFU) / max(first["measured_height"],
                                                                                    HEIGHT_FLOOR_RFU)))
        tw = np.sign(np.log10(max(last["twin_height"], HEIGHT_FLOOR_RFU) / max(first["twin_height"],
                                                                             HEIGHT_FLOOR_RFU)))
        wells += 1
        if lab == tw:
            agree += 1
        else:
            disagree.append(str(well))
    return (round(agree / wells, 4) if wells else None), wells, disagree


def _summary(table, axis, meas, run, missing, twin_wells, min_height) -> dict:
    share, n_dir, disagree = _direction(table, axis)
    covered = table["twin_covers"].to_numpy(bool)
    per_read = []
    key = "read" if (table["read"] >= 0).all() else axis
    for value, g in table.groupby(key, sort=True):
        per_read.append({key: value.item() if hasattr(value, "item") else value,
                         f"{axis}_median": round(float(g[axis].median()), 3), "wells": len(g),
                         "emitting": int(g["lab_emitting"].sum()),
                         "peak_rmse_nm": _rmse(g["peak_residual_nm"]), "fwhm_rmse_nm": _rmse(g["fwhm_residual_nm"]),
                         "log10_height_rmse": _rmse(g["log10_height_ratio"])})
    return {
        "run_dir": str(run),
        "measured": meas.attrs.get("source", ""),
        "measured_format": meas.attrs.get("format", ""),
        "time_axis": axis,
        "time_source": meas.attrs.get("time_source", ""),
        "alignment": ("twin run_min = plate.csv injected_at_min + features.csv time_min - manifest kinetic_start_s/60"
                      if axis == "run_min" else "twin time_min (age since injection) against measured time_min"),
        "min_height_rfu": min_height,
        "wells_compared": int(table["well"].nunique()),
        "wells_missing_in_twin": missing,
        "twin_wells_not_measured": len(twin_wells - set(table["well"])),
        "rows_compared": int(covered.sum()),
        "rows_outside_twin_run": int((~covered).sum()),
        "rows_emitting": int(table["lab_emitting"].sum()),
        "peak_rmse_nm": _rmse(table["peak_residual_nm"]),
        "fwhm_rmse_nm": _rmse(table["fwhm_residual_nm"]),
        "log10_height_rmse": _rmse(table["log10_height_ratio"]),
        "intensity_direction_agreement": share,
        "intensity_direction_wells": n_dir,
        "intensity_direction_disagree": disagree,
        "per_read": per_read,
    }


def _write(table, summary, out_dir, twin, axis, band=None, labels=None) -> Path:
    """Write the three files into ``out_dir`` (the CLI hands a temp dir of ``twin.outdir.atomic_dir``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "comparison.csv", index=False, lineterminator="\n")
    files = ["comparison.csv", "summary.json"]
    if twin is not None:
        plot_comparison(table, twin, axis, out / "comparison.png", summary, band=band, labels=labels)
        files.append("comparison.png")
    (out / "summary.json").write_text(json.dumps({**summary, "files": files}, indent=2) + "\n")
    return out


#: comparison.png rows of each well's cell: (measured/twin column stem, twin column, y label, log scale)
COMPARISON_METRICS = (("peak_nm", "peak_use", "peak (nm)", False), ("fwhm_nm", "fwhm_use", "FWHM (nm)", False),
                      ("height", "height_use", "height (RFU)", True))


def _metric_limits(values, log: bool) -> tuple[float, float]:
    """Shared y limits of one metric across every well: the finite twin and lab values, with a margin."""
    v = np.concatenate([np.asarray(x, float).ravel() for x in values])
    v = v[np.isfinite(v)]
    if log:
        v = np.maximum(v, HEIGHT_FLOOR_RFU)
    if not v.size:
        return (HEIGHT_FLOOR_RFU, 1e5) if log else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if log:
        return lo / 2.0, hi * 2.0
    pad = max(0.06 * (hi - lo), 1.0)
    return lo - pad, hi + pad


def plot_comparison(table: pd.DataFrame, twin: pd.DataFrame, axis: str, path: Path, summary: dict,
                    band: pd.DataFrame | None = None, labels: dict | None = None) -> Path:
    """Per well a cell of three panels (peak, FWHM, height), one metric each: the twin as a line (with ``band``, the
    forecast's ``lo``-``hi`` interval shaded around it), the lab as small points on top.

    ``band``: long format ``well, run_min, metric, lo, hi`` (the forecast's ``forecast.csv``; drawn on a
    ``run_min`` axis only); ``labels``: well -> composition for the cell titles. A ``matplotlib.figure.Figure``
    outside pyplot: no backend is chosen, so importing this module leaves a notebook's plotting alone.
    """
    from matplotlib.figure import Figure

    wells = list(dict.fromkeys(table["well"]))
    ncol = min(5 if len(wells) <= 20 else 8, len(wells))
    nrow = int(np.ceil(len(wells) / ncol))
    k = len(COMPARISON_METRICS)
    fig = Figure(figsize=(3.1 * ncol + 0.4, (1.3 * k + 0.6) * nrow + 1.2))
    height = fig.get_figheight()
    outer = fig.add_gridspec(nrow, ncol, left=0.6 / fig.get_figwidth() + 0.02, right=0.99, top=1 - 0.95 / height,
                             bottom=0.45 / height, hspace=0.6 / (1.3 * k), wspace=0.32)
    axes = np.empty((k * nrow, ncol), dtype=object)
    first = None
    for r in range(nrow):
        for c in range(ncol):
            inner = outer[r, c].subgridspec(k, 1, hspace=0.1)
            for j in range(k):
                ax = fig.add_subplot(inner[j], sharex=first)
                first = first or ax
                axes[k * r + j, c] = ax
                if j < k - 1:
                    ax.tick_params(labelbottom=False)
    xlabel = "h since the kinetic run started" if axis == "run_min" else "h since injection"
    use_band = band is not None and axis == "run_min" and len(band) > 0
    # shared y limits per metric, from what is drawn as meaningful: twin reads that emit, lab reads that emit
    min_height = summary.get("min_height_rfu", MIN_HEIGHT_RFU)
    bright = twin["height_use"].to_numpy(float) >= min_height
    lab_on = table["lab_emitting"].to_numpy(bool)
    limits = [_metric_limits([twin[col].where(bright) if not log else twin[col],
                              table[f"measured_{stem}"].where(lab_on) if not log else table[f"measured_{stem}"]], log)
              for stem, col, _, log in COMPARISON_METRICS]
    for n in range(nrow * ncol):
        r, c = divmod(n, ncol)
        cell = axes[k * r : k * r + k, c]
        if n >= len(wells):
            for ax in cell:
                ax.set_visible(False)
            continue
        well = wells[n]
        tw = twin[twin["well"] == well].sort_values(axis)
        m = table[table["well"] == well]
        hours = tw[axis].to_numpy(float) / 60.0
        for j, (ax, (stem, col, ylabel, log)) in enumerate(zip(cell, COMPARISON_METRICS)):
            y_twin = tw[col].to_numpy(float)
            y_lab = m[f"measured_{stem}"].to_numpy(float)
            if log:
                y_twin, y_lab = np.maximum(y_twin, HEIGHT_FLOOR_RFU), np.maximum(y_lab, HEIGHT_FLOOR_RFU)
                ax.set_yscale("log")
            else:  # peak and FWHM only where the well still emits (below that: fits of noise), lab and twin alike
                y_lab = np.where(m["lab_emitting"].to_numpy(bool), y_lab, np.nan)
                y_twin = np.where(tw["height_use"].to_numpy(float) >= min_height, y_twin, np.nan)
            if use_band:
                b = band[(band["well"] == well) & (band["metric"] == stem)].sort_values("run_min")
                if len(b):
                    lo, hi = b["lo"].to_numpy(float), b["hi"].to_numpy(float)
                    if log:
                        lo, hi = np.maximum(lo, HEIGHT_FLOOR_RFU), np.maximum(hi, HEIGHT_FLOOR_RFU)
                    ax.fill_between(b["run_min"].to_numpy(float) / 60.0, lo, hi, color="tab:blue", alpha=0.2,
                                    lw=0, label="twin band")
            ax.plot(hours, y_twin, color="tab:blue", lw=1.3, label="twin", zorder=2)
            ax.plot(m[axis].to_numpy(float) / 60.0, y_lab, ls="none", marker="o", ms=3.2, color="k", zorder=3,
                    label="lab")
            ax.set_ylim(*limits[j])
            ax.tick_params(labelsize=6.5)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel(ylabel, fontsize=7.5)
            if j == 0:
                title = f"{labels[well]} \u00b7 {well}" if labels and well in labels else str(well)
                ax.set_title(title, fontsize=8.5)
    for c in range(ncol):  # x labels under the last well of each column
        last = max(range(c, len(wells), ncol), default=None)
        if last is not None:
            axes[k * (last // ncol) + k - 1, c].set_xlabel(xlabel, fontsize=8)

    def fmt(v, unit=""):
        return "n/a" if v is None else f"{v:.2f}{unit}"

    band_text = "line + shaded band: the twin (forecast interval)" if use_band else "line: the twin"
    fig.suptitle(f"twin vs lab: peak RMSE {fmt(summary['peak_rmse_nm'], ' nm')}, FWHM RMSE "
                 f"{fmt(summary['fwhm_rmse_nm'], ' nm')}, log10 height RMSE {fmt(summary['log10_height_rmse'])}, "
                 f"12 h direction agrees {fmt(summary['intensity_direction_agreement'])}\n"
                 f"{band_text}; points: the lab; peak and FWHM only where the well emits "
                 f"(height >= {min_height:g} RFU)",
                 fontsize=9,
                 y=1 - 0.12 / height, va="top")
    fig.savefig(path, dpi=100)
    return path
