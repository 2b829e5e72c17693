"""Peak position, height and FWHM read directly off sampled spectra (argmax and half-maximum crossings).

A model-independent check used by the tests and the calibration; the project's Gaussian fitter lives in the
analysis package. Vectorised over any leading axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpectralFeatures:
    """peak_nm, fwhm_nm and height arrays shaped like the spectra without their wavelength axis (NaN if dark)."""

    peak_nm: np.ndarray
    fwhm_nm: np.ndarray
    height: np.ndarray


def spectral_features(wavelength_nm, spectra) -> SpectralFeatures:
    """Peak (parabolic refinement of the argmax), height and FWHM (linear half-maximum crossings) of each spectrum.

    FWHM is NaN when a half-maximum crossing falls outside the grid; everything is NaN for a dark spectrum.
    """
    x = np.asarray(wavelength_nm, dtype=np.float64)
    y = np.asarray(spectra, dtype=np.float64)
    n = x.shape[0]
    imax = np.argmax(y, axis=-1)
    height = np.take_along_axis(y, imax[..., None], -1)[..., 0]
    dark = ~(height > 0)

    # parabolic refinement around the argmax (uniform or not, use local spacing)
    i0 = np.clip(imax, 1, n - 2)
    ym, y0, yp = (np.take_along_axis(y, (i0 + k)[..., None], -1)[..., 0] for k in (-1, 0, 1))
    denom = ym - 2 * y0 + yp
    shift = np.where(np.abs(denom) > 0, 0.5 * (ym - yp) / np.where(denom == 0, 1, denom), 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    step = np.where(shift >= 0, x[np.minimum(i0 + 1, n - 1)] - x[i0], x[i0] - x[np.maximum(i0 - 1, 0)])
    peak = np.where((imax > 0) & (imax < n - 1), x[i0] + shift * step, x[imax])

    half = 0.5 * height[..., None]
    idx = np.arange(n)
    below = y < half
    left = np.where(below & (idx < imax[..., None]), idx, -1).max(axis=-1)
    right = np.where(below & (idx > imax[..., None]), idx, n).min(axis=-1)

    def crossing(i_below, i_above):
        ib, ia = np.clip(i_below, 0, n - 1), np.clip(i_above, 0, n - 1)
        yb = np.take_along_axis(y, ib[..., None], -1)[..., 0]
        ya = np.take_along_axis(y, ia[..., None], -1)[..., 0]
        frac = (half[..., 0] - yb) / np.where(ya != yb, ya - yb, 1.0)
        return x[ib] + frac * (x[ia] - x[ib])

    x_left = np.where(left >= 0, crossing(left, left + 1), np.nan)
    x_right = np.where(right < n, crossing(right, right - 1), np.nan)
    fwhm = x_right - x_left
    nan = np.full(height.shape, np.nan)
    return SpectralFeatures(peak_nm=np.where(dark, nan, peak), fwhm_nm=np.where(dark, nan, fwhm),
                            height=np.where(dark, 0.0, height))
