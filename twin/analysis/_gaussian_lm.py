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


def initial_guess(wavelength_nm: np.ndarray, counts: np.ndarray, weight: np.ndarray, baseline: bool) -> np.ndarray:
    """Starting parameters from a weighted log-parabola through the upper part of each peak.

    ln(y - floor) is a parabola for a Gaussian; fitting it with weights y^2 (Caruana/Guo) over points above 15 % of
    the finite maximum gives height, center and sigma in one batched 3x3 solve, and it uses the flanks when the top is
    masked (saturated). Where that fails (no curvature, nonsense values) a moment guess takes over.
    """
    x = wavelength_nm
    span = x[-1] - x[0]
    step = float(np.min(np.diff(x)))
    floor = np.where(weight > 0, counts, np.inf).min(axis=1)
    above = np.clip(counts - floor[:, None], 0.0, None) * weight
    top = above.max(axis=1)
    i_top = above.argmax(axis=1)
    x_top = x[i_top]

    # weighted log-parabola in a centred, scaled variable u = (x - x_top) / span
    use = above > 0.15 * top[:, None]
    u = (x[None, :] - x_top[:, None]) / span
    w = np.where(use, above * above, 0.0)
    log_y = np.log(np.where(use, above, 1.0))
    s, t = [], []
    wu = w
    for p in range(5):
        s.append(wu.sum(axis=1))
        if p < 3:
            t.append(np.einsum("nm,nm->n", wu, log_y))
        wu = wu * u
    coef, det = _solve_sym3(s, t)
    good = (use.sum(axis=1) >= 3) & (np.abs(det) > 1e-300)
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


