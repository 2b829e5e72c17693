"""Absorbance over time: the reader twin's absorbance scan, absorbance.parquet, the band-edge feature, Gen5 sections."""

import numpy as np
import pandas as pd
import pytest

from instruments.sim.reader import ReaderTiming
from scenarios import build_campaign, plates
from twin.analysis.absorbance import band_edge
from twin.campaign import Campaign, run_campaign
from twin.config import Schedule
from twin.procedure import (
    AbsorbanceEndpoint,
    AbsorbanceSpectrum,
    Kinetic,
    PLSpectrum,
    Procedure,
)
from twin.records.export import write_results


def tiny(procedure):
    # a CF acid-majority well (its onset saturates the reader: OD > 4 up to ~515 nm) and a toluene amine-majority
    # well, whose onset lies in the readable range
    pm = pd.concat([plates.paper_series("chloroform", "OAc:OLAm").iloc[[0]],
                    plates.paper_series("toluene", "OAc:OLAm").iloc[[-1]]], ignore_index=True)
    pm["well"] = ["A1", "A2"]
    return Campaign(name="tiny-abs", plate_map=pm, procedure=procedure)


PROC = Procedure(steps=[Kinetic(interval_min=0, duration_min=40, steps=[
    AbsorbanceSpectrum(start_nm=300, stop_nm=600, step_nm=5), PLSpectrum()])])


def test_absorbance_scan_takes_the_measured_gen5_time():
    assert ReaderTiming().absorbance_scan_s(61) == pytest.approx(11 + 61 * 10.0)


def test_band_edge_of_a_sigmoid_onset_with_an_exciton_peak():
    wl = np.arange(400, 601, 5.0)
    od = 2 / (1 + np.exp((wl - 505) / 4)) + 0.5 * np.exp(-0.5 * ((wl - 495) / 6) ** 2)
    f = band_edge(wl, od)
    assert 500 < f["band_edge_nm"] < 510 and 490 < f["exciton_nm"] < 500 and f["od_edge"] > 0.3
    assert np.isnan(band_edge(wl, np.full_like(wl, 0.01))["band_edge_nm"])  # no onset: no edge


def test_run_writes_absorbance_files_and_alternating_gen5_sections(tmp_path):
    r = run_campaign(tiny(PROC), progress=False)
    assert r.manifest["absorbance_reads"] == r.manifest["reads"] >= 3
    out = write_results(r, tmp_path / "out", figures=False)
    a = pd.read_parquet(out / "absorbance.parquet")
    assert list(a.columns) == ["well", "read", "time_min", "wavelength_nm", "od"]
    assert a["wavelength_nm"].min() == 300 and a["wavelength_nm"].max() == 600
    f = pd.read_csv(out / "absorbance_features.csv")
    assert {"band_edge_nm", "exciton_nm", "od_edge"} <= set(f.columns)
    assert f["band_edge_nm"].between(450, 560).any()
    text = (out / "gen5_export.txt").read_text(encoding="cp1252")
    titles = [ln for ln in text.splitlines() if ln.startswith("Read ") and ":" in ln]
    n = len(titles)
    assert titles == [f"Read {k + 1}:{'Spectrum' if k % 2 == 0 else 'EM Spectrum'}" for k in range(n)]
    assert text.count("Read\tAbsorbance Spectrum") == n // 2 and text.count("Read\tFluorescence Spectrum") == n // 2
    assert "Start: 300 nm,  Stop: 600 nm,  Step: 5 nm" in text and "Mean Max OD [Read 1:Spectrum]" in text


def test_the_absorbance_cycle_costs_pl_time_resolution():
    pl_only = run_campaign(tiny(Procedure(steps=[Kinetic(interval_min=0, duration_min=40, steps=[PLSpectrum()])])),
                           progress=False)
    both = run_campaign(tiny(PROC), progress=False)
    assert both.manifest["reads"] < pl_only.manifest["reads"]


def test_endpoint_reads_go_to_absorbance_parquet_without_features(tmp_path):
    proc = Procedure(steps=[Kinetic(interval_min=10, duration_min=20, steps=[
        AbsorbanceEndpoint(wavelength_nm=450), PLSpectrum()])])
    r = run_campaign(tiny(proc), progress=False)
    assert set(r.absorbance["wavelength_nm"]) == {450.0}
    assert r.absorbance_features().empty


def test_paper_chloroform_abs_scenario_reads_absorbance_then_pl():
    c = build_campaign("paper-chloroform-abs", schedule=Schedule(hours=1))
    (loop,) = c.procedure.steps
    assert loop.duration_min == 60 and [s.type for s in loop.steps] == ["absorbance_spectrum", "pl_spectrum"]


def test_the_pl_reader_of_a_mixed_export_takes_the_em_sections(tmp_path):
    from instruments.cytation.gen5 import read_gen5_spectra

    r = run_campaign(tiny(PROC), progress=False)
    out = write_results(r, tmp_path / "out", figures=False)
    g = read_gen5_spectra(out / "gen5_export.txt")
    assert all(name.endswith(":EM Spectrum") for name in g.section_names)
    cube = r.dataset["intensity"].transpose("read", "well", "wavelength_nm").values
    assert np.array_equal(g.counts, cube, equal_nan=True)


def test_the_absorbance_scenario_is_readable_and_its_exciton_lies_blue_of_the_pl_peak():
    """30 % volumes: no OD at the reader's ceiling (the full wells clip below ~510 nm), and the first excitonic
    peak of every well that emits sits blue of its PL peak (the Stokes shift), read by read."""
    r = run_campaign(build_campaign("paper-chloroform-abs", schedule=Schedule(hours=0.5)), progress=False)
    assert r.absorbance["od"].notna().all() and r.absorbance["od"].max() < 3.0
    a = r.absorbance_features().merge(r.features()[["well", "read", "peak_nm", "height"]], on=["well", "read"])
    bright = a[a["height"] > 2000]
    assert len(bright) >= 60 and bright["exciton_nm"].notna().all()
    assert ((bright["peak_nm"] - bright["exciton_nm"]).between(3.0, 30.0)).all()
