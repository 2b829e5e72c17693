"""spectral_features: argmax / half-maximum reading of sampled spectra."""

from __future__ import annotations

import numpy as np

from chemistry import spectral_features


def test_gaussian_peak_and_fwhm_recovered():
    x = np.arange(400.0, 651.0, 2.0)
    centers = np.array([[515.3, 500.0], [470.1, 620.7]])
    sigma = 12.0
    y = 3.0 * np.exp(-0.5 * ((x - centers[..., None]) / sigma) ** 2)
    f = spectral_features(x, y)
    np.testing.assert_allclose(f.peak_nm, centers, atol=0.3)
    np.testing.assert_allclose(f.fwhm_nm, 2.3548 * sigma, atol=0.3)
    np.testing.assert_allclose(f.height, 3.0, rtol=0.01)


def test_dark_and_truncated_spectra():
    x = np.arange(400.0, 651.0, 2.0)
    y = np.zeros((2, x.size))
    y[1] = np.exp(-0.5 * ((x - 402.0) / 10.0) ** 2)
    f = spectral_features(x, y)
    assert np.isnan(f.peak_nm[0]) and f.height[0] == 0
    assert np.isnan(f.fwhm_nm[1])  # left half-maximum crossing outside the grid
