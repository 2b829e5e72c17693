"""The paper's claims, each measured on the twin's noisy end-to-end data and judged PASS or FAIL.

Every claim comes from the chemistry issue's list (``tests/chemistry/test_paper_claims.py`` states them on the
noise-free model) or from the SHAP findings of the paper (Fig. 4, S7). Here they are measured the way the paper
measured them: Gaussian fits of reader spectra, "t = 0" = each well's first read, "12 h" = the read nearest 720 min.
With one well per condition and batch-to-batch variability, criteria use medians over a regime of ratios where the
noise-free test uses single wells; each criterion is written next to the number. Claims about structure (XRD, TEM,
TRPL) cannot be read by a plate reader: they are measured on the twin's hidden chemistry state for the volumes that
actually reached each well, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from scenarios.measure import PaperRun, Series, twin_state

ACID_MAJORITY = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
NOT_MEASURABLE = "NOT MEASURABLE"
VISIBLE_RFU = 200.0  # fits below this height are too close to the dark baseline to place a peak


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper says, where, what the twin measured, the criterion and the verdict."""

    key: str
    figure: str
    statement: str
    scenario: str
    measured: str
    criterion: str
    passed: bool
    note: str = ""
    #: False for claims about structure a plate reader cannot see (XRD, TEM, TRPL): ``passed`` then only says whether
    #: the twin's hidden chemistry state agrees, and the verdict is NOT MEASURABLE, counted apart from PASS/FAIL
    plate_reader: bool = True
    #: the paper's own words on how the claim was measured (why a plate reader cannot), for NOT MEASURABLE claims
    quote: str = ""

    @property
    def verdict(self) -> str:
        if not self.plate_reader:
            return NOT_MEASURABLE
        return "PASS" if self.passed else "FAIL"


#: the paper's methods: XRD, TEM and TRPL were measured off the plate, on other instruments (Experimental procedures)
XRD_QUOTE = ("\"XRD patterns were collected by using a high-resolution X-ray diffractometer (Malvern Panalytical "
             "Empyrean). The synthesized PNCs were drop casted onto a precleaned Si wafer and vacuum dried prior to "
             "mounting to the measurement stage.\"")
TEM_QUOTE = ("\"All TEM images were taken on the Zeiss Libra 200 MC. The PNCs were drop casted onto a TEM copper grid "
             "(200 mesh) coated with carbon formvar and left to dry over a filter for approximately a minute before "
             "loading.\"")
TRPL_QUOTE = ("\"TRPL dynamics were collected by using PL in the dynamic regimes measured by the SPEX Fluorolog 3 "
              "spectrometer. The TR photoexcitation source was from a pulsed laser beam (343 nm, 4 mW)\"")


def _state_note(passed: bool, detail: str = "") -> str:
    return ("twin chemistry state " + ("agrees" if passed else "disagrees") + " with the claim"
            + (f": {detail}" if detail else "") + ".")


def _med(values) -> float:
    return float(np.nanmedian(np.asarray(values, float)))


def _sel(s: Series, lo: float, hi: float) -> np.ndarray:
    return (s.ratios >= lo - 1e-9) & (s.ratios <= hi + 1e-9)


def _failed(h0: np.ndarray) -> np.ndarray:
    """Failed wells of a ratio series (a missed injection: a plate-map fact, not chemistry): first-read height below
    a fifth of both neighbours' (the one neighbour's at an end). Neighbouring ratios never differ 5x in the twin."""
    h = np.asarray(h0, float)
    left = np.r_[np.inf, h[:-1]]
    right = np.r_[h[1:], np.inf]
    near = np.minimum(np.where(np.isfinite(left), left, right), np.where(np.isfinite(right), right, left))
    return ~(h >= 0.2 * near)


def _rho(x, y) -> float:
    ok = np.isfinite(y)
    return float(spearmanr(np.asarray(x)[ok], np.asarray(y)[ok]).statistic)


