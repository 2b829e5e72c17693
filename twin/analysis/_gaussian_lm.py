"""Batched Levenberg-Marquardt for Gaussian (+ linear baseline) least squares over many spectra at once.

Internal numerics for :mod:`twin.analysis.fitting`, on plain float arrays of shape (n_spectra, n_wavelengths) with a
0/1 weight array marking the points that take part in the fit (masked, saturated points have weight 0). Parameters
per spectrum: ``[height, center_nm, sigma_nm]`` plus, with a baseline, ``[offset, slope]`` where the slope multiplies
the wavelength rescaled to [-1, 1] across the grid (for conditioning).

Every iteration works on all still-active spectra together. The (n, n_wavelengths) work arrays live in a
:class:`Workspace` allocated once per ``fit_gaussians`` call and reused through numpy's ``out=`` arguments:
allocating fresh megabyte-sized temporaries on every operation costs more (page faults) than the arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def solve_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve a[i] x[i] = b[i] for a stack of k x k systems (k = 3 by Cramer's rule, else LAPACK).

    The closed form costs a few dozen (n,)-array operations; LAPACK's batched solve pays per-matrix call overhead.
    Singular systems give non-finite rows, which the caller rejects.
    """
    if a.shape[-1] != 3:
        return np.linalg.solve(a, b[..., None])[..., 0]
    a00, a01, a02 = a[:, 0, 0], a[:, 0, 1], a[:, 0, 2]
    a10, a11, a12 = a[:, 1, 0], a[:, 1, 1], a[:, 1, 2]
    a20, a21, a22 = a[:, 2, 0], a[:, 2, 1], a[:, 2, 2]
    c00 = a11 * a22 - a12 * a21
    c01 = a12 * a20 - a10 * a22
    c02 = a10 * a21 - a11 * a20
    det = a00 * c00 + a01 * c01 + a02 * c02
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = (b0 * c00 + a01 * (b2 * a12 - b1 * a22) + a02 * (b1 * a21 - b2 * a11)) / det
        x1 = (a00 * (b1 * a22 - b2 * a12) + b0 * c01 + a02 * (b2 * a10 - b1 * a20)) / det
        x2 = (a00 * (b2 * a11 - b1 * a21) + a01 * (b1 * a20 - b2 * a10) + b0 * c02) / det
    return np.stack([x0, x1, x2], axis=1)


class Workspace:
    """Reusable (n, m) float buffers for the Levenberg-Marquardt loop, shared by every block of one fit call.

    State arrays (data, weights, z, g, residual) live in rotating buffers: compaction copies the surviving rows into
    a spare buffer with ``np.take(..., out=)`` and an accepted trial is adopted by swapping buffers, so the loop never
    allocates a fresh (n, m) array.
    """

    ROTATING = {"y": 2, "w": 2, "z": 3, "g": 3, "r": 3}
    TEMPS = ("t1", "t2", "t3")

    def __init__(self, n: int, m: int):
        self.shape = (n, m)
        self.bufs = {name: [np.empty((n, m)) for _ in range(count)] for name, count in self.ROTATING.items()}
        self.temps = {name: np.empty((n, m)) for name in self.TEMPS}

    def fits(self, n: int, m: int) -> bool:
        return n <= self.shape[0] and m == self.shape[1]


