"""LarpModel contract: shapes, vectorisation, dark wells, batches, non-negative finite output, errors."""

from __future__ import annotations

import numpy as np
import pytest

from chemistry import (AMINE_PER_ACID_SERIES, ChemistryError, LarpModel, LarpParameters, WellRecipes,
                       reference_recipe, spectral_features, standard_recipes)

WL = np.arange(400.0, 651.0, 2.0)


@pytest.fixture(scope="module")
def plate():
    recipes = [standard_recipes(AMINE_PER_ACID_SERIES, s, lig, a)
               for s in ("toluene", "chloroform") for lig in ("C18", "C8") for a in (1 / 30, 1 / 15)]
    return WellRecipes.from_volumes(
        antisolvent=[x.name for r in recipes for x in r.antisolvent],
        antisolvent_uL=150.0 * np.ones(sum(r.n_wells for r in recipes)), cs_uL=100.0, pbbr2_uL=15.0,
        acid=[x.name for r in recipes for x in r.acid],
        acid_uL=np.concatenate([r.acid_umol / r.acid[0].umol_per_uL for r in recipes]),
        amine=[x.name for r in recipes for x in r.amine],
        amine_uL=np.concatenate([r.amine_umol / r.amine[0].umol_per_uL for r in recipes]))


def test_reference_well_peak_height_is_one(model):
    f = spectral_features(np.arange(480, 560, 0.02), model.spectra(reference_recipe(), 0.0, np.arange(480, 560, 0.02)))
    assert f.height[0] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("ages,shape", [(0.0, (104,)), (np.full(104, 30.0), (104,)),
                                        (np.tile(np.arange(0, 730, 10.0), (104, 1)), (104, 73)),
                                        (np.arange(0, 730, 10.0)[None, :], (104, 73))])
def test_shapes_for_scalar_vector_and_matrix_ages(model, plate, ages, shape):
    spectra = model.spectra(plate, ages, WL)
    assert spectra.shape == shape + (WL.size,) and spectra.dtype == np.float64
    state = model.state(plate, ages)
    for name in ("f_cspbbr3", "f_cs4pbbr6", "f_platelet", "f_dissolved", "edge_nm", "size_dispersion",
                 "defect_level", "qy", "peak_nm", "fwhm_nm", "emissive_amount"):
        assert getattr(state, name).shape == shape, name
    assert model.absorbance(plate, ages, WL).shape == shape + (WL.size,)


def test_vectorised_equals_one_well_at_a_time(model, plate):
    ages = np.tile(np.array([0.0, 45.0, 300.0, 720.0]), (plate.n_wells, 1))
    batch = model.sample_batch(plate.n_wells, np.random.default_rng(3))
    full = model.spectra(plate, ages, WL, batch)
    for i in (0, 17, 60, 103):
        sub_batch = type(batch)(*(getattr(batch, f)[[i]] for f in
                                  ("size_multiplier", "rate_multiplier", "intensity_multiplier",
                                   "dispersion_multiplier", "peak_offset_eV")))
        one = model.spectra(plate.subset([i]), ages[[i]], WL, sub_batch)
        np.testing.assert_allclose(full[i], one[0], rtol=1e-12, atol=1e-15)


def test_spectra_non_negative_and_finite_everywhere(model, plate):
    ages = np.tile(np.arange(0, 730, 10.0), (plate.n_wells, 1))
    for batch in (None, model.sample_batch(plate.n_wells, np.random.default_rng(1))):
        s = model.spectra(plate, ages, WL, batch)
        assert np.all(np.isfinite(s)) and np.all(s >= 0)
        a = model.absorbance(plate, ages, WL, batch)
        assert np.all(np.isfinite(a)) and np.all(a >= 0)


def test_fractions_are_a_partition(model, plate):
    st = model.state(plate, np.tile(np.arange(0, 730, 30.0), (plate.n_wells, 1)))
    total = st.f_cspbbr3 + st.f_cs4pbbr6 + st.f_platelet + st.f_dissolved
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert np.all(st.f_embedded <= st.f_cs4pbbr6 + 1e-15)
    for f in (st.f_cspbbr3, st.f_cs4pbbr6, st.f_platelet, st.f_dissolved):
        assert np.all(f >= -1e-15) and np.all(f <= 1 + 1e-12)