def toluene_claims(run: PaperRun) -> list[Claim]:
    """Fig. 2, 3A-D, 4C, S3, 5E/F: OAc:OLAm in toluene at 1:30 and 1:15."""
    s30, s15 = run.series("toluene OAc:OLAm 1:30"), run.series("toluene OAc:OLAm 1:15")
    acid = _sel(s30, 0.1, 0.9)
    out = []
    # a failed well (a missed injection, a plate-map fact) has no peak to place: set aside, as in olam-dims
    lit = ~_failed(s30.t0("height"))[acid]
    p0, p12 = s30.t0("peak_nm")[acid][lit], s30.t12("peak_nm")[acid][lit]
    out.append(Claim("toluene-acid-majority-above-520", "Fig. 2A", "Toluene, OAc:OLAm 1:30, OAc majority: PL peak "
                     "> 520 nm at t = 0 and after 12 h", run.name,
                     f"peak min {np.nanmin(p0):.1f} nm (t0), {np.nanmin(p12):.1f} nm (12 h) over 1:0.1-1:0.9"
                     + (f"; {int((~lit).sum())} failed well(s) aside" if not lit.all() else ""),
                     "every acid-majority well > 520 nm at t0 and 12 h (failed wells aside)",
                     bool(np.all(p0 > 520) and np.all(p12 > 520))))
    f0, f12 = _med(s30.t0("fwhm_nm")[acid]), _med(s30.t12("fwhm_nm")[acid])
    out.append(Claim("toluene-acid-majority-fwhm-26", "Fig. 2E", "Acid-majority FWHM about 26 nm, kept after 12 h",
                     run.name, f"median FWHM {f0:.1f} nm (t0), {f12:.1f} nm (12 h)", "|median - 26| < 1.5 nm both",
                     abs(f0 - 26) < 1.5 and abs(f12 - 26) < 1.5))
    keep = _med(s30.t12("height")[acid] / s30.t0("height")[acid])
    out.append(Claim("toluene-acid-majority-stable-12h", "Fig. 2C", "Acid-majority PL stays strong after 12 h",
                     run.name, f"median height(12 h)/height(t0) {keep:.2f}", "> 0.85", keep > 0.85))
    peak0, h0 = s30.t0("peak_nm"), s30.t0("height")
    shift = _med(peak0[_sel(s30, 0.1, 0.3)]) - _med(peak0[_sel(s30, 1.8, 2.0)])
    rho_p = _rho(s30.ratios, peak0)
    out.append(Claim("olam-blue-shifts", "Fig. 2A", "More OLAm blue-shifts the PL (1:30, t = 0)", run.name,
                     f"shift 1:0.1-0.3 -> 1:1.8-2.0 {shift:.1f} nm; Spearman(ratio, peak) {rho_p:.2f}",
                     "shift > 5 nm and rho < -0.7", shift > 5 and rho_p < -0.7))
    dead = _failed(h0)  # a failed well says nothing about OLAm (the lab had 2 of 40, real_data README)
    hl = np.where(dead, np.nan, h0)
    dim = _med(hl[_sel(s30, 1.8, 2.0)]) / _med(hl[_sel(s30, 0.1, 0.3)])
    rho_h = _rho(s30.ratios, hl)
    out.append(Claim("olam-dims", "Fig. 2C", "More OLAm suppresses the PL intensity (1:30, t = 0)", run.name,
                     f"height 1:1.8-2.0 / 1:0.1-0.3 = {dim:.2f}; Spearman(ratio, height) {rho_h:.2f}"
                     + (f"; {int(dead.sum())} failed well(s) aside" if dead.any() else ""),
                     "ratio < 0.25 and rho < -0.8 (failed wells aside)", dim < 0.25 and rho_h < -0.8))
    fa = _med(s30.t0("fwhm_nm")[_sel(s30, 1.5, 2.0)])
    out.append(Claim("amine-majority-fwhm-30", "Fig. 2E", "OLAm majority: FWHM about 30 nm (Cs4PbBr6 emergence)",
                     run.name, f"median FWHM 1:1.5-2.0 {fa:.1f} nm vs {_med(s30.t0('fwhm_nm')[acid]):.1f} acid-rich",
                     "|median - 30| < 2.5 nm and > acid-rich + 1 nm",
                     abs(fa - 30) < 2.5 and fa > _med(s30.t0("fwhm_nm")[acid]) + 1))
    h_ratio = s15.t0("height") / s30.t0("height")
    w_diff = s15.t0("fwhm_nm") - s30.t0("fwhm_nm")
    out.append(Claim("1to15-dimmer-wider", "Fig. 2B/D/F, S3", "1:15 vs 1:30 ligand:PbBr2: lower intensity and "
                     "wider FWHM", run.name,
                     f"height 1:15/1:30 median {_med(h_ratio):.2f} (lower in {np.mean(h_ratio < 1):.0%} of ratios); "
                     f"FWHM +{_med(w_diff):.1f} nm (wider in {np.mean(w_diff > 0):.0%})",
                     "lower and wider in >= 80 % of the 20 ratios", np.mean(h_ratio < 1) >= 0.8 and
                     np.mean(w_diff > 0) >= 0.8))
    lo, hi = (0.1, 0.3), (1.8, 2.0)
    drop = {k: _med(s.t0("height")[_sel(s, *hi)]) / _med(s.t0("height")[_sel(s, *lo)]) for k, s in
            (("30", s30), ("15", s15))}
    widen = {k: _med(s.t0("fwhm_nm")[_sel(s, *hi)]) - _med(s.t0("fwhm_nm")[_sel(s, *lo)]) for k, s in
             (("30", s30), ("15", s15))}
    out.append(Claim("1to15-amine-effect-stronger", "Fig. 2 text", "Intensity drop and FWHM widening with amine are "
                     "more apparent at 1:15", run.name,
                     f"drop {drop['15']:.2f} (1:15) vs {drop['30']:.2f} (1:30); widening {widen['15']:.1f} vs "
                     f"{widen['30']:.1f} nm", "1:15 drop smaller ratio and widening larger",
                     drop["15"] < drop["30"] and widen["15"] > widen["30"]))
    st = twin_state(run)
    rows30 = [list(run.plate["well"]).index(w) for w in s30.wells]
    rows15 = [list(run.plate["well"]).index(w) for w in s15.wells]
    amine = _sel(s30, 1.2, 2.0)

    def late(rows):
        f = st.f_cs4pbbr6[rows]
        return _med((f[amine, 1] - f[amine, 0]) / f[amine, 1])

    l30, l15 = late(rows30), late(rows15)
    out.append(Claim("1to15-more-gradual", "Fig. 2, S3 (state)", "1:15: slower, more gradual CsPbBr3 -> Cs4PbBr6 "
                     "change (Le Chatelier)", run.name,
                     f"share of 12 h Cs4PbBr6 formed after t0: {l15:.2f} (1:15) vs {l30:.2f} (1:30), amine-rich",
                     "1:15 > 1:30 + 0.1 (twin chemistry state; PL alone cannot separate it)", l15 > l30 + 0.1))
    bright = _sel(s30, 0.1, 0.5)
    ok = True
    parts = []
    dead = _failed(s30.t0("height"))
    for when in (None, 720.0):
        h = np.where(dead, np.nan, s30.value("height", when))
        w = np.where(dead, np.nan, s30.value("fwhm_nm", when))
        best_h, best_w = s30.ratios[np.nanargmax(h)], s30.ratios[np.nanargmin(w)]
        sep = np.nanmax(h[s30.ratios >= 1.0]) < np.nanmin(h[bright])
        ok &= best_h <= 0.5 and best_w <= 0.5 and sep
        parts.append(f"{'t0' if when is None else '12 h'}: brightest 1:{best_h:g}, narrowest 1:{best_w:g}")
    out.append(Claim("optimal-range-0.1-0.5", "Fig. 4C", "1:0.1-1:0.5 OAc:OLAm brightest and narrowest; 1:1 and "
                     "above the dimmest", run.name, "; ".join(parts)
                     + (f"; {int(dead.sum())} failed well(s) aside" if dead.any() else ""),
                     "brightest and narrowest in 1:0.1-0.5; every r >= 1 dimmer than every r <= 0.5 (failed wells "
                     "aside)", bool(ok)))
    i = s30.at(0.1)
    pk, fw, h = s30.peak_nm[i], s30.fwhm_nm[i], s30.height[i]
    out.append(Claim("optimal-1to0.1-stable", "Fig. 3A, Discussion", "The optimal 1:0.1 OAc:OLAm keeps its PL "
                     "features over 12 h", run.name,
                     f"peak range {np.nanmax(pk) - np.nanmin(pk):.2f} nm, "
                     f"FWHM range {np.nanmax(fw) - np.nanmin(fw):.2f} nm, min/max height {np.nanmin(h) / np.nanmax(h):.2f} over {h.size} reads",
                     "ranges < 1 nm, min/max > 0.9", bool(np.ptp(pk) < 1 and np.ptp(fw) < 1 and
                                                          np.nanmin(h) / np.nanmax(h) > 0.9)))
    f46 = st.f_cs4pbbr6[rows30]
    am = _sel(s30, 1.5, 2.0)
    worst = int(np.flatnonzero(acid)[np.argmax(f46[acid].max(axis=1))])
    disp = run.plate.iloc[rows30[worst]]
    got = disp["dispensed_amine_uL"] / disp["dispensed_acid_uL"]
    out.append(Claim("xrd-cs4pbbr6-with-olam", "Fig. 5E (state)", "XRD: OAc majority pure CsPbBr3; more OLAm adds "
                     "Cs4PbBr6", run.name,
                     f"Cs4PbBr6 fraction max {f46[acid].max():.3f} (acid-rich, at 1:{s30.ratios[worst]:g}, dispensed "
                     f"amine/acid {got:.2f}), min {f46[am].min():.2f} (1:1.5-2)",
                     "acid-rich < 0.02, 1:1.5-2 > 0.1 (twin chemistry state)",
                     ok_x := bool(f46[acid].max() < 0.02 and f46[am].min() > 0.1),
                     "XRD is not a plate-reader measurement; the paper: " + XRD_QUOTE + " " + _state_note(
                         ok_x, "" if ok_x else f"pipetting error moved the 1:{s30.ratios[worst]:g} well to amine/acid "
                         f"{got:.2f}; the model's free-amine switch is smooth (width 0.03 of the acid), so wells near "
                         "1:1 already form a few % Cs4PbBr6 (the noise-free model passes at the nominal volumes)"),
                     plate_reader=False, quote=XRD_QUOTE))
    d = st.defect_level[rows30, 0]
    rho_d = _rho(s30.ratios, d)
    out.append(Claim("trpl-amine-rich-defects", "Fig. 5F, Table S1 (state)", "TRPL: amine-rich NCs more surface "
                     "defects (shorter lifetimes)", run.name, f"Spearman(ratio, defect level) {rho_d:.2f}",
                     "rho > 0.9 (twin chemistry state)", rho_d > 0.9,
                     "TRPL is not a plate-reader measurement; the paper: " + TRPL_QUOTE + " " + _state_note(rho_d > 0.9),
                     plate_reader=False, quote=TRPL_QUOTE))
    e = st.edge_nm[rows30, 0]
    rho_e = _rho(s30.ratios, e)
    out.append(Claim("tem-olam-shrinks", "Fig. 5A/B (state)", "TEM: more OLAm gives smaller NCs", run.name,
                     f"edge {e[0]:.1f} nm (1:0.1) -> {e[-1]:.1f} nm (1:2); Spearman {rho_e:.2f}",
                     "rho < -0.9 (twin chemistry state)", rho_e < -0.9,
                     "TEM is not a plate-reader measurement; the paper: " + TEM_QUOTE + " " + _state_note(rho_e < -0.9),
                     plate_reader=False, quote=TEM_QUOTE))
    return out


