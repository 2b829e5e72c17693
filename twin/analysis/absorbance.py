"""Absorbance-spectrum features: the band edge and the first excitonic peak (the nanocrystals' size indicator).

CsPbBr3 nanocrystals absorb above their band gap: OD rises steeply below the band-edge wavelength, with an excitonic
peak just blue of the edge that moves to shorter wavelengths as the crystals get smaller (quantum confinement).
For each spectrum:

- ``band_edge_nm``: the inflection of the absorption onset, i.e. where OD falls fastest with wavelength
  (the maximum of -dOD/dlambda, vertex of a parabola through the three points around it), searched in ``window_nm``
  (default 400-600 nm: the perovskite's onset, clear of the Cs4PbBr6 band near 314 nm); NaN when the drop is less
  than ``min_drop_od`` (a well without nanocrystals) or the steepest point is the window's first unsaturated one.
  Saturated points (OD over the reader's ceiling, NaN) are left out.
- ``exciton_nm``: the local OD maximum within 40 nm blue of the band edge (parabolic vertex); NaN if none, or if it
  is saturated.
- ``od_edge``: OD at the band edge (interpolated): how much perovskite absorbs there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ABS_FEATURE_COLUMNS = ["band_edge_nm", "exciton_nm", "od_edge"]


def _vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """x of the parabola's vertex through points i-1, i, i+1 (x[i] at the ends or when flat)."""
    if i <= 0 or i >= len(x) - 1:
        return float(x[i])
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    den = y0 - 2 * y1 + y2
    if den == 0 or not np.isfinite(den):
        return float(x[i])
    shift = 0.5 * (y0 - y2) / den
    return float(x[i] + np.clip(shift, -1, 1) * (x[i + 1] - x[i - 1]) / 2)


def band_edge(wavelength_nm, od, window_nm=(400.0, 600.0), min_drop_od: float = 0.02) -> dict:
    """``band_edge_nm``, ``exciton_nm``, ``od_edge`` of one absorbance spectrum (NaN where undefined)."""
    nan = {"band_edge_nm": np.nan, "exciton_nm": np.nan, "od_edge": np.nan}
    wl = np.asarray(wavelength_nm, float)
    y = np.asarray(od, float)
    inside = (wl >= window_nm[0]) & (wl <= window_nm[1])
    wl, y = wl[inside], y[inside]
    ok = np.isfinite(y)  # saturated points (OVRFLW, NaN) are left out; the onset lies on the red side of them
    if ok.sum() < 4:
        return nan
    wf, yf = wl[ok], y[ok]
    slope = -np.gradient(yf, wf)
    i = int(np.argmax(slope))
    if i == 0 or np.max(yf[: i + 1]) - np.min(yf[i:]) < min_drop_od:  # no onset inside the window
        return nan
    edge = _vertex(wf, slope, i)
    out = {"band_edge_nm": edge, "exciton_nm": np.nan, "od_edge": float(np.interp(edge, wf, yf))}
    with np.errstate(invalid="ignore"):  # a peak next to a saturated point is not located: NaN
        peaks = [j for j in range(1, len(wl) - 1)
                 if y[j] > y[j - 1] and y[j] >= y[j + 1] and edge - 40.0 <= wl[j] <= edge]
    if peaks:
        j = max(peaks, key=lambda j: wl[j])
        out["exciton_nm"] = _vertex(wl, y, j)
    return out


def absorbance_features(long: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """Per (well, read) of a long absorbance table (``well, read, time_min, wavelength_nm, od``): the band-edge
    features of every spectrum (reads of fewer than 4 wavelengths, endpoints, are left out)."""
    rows = []
    for (well, read), g in long.groupby(["well", "read"], sort=False, observed=True):
        if len(g) < 4:
            continue
        f = band_edge(g["wavelength_nm"].to_numpy(), g["od"].to_numpy(), **kwargs)
        rows.append({"well": well, "read": int(read), "time_min": float(g["time_min"].iloc[0]),
                     **{k: round(float(v), 4) for k, v in f.items()}})
    return pd.DataFrame(rows, columns=["well", "read", "time_min", *ABS_FEATURE_COLUMNS])