def test_empty_and_not_yet_injected_wells_are_dark(model):
    r = WellRecipes.from_volumes("toluene", np.full(4, 150.0), [100.0, 100.0, 0.0, 100.0], [0.0, 15.0, 15.0, 15.0],
                                 "OAc", 0.5, "OLAm", 0.05)
    ages = np.array([[10.0, np.nan, 5.0], [np.nan, -3.0, -0.1], [10.0, 20.0, 30.0], [0.0, 10.0, np.nan]])
    s = model.spectra(r, ages, WL)
    assert np.all(s[0] == 0) and np.all(s[1] == 0) and np.all(s[2] == 0)
    assert np.all(s[3, :2].max(axis=-1) > 0.5) and np.all(s[3, 2] == 0)
    st = model.state(r, ages)
    assert np.isnan(st.peak_nm[0]).all() and st.f_cspbbr3[1].max() == 0
    assert np.all(model.absorbance(r, ages, WL)[:3] == 0)


def test_sample_batch_reproducible_with_seed(model):
    a = model.sample_batch(96, np.random.default_rng(42))
    b = model.sample_batch(96, np.random.default_rng(42))
    c = model.sample_batch(96, np.random.default_rng(43))
    for name in ("size_multiplier", "rate_multiplier", "intensity_multiplier", "peak_offset_eV"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))
    assert np.all(a.intensity_multiplier > 0)


def test_batch_variability_is_small_and_changes_spectra(model):
    r = standard_recipes(np.full(200, 0.1))
    batch = model.sample_batch(200, np.random.default_rng(7))
    f = spectral_features(np.arange(480, 560, 0.2), model.spectra(r, 0.0, np.arange(480, 560, 0.2), batch))
    # issue 12: failed wells (~5 %, real_data: 2 of 40) keep a few % of the emission; the rest scatter like the
    # lab's acid-majority wells (~16 % in height, ~2 nm in peak)
    failed = batch.intensity_multiplier < 0.06
    assert 1 <= failed.sum() <= 25
    ok = ~failed
    assert 0.02 < np.std(f.height[ok]) < 0.3
    assert 0.05 < np.std(f.peak_nm[ok]) < 3.0


def test_model_is_deterministic_without_batch(model, plate):
    ages = np.full(plate.n_wells, 60.0)
    np.testing.assert_array_equal(model.spectra(plate, ages, WL), model.spectra(plate, ages, WL))


def test_bad_ages_and_wavelengths_raise(model, plate):
    with pytest.raises(ChemistryError, match="age_min"):
        model.spectra(plate, np.zeros(3), WL)
    with pytest.raises(ChemistryError, match="age_min"):
        model.spectra(plate, np.full(plate.n_wells, np.inf), WL)
    with pytest.raises(ChemistryError, match=r"wavelength_nm\[1\]"):
        model.spectra(plate, 0.0, np.array([400.0, -1.0]))
    with pytest.raises(ChemistryError, match="batch"):
        model.spectra(plate, 0.0, WL, model.sample_batch(3, np.random.default_rng(0)))
    with pytest.raises(ChemistryError, match="rng"):
        model.sample_batch(3, 42)


def test_absorbance_band_edge_exciton_and_cs4pbbr6_scattering(model):
    wl = np.arange(300.0, 651.0, 1.0)
    r = standard_recipes([0.1, 2.0])
    od = model.absorbance(r, 0.0, wl)
    bright = od[0]
    edge_region = (wl > 480) & (wl < 540)
    assert bright[wl == 450][0] > 5 * bright[wl == 600][0]  # absorbs above the gap, transparent below
    slope = -np.gradient(bright[edge_region], wl[edge_region])
    assert 500 <= wl[edge_region][np.argmax(slope)] <= 530  # band edge ~505-525 nm
    assert od[1][wl == 314][0] > od[0][wl == 314][0]  # Cs4PbBr6 band at 314 nm in the amine-rich well
    assert od[1][wl == 640][0] > od[0][wl == 640][0]  # scattering tail from Cs4PbBr6 particles