def model(params: np.ndarray, x: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Gaussian (+ linear baseline when params has 5 columns) evaluated on the grid: shape (n, n_wavelengths)."""
    height, center, sigma = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    f = height * np.exp(-0.5 * ((x - center) / sigma) ** 2)
    if params.shape[1] == 5:
        f = f + params[:, 3:4] + params[:, 4:5] * xs
    return f


def _evaluate(params: np.ndarray, x: np.ndarray, xs: np.ndarray, counts: np.ndarray, weight: np.ndarray):
    """z, g = exp(-z^2/2), weighted residual r and cost for each spectrum; cost is +inf for an invalid Gaussian."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        z = (x - params[:, 1:2]) / params[:, 2:3]
        g = np.exp(-0.5 * z * z)
        f = params[:, 0:1] * g
        if params.shape[1] == 5:
            f = f + params[:, 3:4] + params[:, 4:5] * xs
        r = (counts - f) * weight
        cost = np.einsum("nm,nm->n", r, r)
    bad = ~np.isfinite(cost) | ~(params[:, 2] > 0) | ~np.all(np.isfinite(params), axis=1)
    return z, g, r, np.where(bad, np.inf, cost)


def _normal_equations(params: np.ndarray, xs: np.ndarray, z: np.ndarray, g: np.ndarray, r: np.ndarray,
                      weight: np.ndarray):
    """J^T J (n, k, k) and J^T r (n, k) of the weighted residuals, built from a few moment sums.

    With z = (x - center) / sigma and g = exp(-z^2 / 2), the Gaussian's derivatives are g, (h/sigma) g z and
    (h/sigma) g z^2, so every entry of J^T J is a sum of w g^2 z^p (p = 0..4) times a per-spectrum factor. That keeps
    each iteration at a few (n, m) passes instead of building an (n, m, k) Jacobian.
    """
    k = params.shape[1]
    n = params.shape[0]
    wg = weight * g
    wgg = wg * g
    z2 = z * z
    wggz = wgg * z
    s0 = wgg.sum(axis=1)
    s1 = wggz.sum(axis=1)
    s2 = np.einsum("nm,nm->n", wgg, z2)
    s3 = np.einsum("nm,nm->n", wggz, z2)
    s4 = np.einsum("nm,nm->n", wggz * z, z2)
    gr = g * r  # r already carries the weight
    grz = gr * z
    t0 = gr.sum(axis=1)
    t1 = grz.sum(axis=1)
    t2 = np.einsum("nm,nm->n", grz, z)
    a = params[:, 0] / params[:, 2]
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
        wgz = wg * z
        wxs = weight * xs
        jtj[:, 0, 3] = jtj[:, 3, 0] = wg.sum(axis=1)
        jtj[:, 1, 3] = jtj[:, 3, 1] = a * wgz.sum(axis=1)
        jtj[:, 2, 3] = jtj[:, 3, 2] = a * np.einsum("nm,nm->n", wgz, z)
        jtj[:, 0, 4] = jtj[:, 4, 0] = np.einsum("nm,m->n", wg, xs)
        jtj[:, 1, 4] = jtj[:, 4, 1] = a * np.einsum("nm,m->n", wgz, xs)
        jtj[:, 2, 4] = jtj[:, 4, 2] = a * np.einsum("nm,nm->n", wgz * z, wxs)
        jtj[:, 3, 3] = weight.sum(axis=1)
        jtj[:, 3, 4] = jtj[:, 4, 3] = wxs.sum(axis=1)
        jtj[:, 4, 4] = np.einsum("nm,m->n", wxs, xs)
        jtr[:, 3] = r.sum(axis=1)
        jtr[:, 4] = np.einsum("nm,m->n", r, xs)
    return jtj, jtr


def levenberg_marquardt(
    wavelength_nm: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    p0: np.ndarray,
    *,
    max_iter: int = 200,
    ftol: float = 1e-9,
    xtol: float = 1e-10,
) -> LMResult:
    """Minimise the unweighted sum of squares over the points with weight 1, for all spectra at once.

    Marquardt's scaled damping (J^T J + lambda diag(J^T J)); a step is kept per spectrum only if it does not raise
    that spectrum's cost. A spectrum stops once the actual and predicted relative cost changes are below ``ftol``
    (MINPACK's test), its step is below ``xtol`` relative to the parameter scale, the fit is exact, or no step lowers
    the cost any more (damping saturated); spectra still running after ``max_iter`` are reported as not converged.
    Finished spectra leave the active set, and the Gaussian evaluated for an accepted trial is reused for the next
    normal equations, so each iteration costs one exp over the still-active spectra.
    """
    x = np.asarray(wavelength_nm, dtype=float)
    xs = scaled_axis(x)
    counts = np.where(weight > 0, counts, 0.0)
    n, k = p0.shape
    params = p0.astype(float, copy=True)
    cost = np.full(n, np.inf)
    converged = np.zeros(n, dtype=bool)
    n_iter = np.zeros(n, dtype=int)
    jtj_out = np.zeros((n, k, k))

    scale = np.empty((n, k))
    data_scale = np.maximum(np.abs(counts).max(axis=1), 1e-300)
    scale[:, 0] = data_scale
    scale[:, 1:3] = x[-1] - x[0]
    if k == 5:
        scale[:, 3:5] = data_scale[:, None]
    exact = 1e-28 * np.einsum("nm,nm->n", counts, counts)
    eye = np.eye(k)

    # compact state of the active spectra
    idx = np.arange(n)
    P, Y, W, S, E = params, counts, weight, scale, exact
    Z, G, R, C = _evaluate(P, x, xs, Y, W)
    cost[:] = C
    L = np.full(n, 1e-3)
    keep = np.isfinite(C)
    idx, P, Y, W, S, E, Z, G, R, C, L = (v[keep] for v in (idx, P, Y, W, S, E, Z, G, R, C, L))
    for _ in range(max_iter):
        if idx.size == 0:
            break
        jtj, jtr = _normal_equations(P, xs, Z, G, R, W)
        diag = np.einsum("nii->ni", jtj)
        diag = np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300)
        step = np.linalg.solve(jtj + (L[:, None] * diag)[:, :, None] * eye, jtr[..., None])[..., 0]
        trial = P + step
        z_t, g_t, r_t, c_t = _evaluate(trial, x, xs, Y, W)
        accept = c_t <= C
        n_iter[idx] += 1

        predicted = 2.0 * np.einsum("ni,ni->n", step, jtr) - np.einsum("ni,nij,nj->n", step, jtj, step)
        c_ref = np.maximum(C, 1e-300)
        flat_cost = (np.abs(C - c_t) <= ftol * c_ref) & (np.abs(predicted) <= ftol * c_ref)
        small_step = np.all(np.abs(step) <= xtol * (np.abs(P) + S), axis=1)
        done = (accept & (flat_cost | small_step)) | (np.minimum(c_t, C) <= E)
        done |= ~accept & (L > 1e10)  # no step lowers the cost any more: at the minimum

        P = np.where(accept[:, None], trial, P)
        C = np.where(accept, c_t, C)
        Z[accept], G[accept], R[accept] = z_t[accept], g_t[accept], r_t[accept]
        L = np.where(accept, np.maximum(L * 0.2, 1e-12), L * 10.0)

        fin = idx[done]
        params[fin], cost[fin], jtj_out[fin] = P[done], C[done], jtj[done]
        converged[fin] = True
        if done.any():
            keep = ~done
            idx, P, Y, W, S, E, Z, G, R, C, L = (v[keep] for v in (idx, P, Y, W, S, E, Z, G, R, C, L))
    if idx.size:  # iteration limit: keep the last iterate, flagged as not converged
        params[idx], cost[idx] = P, C
        jtj_out[idx] = _normal_equations(P, xs, Z, G, R, W)[0]
    return LMResult(params=params, cost=cost, converged=converged, n_iter=n_iter, jtj=jtj_out)
