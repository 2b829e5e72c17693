"""A lab's own PL measurements as one long table: ``read_measured(path)``.

Accepted inputs (the format is recognised from the content):

1. **Long table** (CSV), one row per well and read: ``well, run_min, peak_nm, fwhm_nm, height`` and optionally
   ``read`` -- as ``scenarios/data/real/chloroform_1to30_measured.csv``. ``run_min`` counts minutes from the
   start of the reader's kinetic run (all wells share one clock; each well is older by the time since its
   injection, which such files do not record).
2. The same with ``time_min`` instead of ``run_min``: each well's age in minutes since its precursor injection (the
   twin's own ``features.csv`` axis).
3. A **Gen5 spectrum export** (TAB text or the lab's comma variant, ``Read N:EM Spectrum`` sections): every spectrum
   is fitted with the project's batched Gaussian fitter (``twin.analysis.fit_gaussians``, the same unweighted model
   as the lab's lmfit ``GaussianModel``) and the table gets a ``status`` column (``ok``, ``saturated``, ``no_peak``,
   ``did_not_converge``, ``no_data``, ``negative_counts``). Gen5 writes no per-read times into spectrum exports, so
   ``run_min`` comes from, in this order: a ``Start Kinetic ... Interval h:mm:ss`` line of the export's Procedure
   Details; ``every_min`` if given; else the reader twin's scan time for the export's wells and wavelengths, read
   back to back (``instruments.sim.reader.ReaderTiming``: 40 wells x 126 wavelengths = 7.0 min, as the lab ran).
   Read ``k`` (0-based) is placed at the middle of its scan, ``k * interval + scan / 2``, the twin's convention.
   ``attrs["time_source"]`` says which applied. (The lab's notebook labels read N with N x 7 min, the end of that
   read; the shared long table keeps that label.)

The result has columns ``well, read, <run_min|time_min>, peak_nm, fwhm_nm, height`` (+ ``status``), sorted by well
and time; ``attrs``: ``source``, ``format`` (``long`` or ``gen5``), ``time_axis`` (``run_min`` or ``time_min``),
``time_source``. Errors (``MeasuredError``, a ValueError) name the file, the row (1-based data row and file line),
the column and the allowed values.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

TIME_AXES = ("run_min", "time_min")
VALUE_COLUMNS = ("peak_nm", "fwhm_nm", "height")
_WELL = re.compile(r"^([A-Pa-p])0*([1-9]|1\d|2[0-4])$")


class MeasuredError(ValueError):
    """A measurement file that cannot be used; the message names file, row, column and the allowed values."""


def read_measured(path, *, every_min: float | None = None) -> pd.DataFrame:
    """The lab's measurements in ``path`` as a long table (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"measured data {p}: no such file")
    head = p.read_bytes()[:4096]
    if b"Software Version" in head:
        return _from_gen5(p, every_min)
    return _from_long(p)


