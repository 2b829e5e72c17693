"""Specification of twin.analysis.fit_gaussians: batched Gaussian fits that agree with lmfit and flag bad spectra."""
import numpy as np
import pytest

from twin.analysis import FitError, FitStatus, GaussianFit, fit_gaussians

GRID = np.arange(400.0, 651.0, 2.0)
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def gaussians(peak_nm, fwhm_nm, height, grid=GRID):
    peak_nm, fwhm_nm, height = (np.asarray(v, float)[..., None] for v in (peak_nm, fwhm_nm, height))
    sigma = fwhm_nm / FWHM_PER_SIGMA
    return height * np.exp(-0.5 * ((grid - peak_nm) / sigma) ** 2)


def random_truth(rng, n):
    return rng.uniform(495, 522, n), rng.uniform(22, 40, n), rng.uniform(2e3, 4e4, n)


def test_noise_free_gaussians_are_recovered_exactly():
    rng = np.random.default_rng(1)
    peak, fwhm, height = random_truth(rng, 200)
    fit = fit_gaussians(gaussians(peak, fwhm, height), GRID)
    assert isinstance(fit, GaussianFit)
    assert np.all(fit.status == "ok")
    np.testing.assert_allclose(fit.peak_nm, peak, atol=1e-6)
    np.testing.assert_allclose(fit.fwhm_nm, fwhm, atol=1e-6)
    np.testing.assert_allclose(fit.height, height, rtol=1e-8)
    sigma = fwhm / FWHM_PER_SIGMA
    np.testing.assert_allclose(fit.area, height * sigma * np.sqrt(2 * np.pi), rtol=1e-8)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-10)


def test_any_leading_shape_is_kept_and_empty_stacks_work():
    rng = np.random.default_rng(2)
    peak, fwhm, height = (v.reshape(2, 3, 4) for v in random_truth(rng, 24))
    fit = fit_gaussians(gaussians(peak, fwhm, height), GRID)
    for name in ("peak_nm", "fwhm_nm", "height", "area", "r2", "status", "status_code", "peak_stderr_nm"):
        assert getattr(fit, name).shape == (2, 3, 4), name
    np.testing.assert_allclose(fit.peak_nm, peak, atol=1e-6)
    single = fit_gaussians(gaussians(510.0, 30.0, 1e4), GRID)
    assert single.shape == () and single.status == "ok"
    assert fit_gaussians(np.empty((0, GRID.size)), GRID).peak_nm.shape == (0,)


def test_agrees_with_lmfit_within_0p01_nm_on_noise_free_spectra():
    models = pytest.importorskip("lmfit.models")
    rng = np.random.default_rng(3)
    peak, fwhm, height = random_truth(rng, 8)
    spectra = gaussians(peak, fwhm, height)
    fit = fit_gaussians(spectra, GRID)
    model = models.GaussianModel()
    for i, y in enumerate(spectra):
        ref = model.fit(y, model.guess(y, x=GRID), x=GRID)
        assert abs(fit.peak_nm[i] - ref.params["center"].value) < 0.01
        assert abs(fit.fwhm_nm[i] - ref.params["fwhm"].value) < 0.01


def test_agrees_with_lmfit_within_its_standard_error_on_noisy_spectra():
    models = pytest.importorskip("lmfit.models")
    rng = np.random.default_rng(4)
    peak, fwhm, height = random_truth(rng, 20)
    spectra = rng.poisson(gaussians(peak, fwhm, height) + 10.0).astype(float)
    fit = fit_gaussians(spectra, GRID)
    assert np.all(fit.status == "ok")
    model = models.GaussianModel()
    for i, y in enumerate(spectra):
        ref = model.fit(y, model.guess(y, x=GRID), x=GRID)
        center, width = ref.params["center"], ref.params["fwhm"]
        assert abs(fit.peak_nm[i] - center.value) <= center.stderr
        assert abs(fit.fwhm_nm[i] - width.value) <= width.stderr
        assert fit.peak_stderr_nm[i] == pytest.approx(center.stderr, rel=0.05)
        assert fit.fwhm_stderr_nm[i] == pytest.approx(width.stderr, rel=0.05)


