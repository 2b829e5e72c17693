"""Every claim of Sanchez et al., Matter 6 (2023) that the model reproduces, one test each, figure in the docstring.

Peak, FWHM and height are read off the model's noise-free spectra (argmax / half maximum on a 1 nm grid), or from
the model state where the claim is about structure (XRD, TEM, TRPL). Heights are relative to the reference bright
well (toluene, OAc:OLAm 1:0.1, 1:30) at t = 0.
"""

from __future__ import annotations

import numpy as np

from chemistry import WellRecipes

T30, T15 = 1 / 30, 1 / 15
ACID_MAJORITY = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_toluene_acid_majority_peak_above_520_fwhm_about_26_stable_12h(series):
    """Fig 2A/C/E: toluene, OAc:OLAm 1:30, OAc > OLAm: PL > 520 nm, FWHM ~26 nm, strong, kept after 12 h."""
    s = series("toluene", "C18", T30)
    rows = [s.at(r) for r in ACID_MAJORITY]
    t0, t12 = s.t(0), s.t(720)
    assert np.all(s.peak[rows, t0] > 520.0)
    assert np.all(s.peak[rows, t12] > 520.0)
    assert np.all(np.abs(s.fwhm[rows, t0] - 26.0) < 1.5)
    assert np.all(np.abs(s.fwhm[rows, t12] - 26.0) < 1.5)
    assert np.all(s.height[rows, t12] / s.height[rows, t0] > 0.85)


def test_more_olam_blue_shifts_and_dims(series):
    """Fig 2A/C: adding OLAm blue-shifts the PL and suppresses its intensity (1:30, toluene, t = 0)."""
    s = series("toluene", "C18", T30)
    peak, height = s.peak[:, s.t(0)], s.height[:, s.t(0)]
    assert np.all(np.diff(peak) < 0.05)
    assert np.all(np.diff(height) < 0)
    assert peak[s.at(0.1)] - peak[s.at(2.0)] > 5.0
    assert height[s.at(2.0)] < 0.25 * height[s.at(0.1)]


def test_amine_majority_fwhm_about_30_in_toluene(series):
    """Fig 2E: with OLAm in the majority the FWHM grows to ~30 nm (Cs4PbBr6 emergence)."""
    s = series("toluene", "C18", T30)
    fwhm = s.fwhm[[s.at(1.5), s.at(2.0)], s.t(0)]
    assert np.all(np.abs(fwhm - 30.0) < 2.5)
    assert np.all(fwhm > s.fwhm[s.at(0.1), s.t(0)] + 1.0)


def test_1to15_lower_intensity_wider_fwhm_more_gradual(series):
    """Fig 2B/D/F, S3: ligand:PbBr2 1:15 vs 1:30 -> lower intensity, wider FWHM and a more gradual (slower)
    CsPbBr3 -> Cs4PbBr6 change (Le Chatelier: uncoordinated ligands retard disintegration)."""
    s30, s15 = series("toluene", "C18", T30), series("toluene", "C18", T15)
    t0, t12 = s30.t(0), s30.t(720)
    assert np.all(s15.height[:, t0] < s30.height[:, t0])
    assert np.all(s15.fwhm[:, t0] > s30.fwhm[:, t0])
    rows = [s30.at(r) for r in (1.2, 1.5, 2.0)]
    late = lambda s: (s.state.f_cs4pbbr6[rows, t12] - s.state.f_cs4pbbr6[rows, t0]) / s.state.f_cs4pbbr6[rows, t12]  # noqa: E731
    assert np.all(late(s15) > late(s30) + 0.1)


def test_1to15_amine_drop_and_broadening_more_apparent(series):
    """Fig 2 text: the intensity drop and FWHM widening with amine are more apparent at 1:15."""
    s30, s15 = series("toluene", "C18", T30), series("toluene", "C18", T15)
    t0, lo, hi = s30.t(0), s30.at(0.1), s30.at(2.0)
    assert s15.height[hi, t0] / s15.height[lo, t0] < s30.height[hi, t0] / s30.height[lo, t0]
    assert s15.fwhm[hi, t0] - s15.fwhm[lo, t0] > s30.fwhm[hi, t0] - s30.fwhm[lo, t0]


def test_octyl_sudden_blue_shift_when_amine_exceeds_acid(series):
    """Fig S5A: OctAc:OctAm, a sudden blue shift once OctAm exceeds OctAc (free, unprotonated amine)."""
    s = series("toluene", "C8", T30)
    peak = s.peak[:, s.t(0)]
    steps = -np.diff(peak)  # blue shift per step in ratio
    acid_rich_steps = steps[: s.at(1.0)]
    jump = peak[s.at(1.0)] - peak[s.at(1.5)]
    assert jump > 5.0
    assert jump > 4.0 * acid_rich_steps.max()


