"""Benchmark: batched Gaussian fitting vs an lmfit GaussianModel loop vs a scipy curve_fit loop.

The same 7,008 spectra (96 wells x 73 reads x 126 wavelengths, 400-650 nm in 2 nm steps) are fitted by all three,
side by side in one run. The spectra are Gaussians with peaks 495-522 nm, FWHM 22-40 nm and heights up to ~40k counts
(slowly drifting and fading per well, as in a 12 h campaign) on a ~10-count dark baseline with Poisson noise, drawn
from a seeded numpy Generator.

The loops are slow, so by default they run on an evenly spaced subset and their time per spectrum is extrapolated to
all 7,008 (printed as such); ``--full`` runs them on everything. Targets (issue 4): >= 100x faster than the lmfit loop
and >= 10x faster than the curve_fit loop.

    python benchmarks/bench_fit.py [--n-lmfit 300] [--n-curve-fit 1000] [--full] [--repeat 5] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

try:
    from twin.analysis import fit_gaussians
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from twin.analysis import fit_gaussians

N_WELLS, N_READS = 96, 73
WAVELENGTH_NM = np.arange(400.0, 651.0, 2.0)
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
TARGET_VS_LMFIT, TARGET_VS_CURVE_FIT = 100.0, 10.0


def make_spectra(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(96, 73, 126) counts and the true peak/FWHM/height per spectrum."""
    rng = np.random.default_rng(seed)
    time_h = np.linspace(0.0, 12.0, N_READS)
    peak0 = rng.uniform(497.0, 520.0, N_WELLS)
    drift = rng.uniform(-0.15, 0.15, N_WELLS)  # nm/h, keeps peaks within 495-522 nm
    fwhm0 = rng.uniform(22.0, 36.0, N_WELLS)
    widen = rng.uniform(0.0, 0.3, N_WELLS)  # nm/h
    height0 = 10.0 ** rng.uniform(2.7, np.log10(4.0e4), N_WELLS)
    fade = rng.uniform(0.0, 0.12, N_WELLS)  # 1/h
    peak = np.clip(peak0[:, None] + drift[:, None] * time_h, 495.0, 522.0)
    fwhm = np.clip(fwhm0[:, None] + widen[:, None] * time_h, 22.0, 40.0)
    height = height0[:, None] * np.exp(-fade[:, None] * time_h)
    sigma = fwhm / FWHM_PER_SIGMA
    expected = height[..., None] * np.exp(-0.5 * ((WAVELENGTH_NM - peak[..., None]) / sigma[..., None]) ** 2)
    counts = rng.poisson(expected + 10.0).astype(float)
    return counts, {"peak_nm": peak, "fwhm_nm": fwhm, "height": height}


def time_batched(spectra: np.ndarray, repeat: int, baseline: bool = False):
    """Best-of-``repeat`` wall time of one fit_gaussians call on the whole stack."""
    best, fit = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = fit_gaussians(spectra, WAVELENGTH_NM, baseline=baseline)
        best = min(best, time.perf_counter() - t0)
    return best, fit


def time_lmfit(flat: np.ndarray, idx: np.ndarray):
    """Seconds per spectrum of the paper's loop (GaussianModel.guess + fit), and its peak/FWHM per spectrum."""
    from lmfit.models import GaussianModel

    model = GaussianModel()
    out = np.full((idx.size, 2), np.nan)
    t0 = time.perf_counter()
    for j, i in enumerate(idx):
        y = flat[i]
        result = model.fit(y, model.guess(y, x=WAVELENGTH_NM), x=WAVELENGTH_NM)
        out[j] = result.params["center"].value, result.params["fwhm"].value
    return (time.perf_counter() - t0) / idx.size, out


def _gaussian(x, height, center, sigma):
    return height * np.exp(-0.5 * ((x - center) / sigma) ** 2)