def _visible_min_peak(s: Series) -> float:
    vis = s.height > VISIBLE_RFU
    return float(np.nanmin(s.peak_nm[vis])) if vis.any() else np.nan


def octyl_toluene_claims(run: PaperRun, toluene: PaperRun) -> list[Claim]:
    """Fig. 3E-H, S5: OctAc:OctAm in toluene, and the no-platelet claim over every toluene series."""
    s = run.series("toluene OctAc:OctAm 1:30")
    out = []
    p0 = s.t0("peak_nm")
    a, b, c = _med(p0[_sel(s, 0.1, 0.5)]), _med(p0[_sel(s, 0.6, 1.0)]), _med(p0[_sel(s, 1.2, 1.6)])
    jump, within = b - c, a - b
    out.append(Claim("octyl-sudden-blue-shift", "Fig. S5A", "OctAc:OctAm: sudden blue shift once OctAm exceeds "
                     "OctAc", run.name, f"median peak 1:0.1-0.5 {a:.1f}, 1:0.6-1.0 {b:.1f}, 1:1.2-1.6 {c:.1f} nm",
                     "jump across 1:1 > 5 nm and > 2 x the drift within the acid-rich range",
                     jump > 5 and jump > 2 * abs(within)))
    fa, fb = _med(s.t0("fwhm_nm")[_sel(s, 0.1, 0.5)]), _med(s.t0("fwhm_nm")[_sel(s, 1.5, 2.0)])
    out.append(Claim("octyl-fwhm-27.5-35", "Fig. S5C", "OctAc:OctAm FWHM ~27.5 nm acid-rich, ~35 nm amine-rich",
                     run.name, f"median FWHM {fa:.1f} nm (1:0.1-0.5), {fb:.1f} nm (1:1.5-2)",
                     "|acid-rich - 27.5| < 1.5 and |amine-rich - 35| < 2", abs(fa - 27.5) < 1.5 and abs(fb - 35) < 2))
    rows = s.rows((0.1, 0.5, 1.0))
    h = s.height[rows]
    i_max = np.nanargmax(h, axis=1)
    t_max = s.time_min[rows, i_max]
    first = s.time_min[rows, 0]
    rises = bool(np.all((i_max > 0) & (h[np.arange(len(rows)), i_max] > 1.1 * h[:, 0])))
    out.append(Claim("octyl-pl-rises-first", "Fig. 3E-H, S5B", "C8 colloids: the PL first grows after injection",
                     run.name, f"brightest read at {', '.join(f'{t:.0f}' for t in t_max)} min (first reads at "
                     f"{', '.join(f'{t:.0f}' for t in first)} min) for 1:0.1, 1:0.5, 1:1",
                     "maximum after the first read and > 1.1 x the first read", rises,
                     "" if rises else "the twin cannot show it: its C8 rise is over within minutes (formation time "
                     "~6 min), following the paper's own reading of short ligands, \"more dynamic adsorption/desorption "
                     "of the ligands (i.e., faster reaction rates) can be anticipated\" (Fig. 3 text); the robot spreads "
                     "the injections and a 40-well scan takes 7 min, so every C8 well's first read comes ~15-24 min "
                     "after its injection and sees only the decay. The paper itself reports no common rise: \"The peak "
                     "intensity exhibits a lack of trend for the OctAc:OctAm ligands (Figure S5B) [...] an increase or "
                     "decrease in peak intensity over time may be due to the gradual PNC growth or complete "
                     "decomposition of the PNC.\" The twin has no slow (Ostwald) growth of C8 crystals that would give a "
                     "rise hours later. See `python -m scenarios.timing_study`."))
    t12 = s.read_at(720.0)[rows]
    ratio = h[np.arange(len(rows)), t12] / np.nanmax(h, axis=1)
    out.append(Claim("octyl-pl-collapses", "Fig. 3E-H", "C8 colloids: the PL collapses within hours", run.name,
                     f"height(12 h)/max {', '.join(f'{r:.3f}' for r in ratio)} for 1:0.1, 1:0.5, 1:1",
                     "< 0.1 for each", bool(np.all(ratio < 0.1))))
    c18 = toluene.series("toluene OAc:OLAm 1:30")

    def swing(x: Series, rs):
        hh = x.height[x.rows(rs)]
        return (np.nanmax(hh, axis=1) - np.nanmin(hh, axis=1)) / np.nanmax(hh, axis=1)

    sw18, sw8 = swing(c18, (0.1, 1.0, 1.5, 2.0)), swing(s, (0.1, 0.5, 1.0))
    out.append(Claim("octyl-unstable-oleyl-stable", "Fig. 3A-D vs 3E-H", "OAc:OLAm changes little over 12 h, "
                     "OctAc:OctAm changes vastly", run.name,
                     f"relative 12 h swing max {sw18.max():.2f} (C18 1:0.1/1/1.5/2), min {sw8.min():.2f} (C8)",
                     "C18 < 0.3 and C8 > 0.8", bool(sw18.max() < 0.3 and sw8.min() > 0.8)))
    mins = {x.label: _visible_min_peak(x) for r in (toluene, run) for x in
            (r.series(g) for g in r.plate["group"].unique() if g.startswith("toluene"))}
    lowest = min(mins.values())
    st_t, st_o = twin_state(toluene), twin_state(run)
    plate_f = float(max(st_t.f_platelet.max(), st_o.f_platelet.max()))
    note = ("" if lowest >= 500 else "the model puts the amine-rich C8 wells at 500-504 nm (size floor); fits of "
            "their dim, decaying reads scatter by ~0.5 nm and one lands just under 500 nm. Not a platelet: the "
            "platelet fraction is 0.")
    out.append(Claim("no-emission-below-500-toluene", "Fig. 3 text", "No PL centred below 500 nm in any toluene "
                     "batch (no platelets)", f"{toluene.name}, {run.name}",
                     f"lowest fitted peak of a visible read (> {VISIBLE_RFU:g} RFU) {lowest:.1f} nm; platelet "
                     f"fraction {plate_f:g}", ">= 500 nm and platelet fraction 0",
                     lowest >= 500 and plate_f == 0, note))
    return out