def _from_long(p: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise MeasuredError(f"{p}: not a CSV table ({str(exc).strip()}); expected columns well, run_min (or "
                            f"time_min), peak_nm, fwhm_nm, height [, read], or a Gen5 spectrum export") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    axes = [c for c in TIME_AXES if c in raw.columns]
    missing = [c for c in ("well", *VALUE_COLUMNS) if c not in raw.columns]
    if missing or len(axes) != 1:
        need = list(missing) + (["run_min or time_min"] if not axes else [])
        what = f"missing column(s) {need}" if need else "has both run_min and time_min; give one"
        raise MeasuredError(f"{p}: {what}; found {list(raw.columns)}; expected well, run_min (minutes since the "
                            f"kinetic run started) or time_min (minutes since each well's injection), peak_nm, "
                            f"fwhm_nm, height [, read]")
    axis = axes[0]
    if raw.empty:
        raise MeasuredError(f"{p}: no data rows")
    out = pd.DataFrame({"well": [_well(p, i, w) for i, w in enumerate(raw["well"])]})
    if "read" in raw.columns:
        out["read"] = _numbers(p, raw, "read", allow_empty=False, integer=True, minimum=0)
    else:
        out["read"] = -1
    out[axis] = _numbers(p, raw, axis, allow_empty=False, minimum=0.0)
    out["peak_nm"] = _numbers(p, raw, "peak_nm", allow_empty=True, minimum=0.0)
    out["fwhm_nm"] = _numbers(p, raw, "fwhm_nm", allow_empty=True, minimum=0.0)
    out["height"] = _numbers(p, raw, "height", allow_empty=True)
    if "status" in raw.columns:
        out["status"] = raw["status"].astype(str).str.strip()
    dup = out.duplicated(["well", axis], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise MeasuredError(f"{p} row {i + 1} (line {i + 2}): well {out['well'][i]} at {axis} "
                            f"{out[axis][i]:g} appears more than once; allowed: one row per well and read")
    if "read" in raw.columns:  # reads are numbered: per well, later reads must not be earlier
        back = out.sort_values(["well", "read"]).groupby("well")[axis].diff() < 0
        if back.any():
            i = int(back[back].index[0])
            raise MeasuredError(f"{p} row {i + 1} (line {i + 2}): well {out['well'][i]} read {out['read'][i]} at "
                                f"{axis} {out[axis][i]:g} comes before an earlier read; allowed: {axis} grows "
                                f"with read")
    return _finish(out, p, "long", axis, "the file's own column")


def _well(p: Path, i: int, text: str) -> str:
    m = _WELL.match(str(text).strip())
    if not m:
        raise MeasuredError(f"{p} row {i + 1} (line {i + 2}), column 'well': {text!r} is not a well name; allowed: "
                            f"a row letter A-P and a column 1-24, e.g. A1, B10")
    return f"{m.group(1).upper()}{int(m.group(2))}"


def _numbers(p: Path, raw: pd.DataFrame, col: str, *, allow_empty: bool, integer: bool = False,
             minimum: float | None = None) -> np.ndarray:
    text = raw[col].astype(str).str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(float)
    bad = (np.isnan(values) & ~((text == "") & allow_empty)) | np.isinf(values)
    if integer:
        bad |= np.isfinite(values) & (values != np.round(values))
    if minimum is not None:
        bad |= np.isfinite(values) & (values < minimum)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        allowed = "an integer" if integer else "a finite number"
        if minimum is not None:
            allowed += f" >= {minimum:g}"
        if allow_empty:
            allowed += " or an empty cell (no value)"
        raise MeasuredError(f"{p} row {i + 1} (line {i + 2}), column {col!r}: {text.iloc[i]!r}; allowed: {allowed}")
    return values.astype(int) if integer else values


def _from_gen5(p: Path, every_min: float | None) -> pd.DataFrame:
    from instruments.cytation import read_gen5_spectra
    from instruments.sim.reader import ReaderTiming
    from twin.analysis import fit_gaussians

    g = read_gen5_spectra(p, read_type=None)  # Gen5FormatError (a ValueError) names file, line and field
    fit = fit_gaussians(g.counts, g.wavelength_nm)  # (reads, wells); bad wells are flagged, not fatal
    n_reads, n_wells = g.counts.shape[:2]
    scan_min = ReaderTiming().scan_s(n_wells, len(g.wavelength_nm)) / 60.0
    interval_s = (g.procedure.get("kinetic") or {}).get("interval_s")
    if interval_s:
        interval = interval_s / 60.0
        h, rest = divmod(round(interval_s), 3600)
        source = f"the export's kinetic interval ({h}:{rest // 60:02d}:{rest % 60:02d})"
    elif every_min is not None:
        if not (np.isfinite(every_min) and every_min >= 0):
            raise MeasuredError(f"{p}: every_min={every_min!r}; allowed: minutes >= 0 (0 = back to back)")
        interval = max(float(every_min), scan_min)
        source = f"every_min={every_min:g} (reads no faster than the twin's {scan_min:.2f}-min scan)"
    else:
        interval = scan_min
        source = (f"no read times in the export: back-to-back reads of {scan_min:.2f} min (the reader twin's scan "
                  f"time for {n_wells} wells x {len(g.wavelength_nm)} wavelengths)")
    run_min = np.arange(n_reads) * interval + min(scan_min, interval) / 2.0
    out = pd.DataFrame({
        "well": np.tile(np.asarray(g.wells, dtype=object), n_reads),
        "read": np.repeat(np.arange(1, n_reads + 1), n_wells),  # Gen5's "Read N" numbering
        "run_min": np.repeat(np.round(run_min, 4), n_wells),
    })
    for name in VALUE_COLUMNS:
        out[name] = np.asarray(getattr(fit, name), float).ravel()
    out["status"] = np.asarray(fit.status).ravel()
    out["well"] = [_well(p, i, w) for i, w in enumerate(out["well"])]
    return _finish(out, p, "gen5", "run_min", source)


def _finish(out: pd.DataFrame, p: Path, fmt: str, axis: str, time_source: str) -> pd.DataFrame:
    order = {w: (ord(w[0]) - 65) * 100 + int(w[1:]) for w in out["well"].unique()}
    out = out.sort_values(["well", axis], key=lambda c: c.map(order) if c.name == "well" else c, kind="stable")
    out = out.reset_index(drop=True)
    out.attrs.update(source=str(p), format=fmt, time_axis=axis, time_source=time_source)
    return out
