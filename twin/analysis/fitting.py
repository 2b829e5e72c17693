"""Fit every PL spectrum of a stack to a Gaussian at once: peak position, FWHM, height, area, R^2 and a status.

The paper fits each spectrum with lmfit's GaussianModel in a Python loop; this does the same least-squares problem
(unweighted, so the answers agree with lmfit's) for any stack of spectra in a few batched numpy passes. Saturated
points (NaN, e.g. Gen5's ``OVRFLW``, or +inf) are left out of the fit rather than read as zero; dark or empty spectra
come back with status ``no_peak`` and NaN features instead of a meaningless Gaussian. Spectra with counts far below
zero (a wrong blank subtraction or a corrupt well in a real export) come back as ``negative_counts`` with NaN features;
the rest of the stack is fitted as usual.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace

import numpy as np

from twin.analysis._gaussian_guess import SQRT_2PI, initial_guess, quick_noise, robust_noise
from twin.analysis._gaussian_lm import Workspace, levenberg_marquardt, solve_small
from twin.analysis.errors import FitError

FWHM_PER_SIGMA = float(2.0 * np.sqrt(2.0 * np.log(2.0)))
MIN_FIT_POINTS = 5
#: iteration cap of the first pass; spectra that reach it are refitted together with the full cap
FIRST_PASS_ITER = 30
BLOCK = 1024  # spectra per batched pass: big enough to amortise numpy overhead, small enough to stay in cache


class FitStatus(enum.IntEnum):
    """Outcome of one spectrum's fit; ``GaussianFit.status`` holds the lower-case names as strings."""

    OK = 0  # converged, peak found, no masked points
    NO_PEAK = 1  # dark/empty or no Gaussian-like peak inside the grid: features are NaN
    SATURATED = 2  # converged on the unmasked points; some points were masked (NaN / OVRFLW)
    DID_NOT_CONVERGE = 3  # iteration limit reached: features are the last iterate, not to be trusted
    NO_DATA = 4  # fewer than MIN_FIT_POINTS finite points (missing well or all overflow): features are NaN
    NEGATIVE_COUNTS = 5  # counts below zero by more than 6 noise sigma (or -inf): bad blank/corrupt; features NaN
    LOW_SIGNAL = 6  # a peak, but below ``min_signal_snr`` x the reader's noise at its height: features NaN

    @property
    def label(self) -> str:
        return self.name.lower()


STATUS_NAMES = np.array([s.label for s in FitStatus])


