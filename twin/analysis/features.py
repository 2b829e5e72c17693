"""Per-well summaries of PL feature trajectories: start and end values, drift, intensity retention, stability.

The paper reads its stability story off these numbers (acid-rich OAc:OLAm wells keep peak and intensity for 12 h,
OctAc:OctAm wells drift and fade, chloroform acid-rich wells decay while amine-rich ones brighten); this module turns a
features table (one row per well and read) into one row per well that says the same in columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from twin.analysis.errors import TableError

REQUIRED_COLUMNS = ["well", "time_min", "peak_nm", "fwhm_nm", "height", "status"]
KNOWN_STATUS = {"ok", "saturated", "no_peak", "low_signal", "did_not_converge", "no_data", "negative_counts"}
USABLE_STATUS = ("ok", "saturated")
STABILITY_LABELS = ("stable", "drifting", "decaying", "growing", "dark", "no_data")

SUMMARY_COLUMNS = [
    "well", "n_reads", "n_usable", "t0_min", "end_min",
    "peak_nm_t0", "peak_nm_end", "fwhm_nm_t0", "fwhm_nm_end", "height_t0", "height_end",
    "drift_nm_per_h", "fwhm_drift_nm_per_h", "intensity_retention", "time_to_half_intensity_min", "stability",
]


def validate_features(features: pd.DataFrame) -> pd.DataFrame:
    """Check a features table's columns and values; return it sorted by well and time. Raises TableError."""
    if not isinstance(features, pd.DataFrame):
        raise TableError(f"features: expected a pandas DataFrame, got {type(features).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise TableError(f"features: missing column(s) {missing}; required: {REQUIRED_COLUMNS}")
    time = pd.to_numeric(features["time_min"], errors="coerce")
    if time.isna().any():
        row = int(np.flatnonzero(time.isna().to_numpy())[0])
        raise TableError(f"features: column 'time_min' row {row} is {features['time_min'].iloc[row]!r}; "
                         "allowed: a finite number of minutes")
    status = features["status"].astype(str)
    unknown = sorted(set(status) - KNOWN_STATUS)
    if unknown:
        raise TableError(f"features: column 'status' holds {unknown}; allowed: {sorted(KNOWN_STATUS)}")
    out = features.assign(time_min=time.astype(float), status=status)
    return out.sort_values(["well", "time_min"], kind="stable").reset_index(drop=True)


def _slope_per_h(time_min: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope (per hour) over finite points; NaN with fewer than 3 points or no time span."""
    ok = np.isfinite(values)
    t, v = time_min[ok] / 60.0, values[ok]
    if t.size < 3 or np.ptp(t) <= 0:
        return float("nan")
    t = t - t.mean()
    return float(np.dot(t, v - v.mean()) / np.dot(t, t))


def _time_to_half(time_min: np.ndarray, intensity: np.ndarray, start: float) -> float:
    """First time (min since injection) intensity falls to half of ``start``, linearly interpolated; else NaN."""
    if not np.isfinite(start) or start <= 0:
        return float("nan")
    half = 0.5 * start
    below = np.flatnonzero(intensity <= half)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(time_min[0])
    t0, t1, y0, y1 = time_min[i - 1], time_min[i], intensity[i - 1], intensity[i]
    return float(t0 + (y0 - half) / (y0 - y1) * (t1 - t0)) if y0 != y1 else float(t1)


def _summarize_well(well, grp: pd.DataFrame, thresholds: dict) -> dict:
    """One well's summary row (see summarize_trajectories for the meaning of each column)."""
    t = grp["time_min"].to_numpy(float)
    status = grp["status"].to_numpy()
    usable = np.isin(status, USABLE_STATUS)
    peak = np.where(usable, grp["peak_nm"].to_numpy(float), np.nan)
    fwhm = np.where(usable, grp["fwhm_nm"].to_numpy(float), np.nan)
    # intensity: fitted height, 0 for a dark read, unknown for a failed fit
    intensity = np.where(usable, grp["height"].to_numpy(float), np.where(status == "no_peak", 0.0, np.nan))
    known = np.isfinite(intensity)
    row = {"well": well, "n_reads": int(t.size), "n_usable": int(usable.sum()), "t0_min": float(t[0]),
           "end_min": float(t[-1])}
    iu = np.flatnonzero(usable & np.isfinite(peak))
    row["peak_nm_t0"] = float(peak[iu[0]]) if iu.size else np.nan
    row["peak_nm_end"] = float(peak[iu[-1]]) if iu.size else np.nan
    row["fwhm_nm_t0"] = float(fwhm[iu[0]]) if iu.size else np.nan
    row["fwhm_nm_end"] = float(fwhm[iu[-1]]) if iu.size else np.nan
    ik = np.flatnonzero(known)
    h0 = float(intensity[ik[0]]) if ik.size else np.nan
    h1 = float(intensity[ik[-1]]) if ik.size else np.nan
    row["height_t0"], row["height_end"] = h0, h1
    row["drift_nm_per_h"] = _slope_per_h(t, peak)
    row["fwhm_drift_nm_per_h"] = _slope_per_h(t, fwhm)
    row["intensity_retention"] = h1 / h0 if (np.isfinite(h0) and h0 > 0) else np.nan
    row["time_to_half_intensity_min"] = _time_to_half(t[known], intensity[known], h0)
    row["stability"] = _label(row, thresholds)
    return row


def _label(row: dict, th: dict) -> str:
    """Stability label, first match wins: no_data, dark, decaying, growing, drifting, stable."""
    if not np.isfinite(row["height_t0"]):
        return "no_data"
    if row["n_usable"] == 0:
        return "dark"
    h0, h1, retention = row["height_t0"], row["height_end"], row["intensity_retention"]
    if (np.isfinite(retention) and retention < th["decay_retention"]) or (h0 > 0 and h1 == 0):
        return "decaying"
    if (np.isfinite(retention) and retention > th["growth_retention"]) or (h0 == 0 and h1 > 0):
        return "growing"
    drift = row["drift_nm_per_h"]
    if np.isfinite(drift) and abs(drift) > th["drift_nm_per_h"]:
        return "drifting"
    return "stable"


def summarize_trajectories(
    features: pd.DataFrame,
    *,
    drift_nm_per_h: float = 0.5,
    decay_retention: float = 0.5,
    growth_retention: float = 1.5,
) -> pd.DataFrame:
    """One row per well summarising its peak, FWHM and intensity over time.

    Parameters
    ----------
    features : one row per well and read with columns ``well, time_min, peak_nm, fwhm_nm, height, status``
        (``area``, ``r2``, ``read`` and others are ignored). Only ``ok``/``saturated`` rows give peak and FWHM;
        ``no_peak`` rows count as intensity 0 (dark), failed fits as unknown.
    drift_nm_per_h : |peak drift| above this labels a well ``drifting``.
    decay_retention, growth_retention : final/initial intensity below / above these labels ``decaying`` / ``growing``.

    Returns
    -------
    DataFrame with columns SUMMARY_COLUMNS: ``t0_min``/``end_min`` are the first and last read times (min since
    injection); ``*_t0``/``*_end`` are the first and last usable values; ``drift_nm_per_h`` is the least-squares slope
    of the peak position; ``intensity_retention`` = height_end / height_t0; ``time_to_half_intensity_min`` is when
    the intensity first falls to half of height_t0 (min since injection, interpolated; NaN if never); ``stability`` is
    one of STABILITY_LABELS (first match of no_data, dark, decaying, growing, drifting, stable).
    """
    table = validate_features(features)
    thresholds = {"drift_nm_per_h": drift_nm_per_h, "decay_retention": decay_retention,
                  "growth_retention": growth_retention}
    rows = [_summarize_well(well, grp, thresholds) for well, grp in table.groupby("well", sort=False)]
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    order = {w: i for i, w in enumerate(pd.unique(features["well"]))}
    return out.sort_values("well", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