def test_saturated_points_are_masked_not_fitted_as_zero():
    spectra = gaussians([515.0, 505.0], [26.0, 34.0], [6e4, 9e4])
    spectra[spectra > 4e4] = np.nan  # the reader's OVRFLW
    fit = fit_gaussians(spectra, GRID)
    assert list(fit.status) == ["saturated", "saturated"]
    np.testing.assert_allclose(fit.peak_nm, [515.0, 505.0], atol=1e-6)
    np.testing.assert_allclose(fit.fwhm_nm, [26.0, 34.0], atol=1e-6)
    np.testing.assert_allclose(fit.height, [6e4, 9e4], rtol=1e-6)
    assert np.all(fit.usable)


def test_dark_and_empty_wells_are_no_peak_with_nan_features():
    rng = np.random.default_rng(5)
    dark = rng.poisson(10.0, size=(40, GRID.size)).astype(float)
    zeros = np.zeros((1, GRID.size))
    bright = gaussians(512.0, 28.0, 2e4)[None, :] + 10.0
    fit = fit_gaussians(np.concatenate([dark, zeros, bright]), GRID)
    assert np.all(fit.status[:41] == "no_peak")
    assert np.all(np.isnan(fit.peak_nm[:41])) and np.all(np.isnan(fit.height[:41]))
    assert fit.status[41] == "ok"
    assert np.all(fit.status_code[:41] == FitStatus.NO_PEAK)


def test_dark_wells_stay_no_peak_with_a_baseline_fit():
    rng = np.random.default_rng(6)
    dark = rng.poisson(10.0, size=(40, GRID.size)).astype(float)
    assert np.all(fit_gaussians(dark, GRID, baseline=True).status == "no_peak")


def test_a_very_broad_hump_is_not_reported_as_a_peak():
    # the paper's 1:0.8 well whose fitted FWHM came out as 219 nm
    hump = gaussians(520.0, 219.0, 300.0) + 10.0
    fit = fit_gaussians(hump, GRID)
    assert fit.status == "no_peak" and np.isnan(fit.fwhm_nm)


def test_baseline_option_recovers_a_gaussian_on_a_sloped_background():
    background = 50.0 + 0.4 * (GRID - 400.0)
    spectra = gaussians([500.0, 520.0], [24.0, 38.0], [3e3, 1.5e4]) + background
    fit = fit_gaussians(spectra, GRID, baseline=True)
    assert np.all(fit.status == "ok")
    np.testing.assert_allclose(fit.peak_nm, [500.0, 520.0], atol=1e-6)
    np.testing.assert_allclose(fit.fwhm_nm, [24.0, 38.0], atol=1e-6)
    np.testing.assert_allclose(fit.height, [3e3, 1.5e4], rtol=1e-7)
    np.testing.assert_allclose(fit.baseline_slope_per_nm, 0.4, rtol=1e-6)
    np.testing.assert_allclose(fit.baseline_offset, 50.0 + 0.4 * (fit.peak_nm - 400.0), rtol=1e-6)


def test_a_missing_spectrum_in_a_stack_is_flagged_no_data():
    spectra = gaussians([510.0, 515.0], [30.0, 30.0], [1e4, 1e4])
    spectra[1] = np.nan
    fit = fit_gaussians(spectra, GRID)
    assert list(fit.status) == ["ok", "no_data"]
    assert np.isnan(fit.peak_nm[1])


def test_iteration_limit_is_flagged_did_not_converge():
    rng = np.random.default_rng(7)
    spectra = rng.poisson(gaussians(*random_truth(rng, 30)) + 10.0).astype(float)
    fit = fit_gaussians(spectra, GRID, max_iter=1)
    assert np.any(fit.status == "did_not_converge")
    assert not np.any(fit.usable & (fit.status == "did_not_converge"))


@pytest.mark.parametrize(
    "spectra, grid, field",
    [
        (np.ones((2, GRID.size)), GRID[::-1], "wavelength_nm"),
        (np.ones((2, GRID.size)), np.r_[GRID[:5], GRID[4:]][: GRID.size], "wavelength_nm"),
        (np.ones((2, GRID.size - 1)), GRID, "spectra"),
        (np.full((3, GRID.size), np.nan), GRID, "spectra"),
        (np.array([[1.0, 2.0, 3.0]]), np.array([1.0, 2.0, 3.0]), "wavelength_nm"),
        (np.full((1, GRID.size), -np.inf), GRID, "spectra"),
        ([["a"] * GRID.size], GRID, "spectra"),
    ],
    ids=["decreasing grid", "repeated wavelength", "length mismatch", "all NaN", "too few points", "all -inf", "text"],
)
def test_bad_input_raises_a_fit_error_naming_the_field(spectra, grid, field):
    with pytest.raises(FitError, match=field):
        fit_gaussians(spectra, grid)