def chloroform_claims(run: PaperRun, toluene: PaperRun, octyl_cf: PaperRun) -> list[Claim]:
    """Fig. 6, S12, S13: chloroform antisolvent."""
    s, tol = run.series("chloroform OAc:OLAm 1:30"), toluene.series("toluene OAc:OLAm 1:30")
    out = []
    p0 = s.t0("peak_nm")
    shift = _med(p0[_sel(s, 0.1, 0.3)]) - _med(p0[_sel(s, 1.8, 2.0)])
    gap = tol.t0("peak_nm") - p0
    # "around 500 nm": the paper's text (Fig. 6A) reads "the PL peak positions exhibit at shorter wavelengths (around
    # 500 nm) than those from toluene (around 520 nm) and undergo blueshifts with increasing OLAm"; the lab's own
    # first read of these very wells (scenarios/data/real, 1:30) spans 488.9-510.6 nm, so "around" = +/- 12 nm
    ok = bool(np.nanmax(np.abs(p0 - 500)) < 12 and shift > 3 and np.nanmin(gap) > 10)
    note = "" if ok else "a well outside 500 +/- 12 nm at its first read (the lab's own span: 488.9-510.6 nm)"
    out.append(Claim("chloroform-near-500-blue-with-olam", "Fig. 6A", "Chloroform: PL near 500 nm (vs ~520 in "
                     "toluene), blue-shifting with OLAm", run.name,
                     f"peaks {np.nanmin(p0):.1f}-{np.nanmax(p0):.1f} nm; shift with OLAm {shift:.1f} nm; toluene - CF "
                     f"min {np.nanmin(gap):.1f} nm", "all within 500 +/- 12 nm ('around 500 nm'; lab 488.9-510.6 nm), "
                     "shift > 3 nm, toluene - CF > 10 nm",
                     ok, note))
    keep = s.t12("height") / s.t0("height")
    ka, kb = _med(keep[_sel(s, 0.1, 0.9)]), _med(keep[_sel(s, 1.5, 2.0)])
    out.append(Claim("chloroform-acid-suppressed-amine-grows", "Fig. 6B", "After 12 h in chloroform: OAc-majority PL "
                     "largely suppressed, OLAm-majority PL increased", run.name,
                     f"median height(12 h)/height(t0) {ka:.2f} (1:0.1-0.9), {kb:.2f} (1:1.5-2)",
                     "acid-majority < 0.3 and amine-majority > 1.3", ka < 0.3 and kb > 1.3,
                     "" if ka < 0.3 and kb > 1.3 else "the amine-majority wells' growth (LSW ripening + surface "
                     "defects) or the acid-majority collapse (t_c ~7 h) misses the threshold on this plate; amine-"
                     "majority wells may also fade late (t_c ~12-13 h with per-well rate scatter, as the lab's B7/B8/B10)"))
    f0 = s.t0("fwhm_nm")
    wa, wb = _med(f0[_sel(s, 0.1, 0.3)]), _med(f0[_sel(s, 1.8, 2.0)])
    f12 = _med(s.t12("fwhm_nm")[_sel(s, 1.5, 2.0)])
    out.append(Claim("chloroform-fwhm", "Fig. 6C", "Chloroform FWHM broadens with OLAm at t = 0; ~25 nm for the "
                     "bright amine-majority wells after 12 h", run.name,
                     f"t0 median {wa:.1f} nm (1:0.1-0.3) -> {wb:.1f} nm (1:1.8-2); 12 h median {f12:.1f} nm (1:1.5-2)",
                     "t0 broadening > 0 and |12 h - 26.2| < 2.5 (paper: 'no appreciable differences, "
                     "particularly after 12 h'; the lab's 10.7 h fits of these wells: 25.8-26.8 nm)",
                     wb > wa and abs(f12 - 26.2) < 2.5,
                     "" if wb > wa and abs(f12 - 26.2) < 2.5 else "model shortfall, not a measurement limit: the "
                     "ripened amine-majority NCs keep the ion-pair trap broadening (~17 meV) on top of the homogeneous "
                     "width, so their 12 h line is ~28-29 nm where the lab's is 25.8-26.8 nm"))
    kt = _med((tol.t12("height") / tol.t0("height"))[_sel(tol, 0.1, 0.9)])
    out.append(Claim("chloroform-less-stable", "Fig. 6 vs 2, Discussion", "The polar antisolvent decomposes the NCs "
                     "faster than toluene", run.name,
                     f"acid-majority median 12 h retention {ka:.2f} (CF) vs {kt:.2f} (toluene)", "CF < toluene",
                     ka < kt))
    o = octyl_cf.series("chloroform OctAc:OctAm 1:30")
    # a well that never lit up in any read is a failed well (the lab had 2 of 40 in chloroform, real_data README),
    # not a counter-example to "the PL peaks initially emerged, but they rapidly disappeared" (Figs S4, S13)
    lit = np.nanmax(o.height, axis=1) > VISIBLE_RFU
    first = o.height[lit, 0]
    late = np.nanmax(o.height[lit, o.read_at(120.0)[0]:], axis=1)
    later = np.nanmax(o.height[lit, o.read_at(180.0)[0]:], axis=1)
    ok = bool(np.all(first > VISIBLE_RFU) and np.all(late < 0.1 * first))
    note = "" if ok else (f"gone by 3 h (max after 3 h / first read {np.nanmax(later / first):.3f}); at 2 h the "
                          "slowest well still shows ~10 % of its first read, whose own age is 17-25 min.")
    out.append(Claim("octyl-chloroform-appears-vanishes", "Fig. S13, S4", "OctAc:OctAm in chloroform: PL appears, "
                     "then rapidly disappears and does not come back", octyl_cf.name,
                     f"first read median {_med(first):.0f} RFU; max after 2 h / first read "
                     f"{np.nanmax(late / first):.3f}; {int((~lit).sum())} failed well(s) never lit up",
                     "first read > 200 RFU and later max < 0.1 x first, every ratio (failed wells aside)",
                     ok, note))
    return out