def time_curve_fit(flat: np.ndarray, idx: np.ndarray):
    """Seconds per spectrum of a scipy curve_fit loop (argmax / half-width start), and its peak/FWHM."""
    from scipy.optimize import curve_fit

    out = np.full((idx.size, 2), np.nan)
    x = WAVELENGTH_NM
    t0 = time.perf_counter()
    for j, i in enumerate(idx):
        y = flat[i]
        k = int(np.argmax(y))
        above = x[y > 0.5 * y[k]]
        sigma0 = max((above[-1] - above[0]) / FWHM_PER_SIGMA, 2.0) if above.size else 10.0
        try:
            popt, _ = curve_fit(_gaussian, x, y, p0=(y[k], x[k], sigma0))
            out[j] = popt[1], abs(popt[2]) * FWHM_PER_SIGMA
        except RuntimeError:
            pass
    return (time.perf_counter() - t0) / idx.size, out


def _subset(n_total: int, n: int | None) -> np.ndarray:
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(int))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lmfit", type=int, default=300, help="spectra fitted by the lmfit loop (subset)")
    parser.add_argument("--n-curve-fit", type=int, default=1000, help="spectra fitted by the curve_fit loop")
    parser.add_argument("--full", action="store_true", help="run both loops on all 7,008 spectra")
    parser.add_argument("--repeat", type=int, default=5, help="batched runs; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    spectra, truth = make_spectra(args.seed)
    flat = spectra.reshape(-1, WAVELENGTH_NM.size)
    n = flat.shape[0]
    print(f"spectra: {N_WELLS} wells x {N_READS} reads x {WAVELENGTH_NM.size} wavelengths = {n} spectra "
          f"(seed {args.seed}, max counts {np.nanmax(flat):.0f})")

    fit_gaussians(flat[:64], WAVELENGTH_NM)  # warm-up (imports, first allocations)
    batched_s, fit = time_batched(spectra, args.repeat)
    status, counts = np.unique(fit.status, return_counts=True)
    peak_err = np.nanmax(np.abs(fit.peak_nm - truth["peak_nm"]))
    print(f"batched fit_gaussians: {batched_s:.3f} s for {n} spectra ({batched_s / n * 1e6:.1f} us/spectrum, "
          f"best of {args.repeat}); status {dict(zip(status.tolist(), counts.tolist()))}; "
          f"max |peak - truth| {peak_err:.3f} nm")

    baseline_s, fit_b = time_batched(spectra, args.repeat, baseline=True)
    print(f"batched fit_gaussians(baseline=True): {baseline_s:.3f} s; max |peak - truth| "
          f"{np.nanmax(np.abs(fit_b.peak_nm - truth['peak_nm'])):.3f} nm, max |FWHM - truth| "
          f"{np.nanmax(np.abs(fit_b.fwhm_nm - truth['fwhm_nm'])):.3f} nm (Gaussian-only: "
          f"{np.nanmax(np.abs(fit.fwhm_nm - truth['fwhm_nm'])):.3f} nm)")

    peak_flat, fwhm_flat = fit.peak_nm.ravel(), fit.fwhm_nm.ravel()
    ratios = {}
    for name, timer, n_sub, target in (("lmfit GaussianModel loop", time_lmfit, args.n_lmfit, TARGET_VS_LMFIT),
                                       ("scipy curve_fit loop", time_curve_fit, args.n_curve_fit,
                                        TARGET_VS_CURVE_FIT)):
        idx = _subset(n, None if args.full else n_sub)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                per_spectrum, ref = timer(flat, idx)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        total = per_spectrum * n
        how = "measured on all" if idx.size == n else f"measured on {idx.size}, extrapolated to"
        ratio = total / batched_s
        ratios[name] = ratio
        d_peak = np.nanmax(np.abs(peak_flat[idx] - ref[:, 0]))
        d_fwhm = np.nanmax(np.abs(fwhm_flat[idx] - ref[:, 1]))
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"{name}: {per_spectrum * 1e3:.3f} ms/spectrum -> {total:.2f} s ({how} {n} spectra); "
              f"batched is {ratio:.0f}x faster ({verdict} the >= {target:.0f}x target); "
              f"max |delta peak| {d_peak:.2e} nm, max |delta FWHM| {d_fwhm:.2e} nm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