@dataclass(frozen=True)
class GaussianFit:
    """Per-spectrum Gaussian features, every array of the stack's leading shape (...).

    Attributes
    ----------
    peak_nm : centre of the Gaussian (nm).
    fwhm_nm : full width at half maximum, 2 sqrt(2 ln 2) sigma (nm).
    height : Gaussian amplitude above the baseline (counts).
    area : integrated Gaussian, height * sigma * sqrt(2 pi) (counts nm); the baseline is not included.
    r2 : coefficient of determination over the fitted (unmasked) points.
    status : str array of ``ok``, ``no_peak``, ``saturated``, ``did_not_converge``, ``no_data``,
        ``negative_counts``, ``low_signal`` (see FitStatus).
    status_code : int8 array of the same outcomes as FitStatus values.
    peak_stderr_nm, fwhm_stderr_nm : standard errors as lmfit reports them (covariance scaled by reduced chi-square).
    baseline_offset : linear baseline at the peak (counts); 0 when fitted without a baseline.
    baseline_slope_per_nm : baseline slope (counts/nm); 0 when fitted without a baseline.
    n_iter : Levenberg-Marquardt iterations used.
    """

    peak_nm: np.ndarray
    fwhm_nm: np.ndarray
    height: np.ndarray
    area: np.ndarray
    r2: np.ndarray
    status: np.ndarray
    status_code: np.ndarray
    peak_stderr_nm: np.ndarray
    fwhm_stderr_nm: np.ndarray
    baseline_offset: np.ndarray
    baseline_slope_per_nm: np.ndarray
    n_iter: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """Leading shape of the fitted stack."""
        return self.peak_nm.shape

    @property
    def usable(self) -> np.ndarray:
        """True where the features can be used (status ok or saturated)."""
        return (self.status_code == FitStatus.OK) | (self.status_code == FitStatus.SATURATED)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Field name -> array, e.g. to build a features table after flattening."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _validate(spectra, wavelength_nm) -> tuple[np.ndarray, np.ndarray]:
    """Turn inputs into float arrays or raise FitError naming the field, value and allowed range."""
    try:
        grid = np.asarray(wavelength_nm, dtype=float)
    except (TypeError, ValueError) as exc:
        raise FitError(f"wavelength_nm: not numeric ({exc})") from exc
    if grid.ndim != 1:
        raise FitError(f"wavelength_nm: must be 1-D, got shape {grid.shape}")
    if grid.size < MIN_FIT_POINTS:
        raise FitError(f"wavelength_nm: need at least {MIN_FIT_POINTS} wavelengths, got {grid.size}")
    if not np.all(np.isfinite(grid)):
        raise FitError(f"wavelength_nm: holds non-finite values at indices {np.flatnonzero(~np.isfinite(grid))[:5]}")
    steps = np.diff(grid)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        raise FitError(
            f"wavelength_nm: must be strictly increasing; index {i + 1} is {grid[i + 1]} nm after {grid[i]} nm"
        )
    try:
        counts = np.asarray(spectra, dtype=float)
    except (TypeError, ValueError) as exc:
        raise FitError(f"spectra: not numeric ({exc})") from exc
    if counts.ndim == 0 or counts.shape[-1] != grid.size:
        raise FitError(
            f"spectra: last axis must match wavelength_nm ({grid.size} wavelengths), got shape {counts.shape}"
        )
    return counts, grid