def _pbbr2_shift(run: PaperRun) -> str:
    """The twin's own t0 peak shift from 1:30 to 1:15 (PbBr2 cut, acid fixed), acid-majority OAc:OLAm, per antisolvent."""
    parts = []
    for solvent in ("toluene", "chloroform"):
        try:
            a, b = (run.series(f"{solvent} OAc:OLAm 1:{n}") for n in (30, 15))
        except KeyError:
            continue
        pa, pb = a.t0("peak_nm")[a.ratios < 1.0], b.t0("peak_nm")[b.ratios < 1.0]
        parts.append(f"{_med(pb) - _med(pa):+.1f} nm in {solvent}")
    return ", ".join(parts) + " from 1:30 to 1:15, acid majority" if parts else "not measured"


def shap_claims(run: PaperRun, peak, height) -> list[Claim]:
    """Fig. 4A/B, S7 from :func:`twin.analysis.run_shap` reports on peak_nm and height."""
    imp_p = peak.importance.set_index("feature")
    imp_h = height.importance.set_index("feature")
    out = [Claim("shap-random-forest-best", "Fig. S7", "Random forest is the best of LR/RF/SVR/MLP by RMSE on peak "
                 "position", run.name, "RMSE " + ", ".join(f"{m} {v:.2f}" for m, v in
                                                            zip(peak.rmse["model"], peak.rmse["rmse_mean"])) + " nm",
                 "random_forest lowest", peak.best_model == "random_forest",
                 "" if peak.best_model == "random_forest" else
                 f"the twin cannot show it yet: {peak.best_model} edges out the random forest by less than one "
                 f"fold-to-fold SD ({peak.rmse['rmse_std'].iloc[0]:.2f} nm). The paper credits the forest's win to the "
                 "data's noise: \"the random forest regression model is the best-performing model due to its "
                 "robustness to outliers and noisy data\"; its forest's RMSE is 4.86 nm (Fig. S7), the twin's "
                 f"{float(peak.rmse.set_index('model').loc['random_forest', 'rmse_mean']):.2f} nm. On the twin's "
                 "smoother table (per-well scatter set from the lab's own chloroform 1:30 wells) kernel and tree models "
                 "tie and the order follows the seed.")]
    dc, dt = imp_p.loc["chloroform_uL", "direction"], imp_p.loc["toluene_uL", "direction"]
    out.append(Claim("shap-chloroform-blue-toluene-red", "Fig. 4A", "Peak: chloroform negative (blue), toluene "
                     "positive (red)", run.name, f"SHAP direction chloroform {dc:+.2f}, toluene {dt:+.2f}",
                     "chloroform < 0 < toluene", bool(dc < 0 < dt)))
    key = ["OLAm_uL", "PbBr2_uL", "ligand_ratio"]
    ranks = {k: int(imp_p.loc[k, "rank"]) for k in key}
    out.append(Claim("shap-peak-crucial-features", "Fig. 4A", "Peak: OLAm, PbBr2 and ligand ratio are crucial "
                     "factors", run.name, "ranks " + ", ".join(f"{k} {v}" for k, v in ranks.items()) +
                     f" of {len(imp_p)}", "each in the top 5", all(v <= 5 for v in ranks.values()),
                     "the twin cannot show it in this design: the antisolvent volumes and the C8 amine take most of "
                     f"the peak variance; PbBr2 does move the twin's peak ({_pbbr2_shift(run)}), but the design's "
                     "ligand ratio is (acid + amine) / PbBr2, collinear with PbBr2, so the forest credits that shift "
                     "to the ligand ratio (rank " + str(ranks["ligand_ratio"]) + ") and leaves PbBr2 behind. The paper "
                     "warns that SHAP ranks follow the design's spread: \"which may be attributed to the lack of "
                     "parameter variability in the synthesis parameters\"" if not all(v <= 5 for v in ranks.values())
                     else ""))
    d = {k: imp_p.loc[k, "direction"] for k in key}
    out.append(Claim("shap-peak-directions", "Fig. 4A", "Peak: less OLAm, more PbBr2, lower ligand ratio -> red shift",
                     run.name, ", ".join(f"{k} {v:+.2f}" for k, v in d.items()),
                     "OLAm < 0, PbBr2 > 0, ligand ratio < 0",
                     bool(d["OLAm_uL"] < 0 and d["PbBr2_uL"] > 0 and d["ligand_ratio"] < 0)))
    top3 = list(height.importance["feature"][:3])
    out.append(Claim("shap-intensity-top3", "Fig. 4B", "Intensity: ligand ratio, OLAm and PbBr2 are the top three",
                     run.name, f"top three {', '.join(top3)}", "exactly {ligand_ratio, OLAm_uL, PbBr2_uL}",
                     set(top3) == set(key),
                     "" if set(top3) == set(key) else "the twin cannot show it: it dims every chloroform well at "
                     "t = 0, so an antisolvent outranks OLAm; OLAm's effect is shared with the collinear ligand ratio "
                     "(= (acid + amine)/10 with the acid fixed). The paper sees the antisolvents as dimming too, only "
                     "ranked lower: \"Toluene, chloroform, and OctAm all have a low impact on positive peak intensity "
                     "contribution and actually provided a stronger negative impact (decrease in PL intensity) "
                     "regardless of the amount used.\""))
    dh = {k: imp_h.loc[k, "direction"] for k in key}
    out.append(Claim("shap-intensity-directions", "Fig. 4B", "Intensity: less ligand ratio and OLAm, more PbBr2 -> "
                     "brighter", run.name, ", ".join(f"{k} {v:+.2f}" for k, v in dh.items()),
                     "ligand ratio < 0, OLAm < 0, PbBr2 > 0",
                     bool(dh["ligand_ratio"] < 0 and dh["OLAm_uL"] < 0 and dh["PbBr2_uL"] > 0),
                     "" if (dh["ligand_ratio"] < 0 and dh["OLAm_uL"] < 0 and dh["PbBr2_uL"] > 0) else
                     "the twin cannot show it: OLAm and the ligand ratio are collinear in this design ((acid + amine)/10 "
                     "with the acid fixed), so the forest credits the dimming to the ligand ratio and OLAm's own SHAP "
                     "direction is left near zero with its sign to the noise draw. The paper states both together: \"A "
                     "low amount of ligand ratio and OLAm is found to be beneficial in contributing to a higher peak "
                     "intensity (positive impact)\"; the twin agrees for the ligand ratio and PbBr2 (signs above)."))
    return out
