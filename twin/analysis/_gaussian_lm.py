"""Batched Gaussian least squares: initial guesses and a Levenberg-Marquardt loop over many spectra at once.

Internal numerics for :mod:`twin.analysis.fitting`, on plain float arrays of shape (n_spectra, n_wavelengths) with a
0/1 weight array marking the points that take part in the fit (masked, saturated points have weight 0). Every step
works on all still-active spectra together, so the cost of one iteration is a handful of numpy calls, not a Python
loop over spectra. Parameters per spectrum: ``[height, center_nm, sigma_nm]`` plus, with a baseline,
``[offset, slope]`` where the slope multiplies the wavelength rescaled to [-1, 1] across the grid (for conditioning).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SQRT_2PI = float(np.sqrt(2.0 * np.pi))
_MAD_TO_SIGMA = 1.482602218505602


@dataclass(frozen=True)
class LMResult:
    """Raw result of :func:`levenberg_marquardt`: parameters, cost, convergence and the normal matrix."""

    params: np.ndarray  # (n, k)
    cost: np.ndarray  # (n,) sum of squared residuals over fitted points
    converged: np.ndarray  # (n,) bool
    n_iter: np.ndarray  # (n,) int
    jtj: np.ndarray  # (n, k, k) J^T J at the solution, for the covariance


def scaled_axis(wavelength_nm: np.ndarray) -> np.ndarray:
    """Wavelength mapped linearly onto [-1, 1]: the baseline slope's variable, well conditioned on any grid."""
    lo, hi = wavelength_nm[0], wavelength_nm[-1]
    return (2.0 * wavelength_nm - (lo + hi)) / (hi - lo)


