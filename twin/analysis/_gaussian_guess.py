"""Starting values for batched Gaussian fits: per-spectrum noise level and a weighted log-parabola guess.

Internal to :mod:`twin.analysis.fitting`; plain float arrays of shape (n_spectra, n_wavelengths), with a 0/1 weight
array marking the points that take part in the fit. A good start is what lets the Levenberg-Marquardt loop finish most
spectra in two or three iterations.
"""
from __future__ import annotations

import numpy as np

SQRT_2PI = float(np.sqrt(2.0 * np.pi))
_MAD_TO_SIGMA = 1.482602218505602


def robust_noise(counts: np.ndarray) -> np.ndarray:
    """Per-spectrum noise sigma from the median absolute second difference (ignores smooth peaks and baselines).

    A second difference of white noise has variance 6 sigma^2; the median keeps a peak covering less than half the
    grid from inflating the estimate. Returns NaN where fewer than one finite triple exists.
    """
    d2 = np.abs(counts[:, :-2] - 2.0 * counts[:, 1:-1] + counts[:, 2:])
    finite = np.isfinite(d2)
    noise = np.full(counts.shape[0], np.nan)
    full = finite.all(axis=1)
    if full.any():
        noise[full] = np.median(d2[full], axis=1)
    partial = ~full & finite.any(axis=1)
    if partial.any():
        noise[partial] = np.nanmedian(d2[partial], axis=1)
    return noise * (_MAD_TO_SIGMA / np.sqrt(6.0))


def quick_noise(counts: np.ndarray) -> np.ndarray:
    """Cheap per-spectrum noise sigma from the mean absolute second difference (finite counts only).

    Unbiased for white noise and inflated by a peak's curvature, so it errs high where a peak is present; used to
    spare the median-based :func:`robust_noise` for spectra that are obviously bright.
    """
    d2 = np.abs(counts[:, :-2] - 2.0 * counts[:, 1:-1] + counts[:, 2:])
    return d2.mean(axis=1) * (np.sqrt(0.5 * np.pi) / np.sqrt(6.0))


def smooth(counts: np.ndarray, weight: np.ndarray, half_width: int = 2) -> np.ndarray:
    """Moving average over 2 half_width + 1 points that skips masked points (weight 0).

    NaN within ``half_width`` of either end of the grid and where a window holds no unmasked point.
    """
    n, m = counts.shape
    width = 2 * half_width + 1
    out = np.full((n, m), np.nan)
    if m < width:
        return out
    masked = bool(np.any(weight == 0))
    csum = np.cumsum(counts * weight if masked else counts, axis=1)
    total = csum[:, width - 1 :].copy()
    total[:, 1:] -= csum[:, : m - width]
    if masked:
        wsum = np.cumsum(weight, axis=1)
        used = wsum[:, width - 1 :].copy()
        used[:, 1:] -= wsum[:, : m - width]
    else:
        used = float(width)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(total, used, out=out[:, half_width : m - half_width])
    return out


def initial_guess(wavelength_nm: np.ndarray, counts: np.ndarray, weight: np.ndarray, baseline: bool) -> np.ndarray:
    """Starting parameters from a weighted log-parabola through the upper half of each peak.

    ln(y - floor) is a parabola for a Gaussian; fitting it with weights y^2 (Caruana/Guo) gives height, center and
    sigma in one batched 3x3 solve. The floor (baseline level) and the selection of points (upper half of the peak,
    unmasked) come from a 5-point moving average, so a dim peak on a noisy dark baseline still gets a sensible width;
    the parabola itself uses the raw counts, so noise-free Gaussians are recovered exactly. Saturated (masked) tops
    leave the flanks to fit. Where that fails (no curvature, nonsense values) a moment guess takes over.
    """
    x = wavelength_nm
    span = x[-1] - x[0]
    step = float(np.min(np.diff(x)))
    smoothed = smooth(counts, weight)
    finite = np.isfinite(smoothed)
    floor = np.where(finite, smoothed, np.inf).min(axis=1)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    above_smooth = np.where(finite, smoothed - floor[:, None], 0.0)
    top = above_smooth.max(axis=1)
    x_top = x[above_smooth.argmax(axis=1)]
    above = counts - floor[:, None]

    # weighted log-parabola in a centred, scaled variable u = (x - x_top) / span, over the selected points only
    use = (above_smooth > 0.5 * top[:, None]) & (weight > 0) & (above > 0)
    rows, cols = np.nonzero(use)
    a = above[rows, cols]
    u = (x[cols] - x_top[rows]) / span
    wu = a * a
    log_a = np.log(a)
    n = counts.shape[0]
    s, t = [], []
    for p in range(5):
        s.append(np.bincount(rows, weights=wu, minlength=n))
        if p < 3:
            t.append(np.bincount(rows, weights=wu * log_a, minlength=n))
        if p < 4:
            wu = wu * u
    coef, det = _solve_sym3(s, t)
    good = (np.bincount(rows, minlength=n) >= 3) & (np.abs(det) > 1e-300)
    c0, c1, c2 = coef[:, 0], coef[:, 1], coef[:, 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sigma = span * np.sqrt(-0.5 / c2)
        center = x_top - span * c1 / (2.0 * c2)
        height = np.exp(c0 - c1**2 / (4.0 * c2))
    ok = (
        good
        & (c2 < 0)
        & np.isfinite(sigma)
        & np.isfinite(center)
        & np.isfinite(height)
        & (sigma > 0.25 * step)
        & (sigma < span)
        & (center > x[0] - 0.5 * span)
        & (center < x[-1] + 0.5 * span)
        & (height > 0)
        & (height < 20.0 * np.maximum(top, 1e-300))
    )
    # moment fallback: height = max, sigma from area / height
    area = np.sum(above_smooth, axis=1) * np.mean(np.diff(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_m = np.clip(area / (np.maximum(top, 1e-300) * SQRT_2PI), step, 0.25 * span)
    sigma = np.where(ok, sigma, sigma_m)
    center = np.where(ok, center, x_top)
    height = np.where(ok, height, np.maximum(top, 1e-12))

    if not baseline:
        return np.stack([height, center, sigma], axis=1)
    return np.stack([height, center, sigma, floor, np.zeros_like(floor)], axis=1)


def _solve_sym3(s: list[np.ndarray], t: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Solve the Hankel normal equations [[s0,s1,s2],[s1,s2,s3],[s2,s3,s4]] c = t by Cramer's rule, batched.

    Returns (coef (n, 3), determinant (n,)); rows with a zero determinant get zeros, to be rejected by the caller.
    """
    s0, s1, s2, s3, s4 = s
    t0, t1, t2 = t
    m00 = s2 * s4 - s3 * s3
    m01 = s1 * s4 - s2 * s3
    m02 = s1 * s3 - s2 * s2
    det = s0 * m00 - s1 * m01 + s2 * m02
    with np.errstate(divide="ignore", invalid="ignore"):
        c0 = (t0 * m00 - s1 * (t1 * s4 - s3 * t2) + s2 * (t1 * s3 - s2 * t2)) / det
        c1 = (s0 * (t1 * s4 - s3 * t2) - t0 * m01 + s2 * (s1 * t2 - t1 * s2)) / det
        c2 = (s0 * (s2 * t2 - t1 * s3) - s1 * (s1 * t2 - t1 * s2) + t0 * m02) / det
    coef = np.stack([c0, c1, c2], axis=1)
    coef[~np.isfinite(coef).all(axis=1)] = 0.0
    return coef, det