def test_negative_counts_beyond_noise_are_flagged_and_the_rest_fitted():
    rng = np.random.default_rng(8)
    spectra = gaussians([510.0, 515.0, 520.0], [30.0, 30.0, 28.0], [1e4, 1e4, 8e3]) + rng.normal(0, 3.0, (3, GRID.size))
    fit = fit_gaussians(spectra, GRID)  # dips of a few counts below zero are noise
    assert np.all(fit.status == "ok")
    good = fit.peak_nm.copy()
    spectra[1, 10] = -5000.0  # one corrupt point (a real export's bad blank subtraction)
    spectra[2] -= 3000.0  # a whole spectrum far below zero
    fit = fit_gaussians(spectra, GRID)
    assert list(fit.status) == ["ok", "negative_counts", "negative_counts"]
    assert fit.peak_nm[0] == good[0]  # the good spectrum's fit does not depend on its bad neighbours
    assert np.isnan(fit.peak_nm[1:]).all() and np.isnan(fit.height[1:]).all()
    assert not fit.usable[1:].any()
    assert FitStatus.NEGATIVE_COUNTS.label == "negative_counts"


def test_minus_inf_points_flag_their_spectrum_only():
    spectra = gaussians([510.0, 515.0], [30.0, 30.0], [1e4, 1e4])
    spectra[0, 3] = -np.inf
    fit = fit_gaussians(spectra, GRID)
    assert list(fit.status) == ["negative_counts", "ok"]


def test_negative_spectra_in_a_big_stack_do_not_stop_the_blocks():
    import twin.analysis.fitting as fitting

    rng = np.random.default_rng(2)
    stack = gaussians(np.full(fitting.BLOCK + 7, 512.0), np.full(fitting.BLOCK + 7, 30.0),
                      np.full(fitting.BLOCK + 7, 1e4)) + rng.normal(0, 3.0, (fitting.BLOCK + 7, GRID.size))
    stack[[5, fitting.BLOCK + 3]] -= 2000.0
    fit = fit_gaussians(stack.reshape(1, -1, GRID.size), GRID)
    bad = np.flatnonzero(fit.status[0] == "negative_counts")
    assert list(bad) == [5, fitting.BLOCK + 3]
    assert (fit.status[0][np.setdiff1d(np.arange(stack.shape[0]), bad)] == "ok").all()


@pytest.mark.parametrize("option", [{"min_snr": -1.0}, {"max_fwhm_nm": 0.0}, {"max_iter": 0}])
def test_bad_options_raise_a_fit_error_naming_the_option(option):
    with pytest.raises(FitError, match=next(iter(option))):
        fit_gaussians(gaussians(510.0, 30.0, 1e4), GRID, **option)


def test_pooled_second_pass_gives_the_same_fits_as_one_pass():
    """Stragglers are refitted together; every spectrum's result must not depend on that."""
    import twin.analysis.fitting as fitting

    rng = np.random.default_rng(3)
    wl = np.arange(400.0, 651.0, 2.0)
    bright = 2e4 * np.exp(-0.5 * ((wl - rng.uniform(495, 522, (300, 1))) / 12) ** 2)
    dim = 40 * np.exp(-0.5 * ((wl - 510) / 15) ** 2) * rng.uniform(0, 1, (300, 1))  # noise-level bumps: stragglers
    spectra = np.vstack([bright, dim]) + rng.normal(10, 5, (600, wl.size))
    pooled = fitting.fit_gaussians(spectra, wl)
    old = fitting.FIRST_PASS_ITER
    try:
        fitting.FIRST_PASS_ITER = 10_000  # one pass with the full cap
        single = fitting.fit_gaussians(spectra, wl)
    finally:
        fitting.FIRST_PASS_ITER = old
    assert (pooled.n_iter >= old).any()  # the second pass did run
    for name in ("peak_nm", "fwhm_nm", "height", "area", "r2", "n_iter"):
        assert np.array_equal(getattr(pooled, name), getattr(single, name), equal_nan=True), name
    assert np.array_equal(pooled.status, single.status)