def robust_noise(counts: np.ndarray) -> np.ndarray:
    """Per-spectrum noise sigma from the median absolute second difference (ignores smooth peaks and baselines).

    A second difference of white noise has variance 6 sigma^2; the median keeps a peak covering less than half the
    grid from inflating the estimate. Returns NaN where fewer than one finite triple exists.
    """
    d2 = counts[:, :-2] - 2.0 * counts[:, 1:-1] + counts[:, 2:]
    d2 = np.abs(d2)
    finite = np.isfinite(d2)
    n_finite = finite.sum(axis=1)
    d2 = np.where(finite, d2, np.inf)
    d2.sort(axis=1)
    noise = np.full(counts.shape[0], np.nan)
    has = n_finite > 0
    idx = n_finite[has]
    lo = d2[has, (idx - 1) // 2]
    hi = d2[has, idx // 2]
    noise[has] = 0.5 * (lo + hi) * _MAD_TO_SIGMA / np.sqrt(6.0)
    return noise


def initial_guess(wavelength_nm: np.ndarray, counts: np.ndarray, weight: np.ndarray, baseline: bool) -> np.ndarray:
    """Starting parameters from a weighted log-parabola through the upper part of each peak.

    ln(y - floor) is a parabola for a Gaussian; fitting it with weights y^2 (Caruana/Guo) over points above 15 % of
    the finite maximum gives height, center and sigma in one batched 3x3 solve, and it uses the flanks when the top is
    masked (saturated). Where that fails (no curvature, nonsense values) a moment guess takes over.
    """
    x = wavelength_nm
    span = x[-1] - x[0]
    step = float(np.min(np.diff(x)))
    y = np.where(weight > 0, counts, np.nan)
    floor = np.nanmin(y, axis=1)
    above = np.where(weight > 0, counts - floor[:, None], 0.0)
    above = np.clip(above, 0.0, None)
    top = above.max(axis=1)
    i_top = above.argmax(axis=1)
    x_top = x[i_top]

    # weighted log-parabola in a centred, scaled variable u = (x - x_top) / span
    use = (above > 0.15 * top[:, None]) & (above > 0)
    u = (x[None, :] - x_top[:, None]) / span
    w = np.where(use, above**2, 0.0)
    log_y = np.log(np.where(use, above, 1.0))
    s, t = [], []
    wu = w
    for p in range(5):
        s.append(wu.sum(axis=1))
        if p < 3:
            t.append(np.einsum("nm,nm->n", wu, log_y))
        wu = wu * u
    normal = np.stack(
        [np.stack([s[0], s[1], s[2]], -1), np.stack([s[1], s[2], s[3]], -1), np.stack([s[2], s[3], s[4]], -1)], -2
    )
    rhs = np.stack(t, -1)
    enough = use.sum(axis=1) >= 3
    det = np.linalg.det(normal)
    good = enough & (np.abs(det) > 1e-300)
    coef = np.zeros((counts.shape[0], 3))
    if good.any():
        coef[good] = np.linalg.solve(normal[good], rhs[good][..., None])[..., 0]
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
    area = np.sum(above, axis=1) * np.mean(np.diff(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_m = np.clip(area / (np.maximum(top, 1e-300) * SQRT_2PI), step, 0.25 * span)
    sigma = np.where(ok, sigma, sigma_m)
    center = np.where(ok, center, x_top)
    height = np.where(ok, height, np.maximum(top, 1e-12))

    if not baseline:
        return np.stack([height, center, sigma], axis=1)
    return np.stack([height, center, sigma, floor, np.zeros_like(floor)], axis=1)


def model(params: np.ndarray, x: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Gaussian (+ linear baseline when params has 5 columns) evaluated on the grid: shape (n, n_wavelengths)."""
    height, center, sigma = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    f = height * np.exp(-0.5 * ((x - center) / sigma) ** 2)
    if params.shape[1] == 5:
        f = f + params[:, 3:4] + params[:, 4:5] * xs
    return f


def _normal_equations(params: np.ndarray, x: np.ndarray, xs: np.ndarray, counts: np.ndarray, weight: np.ndarray):
    """J^T J (n, k, k) and J^T r (n, k) of the weighted residuals, built from a few moment sums.

    With z = (x - center) / sigma and g = exp(-z^2 / 2), the Gaussian's derivatives are g, (h/sigma) g z and
    (h/sigma) g z^2, so every entry of J^T J is a sum of w g^2 z^p (p = 0..4) times a per-spectrum factor. That keeps
    each iteration at a few (n, m) passes instead of building an (n, m, k) Jacobian.
    """
    height, center, sigma = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    z = (x - center) / sigma
    g = np.exp(-0.5 * z * z)
    wg = weight * g
    f = height * g
    k = params.shape[1]
    if k == 5:
        f = f + params[:, 3:4] + params[:, 4:5] * xs
    r = (counts - f) * weight
    wgg = wg * g
    z2 = z * z
    s0 = wgg.sum(axis=1)
    s1 = np.einsum("nm,nm->n", wgg, z)
    s2 = np.einsum("nm,nm->n", wgg, z2)
    s3 = np.einsum("nm,nm->n", wgg * z, z2)
    s4 = np.einsum("nm,nm->n", wgg * z2, z2)
    gr = wg * r
    t0 = gr.sum(axis=1)
    t1 = np.einsum("nm,nm->n", gr, z)
    t2 = np.einsum("nm,nm->n", gr, z2)
    a = (height / sigma)[:, 0]
    n = params.shape[0]
    jtj = np.empty((n, k, k))
    jtr = np.empty((n, k))
    jtj[:, 0, 0] = s0
    jtj[:, 0, 1] = jtj[:, 1, 0] = a * s1
    jtj[:, 0, 2] = jtj[:, 2, 0] = a * s2
    jtj[:, 1, 1] = a * a * s2
    jtj[:, 1, 2] = jtj[:, 2, 1] = a * a * s3
    jtj[:, 2, 2] = a * a * s4
    jtr[:, 0] = t0
    jtr[:, 1] = a * t1
    jtr[:, 2] = a * t2
    if k == 5:
        wxs = weight * xs
        u0 = wg.sum(axis=1)
        u1 = np.einsum("nm,nm->n", wg, z)
        u2 = np.einsum("nm,nm->n", wg, z2)
        v0 = np.einsum("nm,m->n", wg, xs)
        v1 = np.einsum("nm,nm->n", wg * z, wxs)
        v2 = np.einsum("nm,nm->n", wg * z2, wxs)
        jtj[:, 0, 3] = jtj[:, 3, 0] = u0
        jtj[:, 1, 3] = jtj[:, 3, 1] = a * u1
        jtj[:, 2, 3] = jtj[:, 3, 2] = a * u2
        jtj[:, 0, 4] = jtj[:, 4, 0] = v0
        jtj[:, 1, 4] = jtj[:, 4, 1] = a * v1
        jtj[:, 2, 4] = jtj[:, 4, 2] = a * v2
        jtj[:, 3, 3] = weight.sum(axis=1)
        jtj[:, 3, 4] = jtj[:, 4, 3] = wxs.sum(axis=1)
        jtj[:, 4, 4] = np.einsum("nm,m->n", wxs, xs)
        jtr[:, 3] = r.sum(axis=1)
        jtr[:, 4] = np.einsum("nm,m->n", r, xs)
    return jtj, jtr


def _cost(params, x, xs, counts, weight) -> np.ndarray:
    """Sum of squared weighted residuals; +inf where sigma or height is not a valid Gaussian."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = (counts - model(params, x, xs)) * weight
        c = np.einsum("nm,nm->n", r, r)
    bad = ~np.isfinite(c) | (params[:, 2] <= 0) | ~np.all(np.isfinite(params), axis=1)
    return np.where(bad, np.inf, c)


def levenberg_marquardt(
    wavelength_nm: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    p0: np.ndarray,
    *,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    block: int = 1024,
) -> LMResult:
    """Run :func:`_lm_block` over blocks of ``block`` spectra and stitch the results together.

    Blocks of about a thousand spectra keep the (block, n_wavelengths) temporaries inside the CPU cache, which is
    two to three times faster than one pass over the whole stack; within a block everything stays vectorized.
    """
    parts = [
        _lm_block(wavelength_nm, counts[i : i + block], weight[i : i + block], p0[i : i + block],
                  max_iter=max_iter, ftol=ftol, xtol=xtol)
        for i in range(0, max(counts.shape[0], 1), block)
    ]
    if len(parts) == 1:
        return parts[0]
    return LMResult(*(np.concatenate([getattr(r, name) for r in parts]) for name in LMResult.__dataclass_fields__))


def _lm_block(
    wavelength_nm: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    p0: np.ndarray,
    *,
    max_iter: int,
    ftol: float,
    xtol: float,
) -> LMResult:
    """Minimise the unweighted sum of squares over the points with weight 1, for all spectra at once.

    Marquardt's scaled damping (J^T J + lambda diag(J^T J)); a step is kept per spectrum only if it lowers that
    spectrum's cost. A spectrum stops once a kept step changes its cost by less than ``ftol`` (relative) or its
    parameters by less than ``xtol`` (relative), or once no step can lower the cost (damping saturated); spectra
    still running after ``max_iter`` are reported as not converged. Converged spectra leave the active set, so late
    iterations only touch the few hard cases.
    """
    x = np.asarray(wavelength_nm, dtype=float)
    xs = scaled_axis(x)
    counts = np.where(weight > 0, counts, 0.0)
    n, k = p0.shape
    params = p0.copy()
    cost = _cost(params, x, xs, counts, weight)
    lam = np.full(n, 1e-3)
    converged = np.zeros(n, dtype=bool)
    n_iter = np.zeros(n, dtype=int)
    active = np.flatnonzero(np.isfinite(cost))
    eye = np.eye(k)
    data_scale = np.maximum(np.abs(counts).max(axis=1), 1e-300)
    scale = np.empty((n, k))
    scale[:, 0] = data_scale
    scale[:, 1:3] = x[-1] - x[0]
    if k == 5:
        scale[:, 3:5] = data_scale[:, None]
    exact = 1e-28 * np.einsum("nm,nm->n", counts, counts)
    for _ in range(max_iter):
        if active.size == 0:
            break
        p, y, w = params[active], counts[active], weight[active]
        jtj, jtr = _normal_equations(p, x, xs, y, w)
        diag = np.einsum("nii->ni", jtj)
        diag = np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300)
        a = jtj + (lam[active][:, None] * diag)[:, :, None] * eye
        step = np.linalg.solve(a, jtr[..., None])[..., 0]
        trial = p + step
        c_old = cost[active]
        c_new = _cost(trial, x, xs, y, w)
        accept = c_new <= c_old
        n_iter[active] += 1

        # MINPACK-style test: both the actual and the predicted relative reduction are below ftol
        predicted = 2.0 * np.einsum("ni,ni->n", step, jtr) - np.einsum("ni,nij,nj->n", step, jtj, step)
        c_ref = np.maximum(c_old, 1e-300)
        flat_cost = (np.abs(c_old - c_new) <= ftol * c_ref) & (np.abs(predicted) <= ftol * c_ref)
        small_step = np.all(np.abs(step) <= xtol * (np.abs(p) + scale[active]), axis=1)
        done = (accept & (flat_cost | small_step)) | (np.minimum(c_new, c_old) <= exact[active])
        done |= ~accept & (lam[active] > 1e10)  # no step lowers the cost any more: at the minimum

        idx_acc = active[accept]
        params[idx_acc] = trial[accept]
        cost[idx_acc] = c_new[accept]
        lam[idx_acc] = np.maximum(lam[idx_acc] * 0.2, 1e-12)
        idx_rej = active[~accept]
        lam[idx_rej] = lam[idx_rej] * 10.0
        converged[active[done]] = True
        active = active[~done]

    jtj, _ = _normal_equations(params, x, xs, counts, weight)
    return LMResult(params=params, cost=cost, converged=converged, n_iter=n_iter, jtj=jtj)
