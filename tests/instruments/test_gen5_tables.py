"""read_gen5: every real Gen5 layout (spectrum, kinetic, endpoint plate map, Results) with the numbers in the files."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments.cytation.gen5 import Gen5FormatError, write_gen5_spectra
from instruments.cytation.gen5_tables import parse_time_s, read_gen5

DATA = Path(__file__).parents[1] / "data"
EM_SPECTRUM = DATA / "gen5_em_spectrum_neo2.txt"
ABS_SPECTRUM = DATA / "gen5_abs_spectrum_h1_ovrflw.txt"
KINETIC = DATA / "gen5_abs_kinetic_h1.txt"
FL_ENDPOINT = DATA / "gen5_fl_endpoint_platemap_h1.txt"
ABS_ENDPOINT = DATA / "gen5_abs_endpoint_platemap_ovrflw_missed.txt"
ALL_REAL = [EM_SPECTRUM, ABS_SPECTRUM, KINETIC, FL_ENDPOINT, ABS_ENDPOINT]


def values_of(d, wells):
    return [d.values[d.wells.index(w)] for w in wells]


@pytest.mark.parametrize("path", ALL_REAL, ids=lambda p: p.stem)
def test_every_real_export_parses_with_its_header(path):
    e = read_gen5(path)
    assert e.metadata["Software Version"] == "3.12.08" and e.metadata["Reader Serial Number"] == "Unknown"
    assert e.metadata["Reader Type"] in ("Synergy H1", "Synergy Neo2")
    assert e.of_kind("spectrum", "kinetic", "endpoint")


def test_em_spectrum_values_overflow_and_results():
    e = read_gen5(EM_SPECTRUM)
    d = e["EM Spectrum"]
    assert (d.kind, d.wells, d.axis_name) == ("spectrum", ["A1"], "wavelength_nm")
    np.testing.assert_array_equal(d.axis, [300, 310, 320])
    np.testing.assert_array_equal(d.values[0, :2], [0.123, 0.124])
    assert math.isnan(d.values[0, 2]) and d.overflow.tolist() == [[False, False, True]]
    r = e["Mean Max RFU [EM Spectrum]"]
    assert (r.kind, r.wells, r.values.tolist()) == ("result", ["A1"], [0.555])
    assert e.procedure["read_types"] == ["Fluorescence Spectrum"] and e.procedure["excitation_nm"] == 900
    assert e.procedure["scans"] == [(300.0, 320.0, 10.0)] and e.notes == []


def test_absorbance_spectrum_with_step_label_and_overflow_in_data_and_results():
    e = read_gen5(ABS_SPECTRUM)
    assert e.procedure["read_steps"] == [{"label": "Spectral_Scan_Test", "type": "Absorbance Spectrum"}]
    d = e["Spectral_Scan_Test:Spectrum"]
    assert len(d.wells) == 96 and d.values.shape == (96, 3)
    np.testing.assert_array_equal(d.axis, [300, 310, 320])
    np.testing.assert_array_equal(values_of(d, ["A1", "H12"]), [[0.005, 0.011, 0.024], [0.011, 0.024, 0.050]])
    assert np.flatnonzero(d.overflow.ravel()).tolist() == [3]  # A2 at 300 nm
    assert np.isnan(d.values[1, 0]) and d.values[1, 1] == 0.011
    r = e["Mean Max OD [Spectral_Scan_Test:Spectrum]"]
    assert r.overflow[:2].all() and r.values[2] == 1.430 and values_of(r, ["H12"]) == [2.740]
    # the fixture was trimmed to 3 of the 41 declared wavelengths: noted, not refused (more sections follow)
    assert "41 wavelengths" in e.notes[0]


def test_kinetic_table_times_temperature_column_blank_set_results_and_layout():
    e = read_gen5(KINETIC)
    assert e.procedure["kinetic"] == {"runtime_s": 300.0, "interval_s": 60.0, "reads": 6}
    assert e.procedure["read_steps"] == [{"label": "OD600", "type": "Absorbance Endpoint"}]
    assert e.procedure["absorbance_nm"] == [450.0]
    od = e["OD600:450"]
    assert od.kind == "kinetic" and od.axis_name == "time_s" and len(od.wells) == 96
    np.testing.assert_array_equal(od.axis, [0, 60, 120, 180, 240, 300])
    assert od.temperature_C.shape == (6,) and np.isnan(od.temperature_C).all()  # simulation: T° cells empty
    np.testing.assert_array_equal(values_of(od, ["A1"])[0], [1.240, 1.880, 2.280, 2.530, 2.690, 2.800])
    np.testing.assert_array_equal(values_of(od, ["H12"])[0], [0.689, 1.800, 2.890, 3.120, 3.170, 3.190])
    blank = e["Blank OD600:450"]
    assert blank.temperature_C is None  # derived sets have no T° column
    assert blank.values[0, 0] == 0.020 and values_of(blank, ["H12"])[0][-1] == 0.365
    assert values_of(e["Max V [Blank OD600:450]"], ["A1", "H12"]) == [-11.5, 261.7]
    assert values_of(e["R-Squared [Blank OD600:450]"], ["B2"]) == [0.886]
    assert set(e["t at Max V [Blank OD600:450]"].values) == {120.0}  # 0:02:00
    lag = e["Lagtime [Blank OD600:450]"]
    assert np.isnan(lag.values).all() and set(lag.flags) == {"?????"} and len(lag.wells) == 96
    assert e.layout["Well ID"]["A1"] == "BLK" and e.layout["Well ID"]["H12"] == "SPL90"
    s = e.summary()
    assert s["reads"] == 6 and s["time_span"]["text"] == "0:00:00-0:05:00 (5 min)" and s["kinds"] == ["kinetic"]


def test_endpoint_plate_map_with_two_data_sets_per_plate_row():
    e = read_gen5(FL_ENDPOINT)
    assert [d.name for d in e.datasets] == ["485,528", "610,650"]
    assert e.procedure["filter_sets"] == [(485.0, 528.0), (610.0, 650.0)] and e.procedure["read_height_mm"] == 7
    a, b = e["485,528"], e["610,650"]
    assert a.kind == b.kind == "endpoint" and a.axis is None and len(a.wells) == 96 and a.wells[12] == "B1"
    assert values_of(a, ["A1", "A12", "B1", "H12"]) == [21050, 24020, 21220, 25030]
    assert values_of(b, ["A1", "A12", "B1", "H12"]) == [22050, 25020, 22220, 26030]
    assert e.summary()["wavelengths"] == "ex 485/em 528 nm, ex 610/em 650 nm"


def test_endpoint_plate_map_overflow_and_missed_become_nan_with_flags():
    e = read_gen5(ABS_ENDPOINT)
    d = e["abs450:450"]
    assert d.kind == "endpoint" and len(d.wells) == 96
    overflow = [w for w, f in zip(d.wells, d.flags) if f == "OVRFLW"]
    missed = [w for w, f in zip(d.wells, d.flags) if f == "MISSED"]
    assert overflow == ["A8", "B7", "C6", "D5", "E4", "F3", "G2", "H1"]
    assert missed == ["D12", "E11", "F10", "G9", "H8"]
    assert np.isnan(d.values[d.flags != ""]).all() and not np.isnan(d.values[d.flags == ""]).any()
    assert values_of(d, ["A1", "A7", "A9", "H12"]) == [2.100, 2.270, 2.320, 2.500]
    s = e.summary()
    assert (s["overflow"], s["missed"], s["reads"], s["wavelengths"]) == (8, 5, 1, "450 nm")


@pytest.mark.parametrize("layout", ["tab", "csv"])
def test_the_twins_own_exports_read_back_identically(tmp_path, layout):
    wl = np.arange(400.0, 431.0, 2.0)
    counts = np.random.default_rng(0).integers(0, 90_000, (2, 3, len(wl))).astype(float)
    counts[1, 2, 4] = np.nan
    path = write_gen5_spectra(tmp_path / f"x.{layout}", ["A1", "B7", "C3"], wl, counts, layout=layout)
    e = read_gen5(path)
    assert [d.name for d in e.of_kind("spectrum")] == ["Read 1:EM Spectrum", "Read 2:EM Spectrum"]
    for k, d in enumerate(e.of_kind("spectrum")):
        assert d.wells == ["A1", "B7", "C3"]
        np.testing.assert_array_equal(d.values, counts[k])
        np.testing.assert_array_equal(d.axis, wl)
    assert e["Read 2:EM Spectrum"].overflow[2, 4] and e.summary()["overflow"] == 1
    assert np.isnan(e["Mean Max RFU [Read 2:EM Spectrum]"].values[2])
    da = e["Read 1:EM Spectrum"].to_xarray()
    assert da.dims == ("well", "wavelength_nm") and float(da.sel(well="B7", wavelength_nm=400)) == counts[0, 1, 0]


def test_gen5_times():
    assert parse_time_s("0:07:31") == 451 and parse_time_s("96:00:00") == 345600
    assert parse_time_s("0:00.210") == pytest.approx(0.21)
    with pytest.raises(ValueError):
        parse_time_s("7 min")


def test_truncated_kinetic_export_is_an_error_naming_the_declared_reads(tmp_path):
    raw = KINETIC.read_bytes()
    cut = tmp_path / "cut.txt"
    cut.write_bytes(raw[:raw.index(b"\n0:03:00\t") + 1])  # cut at a line end inside the first table
    with pytest.raises(Gen5FormatError, match=r"cut.txt: the kinetic loop declares 6 reads.*3 time rows.*truncated"):
        read_gen5(cut)
    cut.write_bytes(raw[:raw.index(b"\nD\t57.500\t") + 1])  # Results cut after plate row C
    with pytest.raises(Gen5FormatError, match=r"plate rows ABC for a 8x12 plate.*truncated"):
        read_gen5(cut)
    cut.write_bytes(raw[:-40])
    with pytest.raises(Gen5FormatError, match="ends mid-line"):
        read_gen5(cut)


def test_truncated_endpoint_and_missing_continuation_line_are_errors(tmp_path):
    raw = FL_ENDPOINT.read_bytes()
    cut = tmp_path / "cut.txt"
    cut.write_bytes(raw[:raw.index(b"\r\nH\t") + 2] + raw[raw.index(b"\r\nH\t") + 2:].split(b"\r\n")[0] + b"\r\n")
    with pytest.raises(Gen5FormatError, match=r"row H holds data sets \['485,528'\].*truncated"):
        read_gen5(cut)


def test_bad_cells_and_other_files_fail_clearly(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(ABS_ENDPOINT.read_bytes().replace(b"\t2.130\t", b"\tabc\t"))
    with pytest.raises(Gen5FormatError, match=r"bad.txt line 30: data set 'abs450:450', well A2: 'abc' is not"):
        read_gen5(bad)
    bad.write_bytes(KINETIC.read_bytes().decode("cp1252").encode("utf-16"))
    with pytest.raises(Gen5FormatError, match="UTF-16"):
        read_gen5(bad)
    bad.write_bytes(KINETIC.read_bytes().split(b"Layout")[0])
    with pytest.raises(Gen5FormatError, match="no data section"):
        read_gen5(bad)
    bad.write_bytes(ABS_ENDPOINT.read_bytes() * 2)
    with pytest.raises(Gen5FormatError, match="2 plates"):
        read_gen5(bad)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ALL_REAL), st.integers(0, 20_000), st.integers(0, 40), st.binary(max_size=8))
def test_mangled_real_exports_parse_or_raise_gen5_format_error(tmp_path, source, at, drop, insert):
    raw = source.read_bytes()
    at %= len(raw) + 1
    path = tmp_path / "m.txt"
    path.write_bytes(raw[:at] + insert + raw[at + drop:])
    try:
        e = read_gen5(path)
    except Gen5FormatError:
        return
    for d in e.datasets:
        assert d.values.shape == d.flags.shape and d.values.shape[0] == len(d.wells)
    e.summary()


def _with_cell(tmp_path, cell: str) -> Path:
    """The real EM spectrum export with its A1 value at 310 nm replaced by ``cell``."""
    p = tmp_path / "x.txt"
    p.write_bytes((DATA / "gen5_em_spectrum_neo2.txt").read_bytes().replace(b"310\t0.124", b"310\t" + cell.encode()))
    return p


@pytest.mark.parametrize("cell, value", [("RANGE?", math.nan), ("MISSED", math.nan), ("<0.000", math.nan),
                                         ("0.5", 0.5)])
def test_the_spectrum_reader_and_the_table_reader_read_a_cell_alike(tmp_path, cell, value):
    from instruments.cytation.gen5 import read_gen5_spectra

    p = _with_cell(tmp_path, cell)
    seen = [read_gen5_spectra(p).counts[0, 0, 1], read_gen5(p).datasets[0].values.ravel()[1]]
    np.testing.assert_array_equal(seen, [value, value])


@pytest.mark.parametrize("cell", ["inf", "1e400", "-nan", "12,5"])
def test_the_spectrum_reader_and_the_table_reader_refuse_a_cell_alike(tmp_path, cell):
    from instruments.cytation.gen5 import read_gen5_spectra

    p = _with_cell(tmp_path, cell)
    with pytest.raises(Gen5FormatError, match=re.escape(repr(cell))):
        read_gen5_spectra(p)
    with pytest.raises(Gen5FormatError):
        read_gen5(p)