def test_octyl_fwhm_about_27p5_acid_rich_35_amine_rich(series):
    """Fig S5C: OctAc:OctAm FWHM ~27.5 nm when OctAc is in the majority, ~35 nm when OctAm is."""
    s = series("toluene", "C8", T30)
    t0 = s.t(0)
    assert np.all(np.abs(s.fwhm[[s.at(r) for r in (0.1, 0.3, 0.5)], t0] - 27.5) < 1.5)
    assert np.all(np.abs(s.fwhm[[s.at(r) for r in (1.5, 2.0)], t0] - 35.0) < 2.0)


def test_octyl_pl_rises_then_collapses_within_hours(series):
    """Fig 3E-H, S5B: C8 ligands give unstable colloids: the PL first grows, then collapses within hours."""
    s = series("toluene", "C8", T30)
    for r in (0.1, 0.5, 1.0):
        h = s.height[s.at(r)]
        i_max = int(np.argmax(h))
        assert 0 < s.times[i_max] <= 180.0
        assert h[i_max] > 1.1 * h[0]
        assert h[s.t(720)] < 0.1 * h[i_max]


def test_octyl_large_temporal_changes_vs_oleyl_small(series):
    """Fig 3A-D vs 3E-H: OAc:OLAm changes little over 12 h, OctAc:OctAm changes vastly."""
    c18, c8 = series("toluene", "C18", T30), series("toluene", "C8", T30)
    change = lambda s: np.ptp(s.height, axis=1) / s.height.max(axis=1)  # noqa: E731  (relative swing over 12 h)
    rows = [c18.at(r) for r in (0.1, 1.0, 1.5, 2.0)]
    assert np.all(change(c18)[rows] < 0.3)
    assert np.all(change(c8)[[c8.at(r) for r in (0.1, 0.5, 1.0)]] > 0.8)


def test_octyl_chloroform_pl_appears_then_vanishes(series):
    """Fig S13, S4: OctAc:OctAm in chloroform: PL peaks emerge initially, then rapidly disappear."""
    s = series("chloroform", "C8", T30)
    for r in s.ratios:
        h = s.height[s.at(r)]
        assert h[: s.t(30) + 1].max() > 0.01
        assert h[s.t(120)] < 0.1 * h.max()
        assert h[s.t(720)] < 0.1 * h.max()  # and it does not come back


def test_chloroform_peaks_near_500_blue_shift_with_olam(series):
    """Fig 6A: in chloroform the PL sits near 500 nm (vs ~520 nm in toluene) and blue-shifts with OLAm."""
    # issue 12: "t = 0" is the lab's first read, ~20-30 min after injection (real_data: read 3 at run 21 min, wells
    # injected ~1-10 min before the run); there the lab's own 1:30 wells span 488.9-510.6 nm, i.e. "around 500 nm"
    # ("the PL peak positions exhibit at shorter wavelengths (around 500 nm) than those from toluene (around
    # 520 nm) and undergo blueshifts with increasing OLAm", Fig. 6A text) means within ~12 nm of 500
    cf, tol = series("chloroform", "C18", T30), series("toluene", "C18", T30)
    t0 = cf.t(30)
    assert np.all(np.abs(cf.peak[:, t0] - 500.0) < 12.0)
    assert np.all(np.diff(cf.peak[:, t0]) < 0.5)  # amine-majority wells sit flat at ~490 nm (lab: 488.9-491.2)
    assert cf.peak[cf.at(0.1), t0] - cf.peak[cf.at(2.0), t0] > 3.0
    assert np.all(tol.peak[:, t0] - cf.peak[:, t0] > 10.0)


def test_chloroform_acid_majority_suppressed_amine_majority_grows_after_12h(series):
    """Fig 6B: after 12 h in chloroform, OAc-majority PL is largely suppressed and OLAm-majority PL increases."""
    s = series("chloroform", "C18", T30)
    ratio = s.height[:, s.t(720)] / s.height[:, s.t(0)]
    assert np.all(ratio[[s.at(r) for r in ACID_MAJORITY]] < 0.3)
    assert np.all(ratio[[s.at(r) for r in (1.5, 2.0)]] > 1.3)


def test_chloroform_fwhm_broadens_with_olam_at_t0_about_25_after_12h(series):
    """Fig 6C: FWHM broadens with OLAm at t = 0; the bright amine-majority wells show ~25 nm after 12 h."""
    s = series("chloroform", "C18", T30)
    assert s.fwhm[s.at(2.0), s.t(0)] > s.fwhm[s.at(0.1), s.t(0)]
    # issue 12: the lab's own fits of these wells at 10.7 h give 25.8-26.8 nm (real_data, B1-B10); the paper's
    # text: "a broadening tendency in FWHMs with an increase of OLAm at the initial stage but no appreciable
    # differences, particularly after 12 h" -> within 2.5 nm of the lab's 26.2 nm
    assert np.all(np.abs(s.fwhm[[s.at(1.5), s.at(2.0)], s.t(720)] - 26.2) < 2.5)