def test_custom_parameters_are_used():
    p = LarpParameters.calibrated().model_copy(update={"reference_edge_nm": 10.0})
    f = spectral_features(WL, LarpModel(p).spectra(reference_recipe(), 0.0, WL))
    assert f.peak_nm[0] < 518.0


def test_temperature_speeds_kinetics(model):
    cold = standard_recipes([0.1], "chloroform", temperature_C=15.0)
    hot = standard_recipes([0.1], "chloroform", temperature_C=45.0)
    assert model.state(hot, 300.0).f_cspbbr3[0] < model.state(cold, 300.0).f_cspbbr3[0]


def test_threaded_large_plate_matches_single_wells(model):
    """A full plate (rendered in parallel chunks) equals the same wells rendered one by one."""
    ratios = np.resize(np.array(AMINE_PER_ACID_SERIES), 384)
    plate = standard_recipes(ratios, "chloroform")
    ages = np.tile(np.arange(0, 730, 10.0), (384, 1))
    full = model.spectra(plate, ages, WL)
    for i in (0, 100, 383):
        one = model.spectra(plate.subset([i]), ages[[i]], WL)
        np.testing.assert_allclose(full[i], one[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("solvent", ["hexane", "octane", "cyclohexane", "xylene", "chlorobenzene",
                                     "dichloromethane", "ethyl acetate"])
def test_other_antisolvents_give_finite_green_or_blue_emission(model, solvent):
    r = standard_recipes([0.1, 1.0, 2.0], solvent)
    s = model.spectra(r, np.tile([0.0, 360.0, 720.0], (3, 1)), WL)
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and s[:, 0].max() > 0.01


def test_more_polar_antisolvent_blue_shifts_and_destabilises(model):
    """Discussion of Fig 6/7: polarity (dielectric constant, Snyder index) drives solvation and desorption."""
    solvents = ["toluene", "chlorobenzene", "chloroform"]
    peaks, kept = [], []
    for s in solvents:
        st = model.state(standard_recipes([0.1], s), np.array([[0.0, 720.0]]))
        peaks.append(st.nc_peak_nm[0, 0])
        kept.append(st.f_cspbbr3[0, 1] / st.f_cspbbr3[0, 0])
    assert peaks[0] > peaks[1] > peaks[2]
    assert kept[0] > kept[1] > kept[2]


def test_platelets_only_beyond_chloroform_polarity(model):
    """Refs 45/47 of the paper: polar solvents and amine-poor ligands favour platelets; none in toluene/CF."""
    for s, expect in (("toluene", False), ("chloroform", False), ("dichloromethane", True)):
        st = model.state(standard_recipes([0.1], s), 0.0)
        assert (st.f_platelet[0] > 0) == expect, s


def test_new_chain_length_ligands_work(model):
    from chemistry import ACIDS, AMINES
    r = WellRecipes.from_volumes("toluene", [150.0, 150.0], 100.0, 15.0, ["DecAc", "OAc"], 0.5,
                                 ["DDAm", "OLAm"], 0.05)
    st = model.state(r, 60.0)
    assert "DecAc" in ACIDS and "DDAm" in AMINES
    assert np.all(np.isfinite(st.peak_nm)) and st.qy[0] > 0
    # C10/C12 chains sit between C8 and C18 in size
    c8 = model.state(standard_recipes([0.1], ligands="C8"), 60.0)
    assert c8.edge_nm[0] < st.edge_nm[0] < st.edge_nm[1] * 1.01


def test_absorbance_scales_with_path_length(model):
    r = standard_recipes([0.1, 2.0])
    wl = np.array([365.0, 450.0, 600.0])
    column = model.absorbance(r, 30.0, wl)
    thin = model.absorbance(r, 30.0, wl, path_length_cm=0.1)
    np.testing.assert_allclose(thin / 0.1, column / (r.total_uL[:, None] * 1e-3 / model.params.well_area_cm2))
    with pytest.raises(ChemistryError, match="path_length_cm"):
        model.absorbance(r, 30.0, wl, path_length_cm=-1.0)