def _negative(values: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """True for spectra with counts below zero by more than 6 noise sigma (+1 count): a wrong blank subtraction or
    corrupt data, flagged ``negative_counts`` rather than fitted. ``values``: the block's counts, masked points 0."""
    limit = -(6.0 * np.nan_to_num(noise, nan=0.0) + 1.0)
    return values.min(axis=1) < limit


def fit_gaussians(
    spectra,
    wavelength_nm,
    baseline: bool = False,
    *,
    min_snr: float = 5.0,
    max_fwhm_nm: float | None = None,
    max_iter: int = 200,
    gain: int = 100,
    reader_noise=None,
    min_signal_snr: float = 10.0,
) -> GaussianFit:
    """Fit a Gaussian (optionally + linear baseline) to every spectrum of a stack in one batched pass.

    Parameters
    ----------
    spectra : array (..., n_wavelengths) of counts; NaN and +inf mark saturated points, which are excluded.
    wavelength_nm : array (n_wavelengths,), strictly increasing (nm).
    baseline : also fit a linear baseline (the Gaussian's height and area are then above it).
    min_snr : a peak lower than ``min_snr`` times the spectrum's noise sigma counts as ``no_peak``.
    max_fwhm_nm : broader fits count as ``no_peak`` (default: half the grid span, e.g. 125 nm on 400-650 nm).
    max_iter : Levenberg-Marquardt iteration limit; spectra still moving are flagged ``did_not_converge``.
    gain, reader_noise : the reader's PMT gain and noise model (``instruments.sim.reader.ReaderNoise``; None: the
        Cytation twin's): the noise a reading of the fitted height carries, shot noise plus dark noise.
    min_signal_snr : a fitted peak lower than this many times that noise is ``low_signal`` (features NaN): its centre
        and width are set by noise and the dark offset, not by the crystals (10: ~250 RFU at gain 100).

    Returns
    -------
    GaussianFit with arrays of the leading shape (...). Raises FitError for an unusable grid, stack or option, and
    when no spectrum holds a finite point; a bad spectrum never stops the others' fits.

    Status
    ------
    ``no_data``: fewer than 5 finite points. ``no_peak``: the spectrum's range is within ``min_snr`` noise sigma
    (dark), or the fitted Gaussian is not a peak: height <= ``min_snr`` x noise or <= ``min_snr`` x its own standard
    error, centre outside the grid, FWHM above ``max_fwhm_nm`` or below one grid step. ``did_not_converge``: still
    moving after ``max_iter`` iterations. ``low_signal``: a peak whose height is below ``min_signal_snr`` times the
    reader's noise at that height. ``saturated``: converged with some points masked. ``negative_counts``:
    counts below zero by more than 6 noise sigma, or -inf (a wrong blank subtraction or a corrupt well). Else ``ok``.
    Features are NaN for ``no_peak``, ``no_data``, ``negative_counts`` and ``low_signal``; use ``GaussianFit.usable`` (ok or
    saturated) to select trustworthy fits.

    Notes
    -----
    The fit is unweighted least squares, like lmfit's default, so peak and FWHM agree with lmfit's GaussianModel to
    well within its standard errors. Without ``baseline`` a dark offset of the reader (~10 counts) is absorbed by
    the Gaussian, broadening dim peaks; pass ``baseline=True`` for dim wells.
    """
    counts, grid = _validate(spectra, wavelength_nm)
    if not (np.isfinite(min_snr) and min_snr >= 0):
        raise FitError(f"min_snr: {min_snr!r}; allowed: a finite number >= 0")
    if max_fwhm_nm is not None and not (np.isfinite(max_fwhm_nm) and max_fwhm_nm > 0):
        raise FitError(f"max_fwhm_nm: {max_fwhm_nm!r}; allowed: None or a finite width > 0 nm")
    if int(max_iter) < 1:
        raise FitError(f"max_iter: {max_iter!r}; allowed: an integer >= 1")
    leading = counts.shape[:-1]
    flat = counts.reshape(-1, grid.size)
    if flat.shape[0] and not np.isfinite(flat).any():
        raise FitError(f"spectra: all {flat.size} values are NaN/inf; nothing to fit")
    if not (np.isfinite(min_signal_snr) and min_signal_snr >= 0):
        raise FitError(f"min_signal_snr: {min_signal_snr!r}; allowed: a finite number >= 0")
    if reader_noise is None:
        from instruments.sim.reader import ReaderNoise

        reader_noise = ReaderNoise()
    settings = _Settings(
        gain=int(gain),
        noise=reader_noise,
        min_signal_snr=float(min_signal_snr),
        baseline=bool(baseline),
        min_snr=float(min_snr),
        max_fwhm_nm=0.5 * (grid[-1] - grid[0]) if max_fwhm_nm is None else float(max_fwhm_nm),
        max_iter=int(max_iter),
    )
    workspace = Workspace(min(BLOCK, flat.shape[0]), grid.size) if flat.shape[0] else None
    # Two passes: every block with a short iteration cap, then the few spectra that hit it (noise bumps of dark or
    # fading wells, mostly) pooled into one block with the full cap. Each spectrum's fit is independent of its block
    # mates, so the results equal one pass with the full cap (tested); pooling saves the per-iteration overhead that
    # the stragglers would otherwise cost every block (~20 % of the fit time on a 96-well campaign).
    first = replace(settings, max_iter=min(settings.max_iter, FIRST_PASS_ITER))
    feats = _fit_blocks(grid, flat, first, leading, workspace)
    if feats is None:
        return _assemble(_empty_features(0), leading)
    if settings.max_iter > first.max_iter:
        redo = np.flatnonzero(feats["n_iter"] >= first.max_iter)
        if redo.size:
            again = _fit_blocks(grid, flat[redo], settings, leading, workspace)
            for name in feats:
                feats[name][redo] = again[name]
    return _assemble(feats, leading)


def _fit_blocks(grid, flat, settings, leading, workspace) -> dict[str, np.ndarray] | None:
    """Fit ``flat`` (n, n_wavelengths) block by block; the flat features, or None when there are no spectra."""
    blocks = [
        _fit_block(grid, flat[i : i + BLOCK], settings, first_index=i, leading=leading, workspace=workspace)
        for i in range(0, flat.shape[0], BLOCK)
    ]
    if not blocks:
        return None
    return {name: np.concatenate([blk[name] for blk in blocks]) for name in blocks[0]}


@dataclass(frozen=True)
class _Settings:
    gain: int
    noise: object
    min_signal_snr: float
    baseline: bool
    min_snr: float
    max_fwhm_nm: float
    max_iter: int


def _fit_block(
    grid: np.ndarray,
    flat: np.ndarray,
    settings: _Settings,
    first_index: int,
    leading: tuple[int, ...],
    workspace: Workspace | None = None,
) -> dict[str, np.ndarray]:
    """Fit one block of spectra (n, n_wavelengths); blocks keep temporaries cache-sized. Returns flat features."""
    n = flat.shape[0]
    neg_inf = np.isneginf(flat).any(axis=1)
    if neg_inf.any():  # -inf is no saturation: the spectrum is flagged, its points masked so the maths stays finite
        flat = np.where(np.isneginf(flat), np.nan, flat)
    finite = np.isfinite(flat)
    masked = not finite.all()
    values = np.where(finite, flat, 0.0) if masked else flat
    lo = (np.where(finite, flat, np.inf) if masked else flat).min(axis=1)
    hi = (np.where(finite, flat, -np.inf) if masked else flat).max(axis=1)
    # noise: the cheap estimate where a spectrum is clearly bright and non-negative, the robust median elsewhere
    has_mask = ~finite.all(axis=1)
    noise = quick_noise(values)
    exact = has_mask | (lo < -1.0) | ((hi - lo) <= 2.0 * settings.min_snr * noise)
    if exact.any():
        rows = flat[exact]
        noise[exact] = robust_noise(np.where(np.isfinite(rows), rows, np.nan))
    negative = _negative(values, noise) | neg_inf
    noise = np.nan_to_num(noise, nan=0.0)
    span = grid[-1] - grid[0]
    step = float(np.min(np.diff(grid)))
    n_finite = finite.sum(axis=1)
    weight = finite.astype(float)

    status = np.full(n, FitStatus.OK, dtype=np.int8)
    status[n_finite < MIN_FIT_POINTS] = FitStatus.NO_DATA
    status[(status == FitStatus.OK) & negative] = FitStatus.NEGATIVE_COUNTS
    # pre-fit gate: the finite range must stand out of the noise, else the spectrum is dark
    dark = (hi - lo) <= np.maximum(settings.min_snr * noise, 1e-12 * np.maximum(np.abs(hi), 1.0))
    status[(status == FitStatus.OK) & dark] = FitStatus.NO_PEAK

    feats = _empty_features(n)
    todo = np.flatnonzero(status == FitStatus.OK)
    if todo.size:
        k = 5 if settings.baseline else 3
        every = todo.size == n
        y, w = (values, weight) if every else (values[todo], weight[todo])
        p0 = initial_guess(grid, y, w, settings.baseline)
        res = levenberg_marquardt(grid, y, w, p0, max_iter=settings.max_iter, workspace=workspace)
        p = res.params
        height, center, sigma = p[:, 0], p[:, 1], np.abs(p[:, 2])
        dof = np.maximum(n_finite[todo] - k, 1)
        variance = _inverse_diagonal(res.jtj) * (res.cost / dof)[:, None]
        stderr = np.sqrt(np.clip(variance, 0.0, None))
        dev = y - (y.sum(axis=1) / n_finite[todo])[:, None]
        if masked:
            dev *= w
        ss_tot = np.einsum("nm,nm->n", dev, dev)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - res.cost / ss_tot, np.nan)
        fwhm = FWHM_PER_SIGMA * sigma
        no_peak = (
            ~np.isfinite(height)
            | (height <= settings.min_snr * noise[todo])
            | (height <= settings.min_snr * stderr[:, 0])  # not significantly above zero: a fitted noise bump
            | (height <= 0)
            | (center < grid[0])
            | (center > grid[-1])
            | (fwhm > settings.max_fwhm_nm)
            | (fwhm < step)
        )
        st = np.where(res.converged, FitStatus.OK, FitStatus.DID_NOT_CONVERGE).astype(np.int8)
        st[(st == FitStatus.OK) & (n_finite[todo] < grid.size)] = FitStatus.SATURATED
        st[no_peak] = FitStatus.NO_PEAK
        from instruments.sim.reader import count_noise_sd

        reader_sd = count_noise_sd(np.abs(height) + settings.noise.dark_rfu, settings.gain, settings.noise)
        with np.errstate(invalid="ignore"):
            weak = ~no_peak & (height < settings.min_signal_snr * reader_sd)
        st[weak & ((st == FitStatus.OK) | (st == FitStatus.SATURATED))] = FitStatus.LOW_SIGNAL
        st[~np.isfinite(res.cost)] = FitStatus.DID_NOT_CONVERGE
        status[todo] = st
        if settings.baseline:
            slope = p[:, 4] / (0.5 * span)
            offset = p[:, 3] + slope * (center - 0.5 * (grid[0] + grid[-1]))
        else:
            slope = offset = np.zeros(todo.size)
        feats["peak_nm"][todo] = center
        feats["fwhm_nm"][todo] = fwhm
        feats["height"][todo] = height
        feats["area"][todo] = height * sigma * SQRT_2PI
        feats["r2"][todo] = r2
        feats["peak_stderr_nm"][todo] = stderr[:, 1]
        feats["fwhm_stderr_nm"][todo] = FWHM_PER_SIGMA * stderr[:, 2]
        feats["baseline_offset"][todo] = offset
        feats["baseline_slope_per_nm"][todo] = slope
        feats["n_iter"][todo] = res.n_iter

    blank = ((status == FitStatus.NO_PEAK) | (status == FitStatus.NO_DATA) | (status == FitStatus.NEGATIVE_COUNTS)
             | (status == FitStatus.LOW_SIGNAL))
    for name, arr in feats.items():
        if arr.dtype.kind == "f":
            arr[blank] = np.nan
    feats["status_code"] = status
    return feats