def test_no_emission_below_500_in_toluene(series):
    """Fig 3 text: no PL centred below 500 nm in any toluene batch; no platelets under these conditions."""
    for ligands in ("C18", "C8"):
        for a in (T30, T15):
            s = series("toluene", ligands, a)
            visible = s.height > 1e-3
            assert np.all(s.peak[visible] >= 500.0), (ligands, a)
            assert np.all(s.state.f_platelet == 0.0)


def test_optimal_1to0p1_stable_12h(series):
    """Discussion (Fig 3A): the optimal 1:0.1 OAc:OLAm in toluene keeps its PL features over 12 h."""
    s = series("toluene", "C18", T30)
    i = s.at(0.1)
    assert np.ptp(s.peak[i]) < 1.0
    assert np.ptp(s.fwhm[i]) < 1.0
    assert s.height[i].min() / s.height[i].max() > 0.9


def test_optimal_range_brightest_and_narrowest(series):
    """Fig 4C: 1:0.1-1:0.5 OAc:OLAm gives the highest intensity and narrowest FWHM; 1:1 and above the lowest."""
    s = series("toluene", "C18", T30)
    for t in (s.t(0), s.t(720)):
        assert s.ratios[np.argmax(s.height[:, t])] <= 0.5
        assert s.ratios[np.argmin(s.fwhm[:, t])] <= 0.5
        assert s.height[s.ratios >= 1.0, t].max() < s.height[s.ratios <= 0.5, t].min()


def test_acid_majority_pure_cspbbr3_amine_majority_adds_cs4pbbr6(series):
    """Fig 5E (XRD): OAc majority -> CsPbBr3 only; more OLAm -> CsPbBr3 + Cs4PbBr6."""
    s = series("toluene", "C18", T30)
    f46 = s.state.f_cs4pbbr6
    assert np.all(f46[[s.at(r) for r in ACID_MAJORITY]] < 0.02)
    assert np.all(f46[[s.at(r) for r in (1.5, 2.0)]] > 0.1)
    assert np.all(s.state.f_cspbbr3[[s.at(r) for r in (1.5, 2.0)]] > 0.0)


def test_amine_rich_more_defects_lower_qy(series):
    """Fig 5F, Table S1 (TRPL): acid-rich NCs live longer (fewer surface defects); amine-rich shorter."""
    s = series("toluene", "C18", T30)
    defect, qy = s.state.defect_level[:, 0], s.state.qy[:, 0]
    assert np.all(np.diff(defect) > 0)
    assert np.all(np.diff(qy) < 0)


def test_olam_shrinks_nanocrystals(series):
    """Fig 2A text and Fig 5A/B (TEM 10 -> 7 nm): more OLAm -> smaller NCs (the cause of the blue shift)."""
    s = series("toluene", "C18", T30)
    edge = s.state.edge_nm[:, 0]
    assert np.all(np.diff(edge) < 0)


def test_chloroform_less_stable_than_toluene(series):
    """Fig 6 vs Fig 2, Discussion: the polar antisolvent decomposes the NCs faster (fewer intact CsPbBr3 at 12 h)."""
    cf, tol = series("chloroform", "C18", T30), series("toluene", "C18", T30)
    t12 = cf.t(720)
    assert np.all(cf.state.f_cspbbr3[:, t12] < tol.state.f_cspbbr3[:, t12])


def test_more_pbbr2_red_shifts_and_brightens(model):
    """Fig 4A/B (SHAP): more PbBr2 against fixed ligand -> red shift and higher intensity
    (the learning table's PbBr2 150/200/300 against OAc 100, i.e. 1:15, 1:20, 1:30)."""
    from chemistry import spectral_features
    grid = np.arange(400.0, 651.0, 1.0)
    pb = np.array([7.5, 10.0, 15.0])
    recipes = WellRecipes.from_volumes("toluene", np.full(3, 150.0), 100.0, pb, "OAc", 0.5, "OLAm", 0.25)
    f = spectral_features(grid, model.spectra(recipes, 0.0, grid))
    assert np.all(np.diff(f.peak_nm) > 0)
    assert np.all(np.diff(f.height) > 0)


def test_toluene_red_chloroform_blue(model):
    """Fig 4A (SHAP): chloroform pushes the peak blue, toluene red, for every ligand ratio and pair."""
    from chemistry import spectral_features, standard_recipes
    grid = np.arange(400.0, 651.0, 1.0)
    for ligands in ("C18", "C8"):
        tol = spectral_features(grid, model.spectra(standard_recipes([0.1, 1.0], "toluene", ligands), 5.0, grid))
        cf = spectral_features(grid, model.spectra(standard_recipes([0.1, 1.0], "chloroform", ligands), 5.0, grid))
        assert np.all(tol.peak_nm > cf.peak_nm + 5.0)