def _evaluate(p, x, xs, y, w, masked: bool, z, g, r, tmp) -> np.ndarray:
    """Fill z = (x - center)/sigma, g = exp(-z^2/2), r = weighted residual; return the cost (+inf if invalid)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        np.subtract(x, p[:, 1:2], out=z)
        z /= p[:, 2:3]
        np.multiply(z, z, out=g)
        g *= -0.5
        np.maximum(g, -700.0, out=g)  # exp(-700) ~ 1e-304: same value, but skips libm's slow underflow path
        np.exp(g, out=g)
        np.multiply(g, p[:, 0:1], out=r)
        if p.shape[1] == 5:
            r += p[:, 3:4]
            np.multiply(p[:, 4:5], xs, out=tmp)
            r += tmp
        np.subtract(y, r, out=r)
        if masked:
            r *= w
        cost = np.einsum("nm,nm->n", r, r)
    bad = ~np.isfinite(cost) | ~(p[:, 2] > 0) | ~np.all(np.isfinite(p), axis=1)
    cost[bad] = np.inf
    return cost


def _normal_equations(p, xs, w, masked: bool, z, g, r, t1, t2, t3):
    """J^T J (n, k, k) and J^T r (n, k) from moment sums of the cached z, g and residual r.

    The Gaussian's derivatives are g, (h/sigma) g z and (h/sigma) g z^2, so every entry of J^T J is a sum of
    w g^2 z^q (q = 0..4) times a per-spectrum factor: a few (n, m) passes instead of an (n, m, k) Jacobian.
    """
    n, k = p.shape
    wg = np.multiply(g, w, out=t1) if masked else g
    np.multiply(wg, g, out=t2)  # w g^2
    s0 = t2.sum(axis=1)
    np.multiply(t2, z, out=t3)  # w g^2 z
    s1 = t3.sum(axis=1)
    s2 = np.einsum("nm,nm->n", t3, z)
    t3 *= z  # w g^2 z^2
    s3 = np.einsum("nm,nm->n", t3, z)
    np.multiply(z, z, out=t2)  # z^2
    s4 = np.einsum("nm,nm->n", t3, t2)
    np.multiply(g, r, out=t3)  # g r (r carries the weight)
    u0 = t3.sum(axis=1)
    u1 = np.einsum("nm,nm->n", t3, z)
    u2 = np.einsum("nm,nm->n", t3, t2)
    a = p[:, 0] / p[:, 2]
    jtj = np.empty((n, k, k))
    jtr = np.empty((n, k))
    jtj[:, 0, 0] = s0
    jtj[:, 0, 1] = jtj[:, 1, 0] = a * s1
    jtj[:, 0, 2] = jtj[:, 2, 0] = a * s2
    jtj[:, 1, 1] = a * a * s2
    jtj[:, 1, 2] = jtj[:, 2, 1] = a * a * s3
    jtj[:, 2, 2] = a * a * s4
    jtr[:, 0], jtr[:, 1], jtr[:, 2] = u0, a * u1, a * u2
    if k == 5:
        wg = np.multiply(g, w, out=t1) if masked else g
        np.multiply(wg, z, out=t3)  # w g z
        ws = w.sum(axis=1) if masked else np.full(n, float(w.shape[1]))
        wxs = w @ xs if masked else np.full(n, xs.sum())
        wxs2 = w @ (xs * xs) if masked else np.full(n, (xs * xs).sum())
        jtj[:, 0, 3] = jtj[:, 3, 0] = wg.sum(axis=1)
        jtj[:, 1, 3] = jtj[:, 3, 1] = a * t3.sum(axis=1)
        jtj[:, 2, 3] = jtj[:, 3, 2] = a * np.einsum("nm,nm->n", t3, z)
        jtj[:, 0, 4] = jtj[:, 4, 0] = wg @ xs
        jtj[:, 1, 4] = jtj[:, 4, 1] = a * (t3 @ xs)
        t3 *= z  # w g z^2
        jtj[:, 2, 4] = jtj[:, 4, 2] = a * (t3 @ xs)
        jtj[:, 3, 3] = ws
        jtj[:, 3, 4] = jtj[:, 4, 3] = wxs
        jtj[:, 4, 4] = wxs2
        jtr[:, 3] = r.sum(axis=1)
        jtr[:, 4] = r @ xs
    return jtj, jtr


def levenberg_marquardt(
    wavelength_nm: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    p0: np.ndarray,
    *,
    max_iter: int = 200,
    ftol: float = 1e-8,
    xtol: float = 1e-10,
    workspace: Workspace | None = None,
) -> LMResult:
    """Minimise the unweighted sum of squares over the points with weight 1, for all spectra at once.

    Marquardt's scaled damping (J^T J + lambda diag(J^T J)); a step is kept per spectrum only if it does not raise
    that spectrum's cost. A spectrum is finished when the fit is exact, when the next near-Gauss-Newton step
    (lambda <= 0.01) predicts a relative cost reduction below ``ftol`` (lmfit/MINPACK use 1.5e-8), when an accepted
    step is below ``xtol`` relative to the parameter scale, or when no step lowers the cost any more (damping
    saturated); spectra still running after ``max_iter`` are reported as not converged. Finished spectra leave the
    active set, and the Gaussian evaluated for an accepted trial is reused for the next normal equations, so each
    iteration costs one exp over the still-active spectra.
    """
    x = np.asarray(wavelength_nm, dtype=float)
    xs = scaled_axis(x)
    n, k = p0.shape
    m = x.size
    params = p0.astype(float, copy=True)
    cost = np.full(n, np.inf)
    converged = np.zeros(n, dtype=bool)
    n_iter = np.zeros(n, dtype=int)
    jtj_out = np.zeros((n, k, k))
    if n == 0:
        return LMResult(params, cost, converged, n_iter, jtj_out)
    ws = workspace if workspace is not None and workspace.fits(n, m) else Workspace(n, m)
    masked = bool(np.any(weight == 0))
    bufs, tmp = ws.bufs, ws.temps
    cur = {name: 0 for name in bufs}  # index of the buffer holding each state array

    def arr(name: str, na: int) -> np.ndarray:
        return bufs[name][cur[name]][:na]

    def compact(keep_rows: np.ndarray, na: int) -> None:
        nk = keep_rows.size
        for name in bufs:
            spare = (cur[name] + 1) % len(bufs[name])
            if name in ("z", "g", "r"):  # slot cur+1 is the trial buffer; use the third one
                spare = (cur[name] + 2) % 3
            np.take(bufs[name][cur[name]][:na], keep_rows, axis=0, out=bufs[name][spare][:nk], mode="clip")
            cur[name] = spare

    def trial_buffer(name: str) -> int:
        return (cur[name] + 1) % 3

    y0 = arr("y", n)
    np.copyto(y0, counts)
    if masked:
        y0[weight == 0] = 0.0
    np.copyto(arr("w", n), weight)
    scale = np.empty((n, k))
    scale[:, 0] = np.maximum(np.abs(y0).max(axis=1), 1e-300)
    scale[:, 1:3] = x[-1] - x[0]
    if k == 5:
        scale[:, 3:5] = scale[:, 0:1]
    exact = 1e-28 * np.einsum("nm,nm->n", y0, y0)
    eye = np.eye(k)

    def retire(done: np.ndarray, na: int) -> np.ndarray:
        """Store the finished spectra's results and drop them from the active set; returns the rows kept."""
        fin = idx[done]
        params[fin], cost[fin], jtj_out[fin] = P[done], C[done], jtj[done]
        converged[fin] = True
        keep = np.flatnonzero(~done)
        compact(keep, na)
        return keep

    idx = np.arange(n)
    P, S, E = params.copy(), scale, exact
    C = _evaluate(P, x, xs, y0, arr("w", n), masked, arr("z", n), arr("g", n), arr("r", n), tmp["t1"][:n])
    cost[:] = C
    L = np.full(n, 1e-3)
    keep = np.flatnonzero(np.isfinite(C))
    if keep.size < n:
        compact(keep, n)
        idx, P, S, E, C, L = (v[keep] for v in (idx, P, S, E, C, L))
    for _ in range(max_iter):
        na = idx.size
        if na == 0:
            break
        t1, t2, t3 = (tmp[name][:na] for name in Workspace.TEMPS)
        W = arr("w", na)
        jtj, jtr = _normal_equations(P, xs, W, masked, arr("z", na), arr("g", na), arr("r", na), t1, t2, t3)
        diag = np.einsum("nii->ni", jtj)
        diag = np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300)
        step = solve_small(jtj + (L[:, None] * diag)[:, :, None] * eye, jtr)
        n_iter[idx] += 1

        # finished before trying the step: exact fit, or a near-Gauss-Newton step that would change nothing
        predicted = 2.0 * np.einsum("ni,ni->n", step, jtr) - np.einsum("ni,nij,nj->n", step, jtj, step)
        done = (C <= E) | ((L <= 1e-2) & (np.abs(predicted) <= ftol * np.maximum(C, 1e-300)))
        if done.any():
            keep = retire(done, na)
            idx, P, S, E, C, L, step = (v[keep] for v in (idx, P, S, E, C, L, step))
            jtj = jtj[keep]
            na = idx.size
            if na == 0:
                break
            t1 = tmp["t1"][:na]
            W = arr("w", na)

        trial = P + step
        zt, gt, rt = (bufs[name][trial_buffer(name)][:na] for name in ("z", "g", "r"))
        c_t = _evaluate(trial, x, xs, arr("y", na), W, masked, zt, gt, rt, t1)
        accept = c_t <= C
        small_step = np.all(np.abs(step) <= xtol * (np.abs(P) + S), axis=1)
        P[accept] = trial[accept]
        C = np.where(accept, c_t, C)
        L = np.where(accept, np.maximum(L * 0.2, 1e-12), L * 10.0)
        rejected = np.flatnonzero(~accept)
        for name in ("z", "g", "r"):  # adopt the trial buffers, then restore the rows whose step was rejected
            old, new = cur[name], trial_buffer(name)
            cur[name] = new
            if rejected.size:
                bufs[name][new][rejected] = bufs[name][old][rejected]

        done = (accept & small_step) | (~accept & (L > 1e10))  # tiny step, or no step lowers the cost
        if done.any():
            keep = retire(done, na)
            idx, P, S, E, C, L = (v[keep] for v in (idx, P, S, E, C, L))
    if idx.size:  # iteration limit: keep the last iterate, flagged as not converged
        na = idx.size
        params[idx], cost[idx] = P, C
        t1, t2, t3 = (tmp[name][:na] for name in Workspace.TEMPS)
        jtj_out[idx] = _normal_equations(P, xs, arr("w", na), masked, arr("z", na), arr("g", na), arr("r", na),
                                         t1, t2, t3)[0]
    return LMResult(params=params, cost=cost, converged=converged, n_iter=n_iter, jtj=jtj_out)