def _inverse_diagonal(jtj: np.ndarray) -> np.ndarray:
    """Diagonal of (J^T J)^-1, shape (n, k), for the parameter variances.

    Solved one unit vector at a time: numpy's batched ``inv`` of thousands of tiny matrices is slow when OpenBLAS
    runs multi-threaded, a batched solve with a vector right-hand side is not. A singular matrix anywhere in the
    batch falls back to the pseudo-inverse (singular 3 x 3 systems come back non-finite and give NaN errors).
    """
    n, k, _ = jtj.shape
    out = np.empty((n, k))
    try:
        for i in range(k):
            unit = np.zeros((n, k))
            unit[:, i] = 1.0
            out[:, i] = solve_small(jtj, unit)[:, i]
    except np.linalg.LinAlgError:
        out = np.einsum("nii->ni", np.linalg.pinv(jtj))
    return out


def _empty_features(n: int) -> dict[str, np.ndarray]:
    """NaN-filled feature arrays for n spectra."""
    names = (
        "peak_nm fwhm_nm height area r2 peak_stderr_nm fwhm_stderr_nm baseline_offset baseline_slope_per_nm"
    ).split()
    feats = {name: np.full(n, np.nan) for name in names}
    feats["n_iter"] = np.zeros(n, dtype=int)
    feats["status_code"] = np.full(n, FitStatus.NO_DATA, dtype=np.int8)
    return feats


def _assemble(feats: dict[str, np.ndarray], leading: tuple[int, ...]) -> GaussianFit:
    """Reshape flat per-spectrum arrays back to the leading shape and attach status names."""
    shaped = {name: arr.reshape(leading) for name, arr in feats.items()}
    shaped["status"] = STATUS_NAMES[shaped["status_code"]]
    return GaussianFit(**shaped)
