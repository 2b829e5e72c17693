"""Gen5 spectrum export: the writer's bytes, round trips, the real reference export, and clear errors."""

import csv
import io
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from instruments.cytation.gen5 import Gen5FormatError, read_gen5_spectra, write_gen5_spectra

DATA = Path(__file__).parents[1] / "data"  # real Gen5 exports from allotropy (see its README)
WHEN = datetime(2024, 3, 7, 11, 31, 30)


def paper_scan(n_reads=3, wells=("A1", "B7", "H12", "C3")):
    wl = np.arange(400.0, 651.0, 2.0)
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 90_000, (n_reads, len(wells), len(wl))).astype(float)
    counts[-1, 2, 60:63] = np.nan  # OVRFLW
    return list(wells), wl, counts


def test_tab_layout_is_cp1252_crlf_with_gen5_header_and_procedure(tmp_path):
    wells, wl, counts = paper_scan(n_reads=1)
    raw = write_gen5_spectra(tmp_path / "x.txt", wells, wl, counts[0], when=WHEN, reader_serial="23030927").read_bytes()
    text = raw.decode("cp1252")
    assert raw.startswith(b"\r\n\r\nSoftware Version\t3.12.08\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = text.split("\r\n")
    for line in ["Date\t3/7/2024", "Time\t11:31:30 AM", "Reader Type:\tCytation5", "Reader Serial Number:\t23030927",
                 "Read\tFluorescence Spectrum", "\tFixed Excitation: 365/20 nm",
                 "\tEmission Start: 400/20 nm,  Stop: 650 nm,  Step: 2 nm", "\tOptics: Bottom,  Gain: 100",
                 "\tRead Speed: Sweep,  Delay: 0 msec,  Measurements/Data Point: 1", "\tRead Height: 7 mm",
                 "EM Spectrum", "Results"]:
        assert line in lines, line
    header = lines[lines.index("EM Spectrum") + 2].split("\t")
    assert header[0] == "Wavelength" and header[1] == "A1" and header[-1] == "H12" and len(header) == 97
    assert len([ln for ln in lines if ln.endswith("\tMean Max RFU [EM Spectrum]")]) == 8
    assert all(len(ln.split("\t")) == 14 for ln in lines if ln.endswith("[EM Spectrum]"))


def test_reference_gen5_em_spectrum_parses_with_its_values():
    s = read_gen5_spectra(DATA / "gen5_em_spectrum_neo2.txt")
    assert s.wells == ["A1"] and s.section_names == ["EM Spectrum"]
    np.testing.assert_array_equal(s.wavelength_nm, [300, 310, 320])
    np.testing.assert_array_equal(s.counts[0, 0, :2], [0.123, 0.124])
    assert np.isnan(s.counts[0, 0, 2]) and s.overflow[0, 0].tolist() == [False, False, True]
    assert s.metadata["Reader Type"] == "Synergy Neo2" and s.metadata["Software Version"] == "3.12.08"
    assert s.procedure["excitation_nm"] == 900 and s.procedure["emission_step_nm"] == 10
    assert s.procedure["read_speed"] == "Sweep" and s.procedure["read_height_mm"] == 4.5
    assert s.results == {"Mean Max RFU [EM Spectrum]": {"A1": 0.555}}


def test_reference_absorbance_spectrum_parses_when_any_read_type_is_allowed():
    s = read_gen5_spectra(DATA / "gen5_abs_spectrum_h1_ovrflw.txt", read_type=None)
    assert s.procedure["read_types"] == ["Absorbance Spectrum"] and s.section_names == ["Spectral_Scan_Test:Spectrum"]
    assert s.counts[0, 0, 0] == 0.005 and s.overflow[0, 1, 0]


@pytest.mark.parametrize("layout", ["tab", "csv"])
def test_round_trip_of_a_kinetic_series_gives_identical_numbers(tmp_path, layout):
    wells, wl, counts = paper_scan()
    path = write_gen5_spectra(tmp_path / f"run.{layout}", wells, wl, counts, layout=layout, when=WHEN)
    s = read_gen5_spectra(path)
    order = [wells.index(w) for w in s.wells]
    assert s.wells == ["A1", "B7", "C3", "H12"]  # plate order
    np.testing.assert_array_equal(s.counts, counts[:, order], strict=True)
    np.testing.assert_array_equal(s.overflow, np.isnan(counts[:, order]))
    np.testing.assert_array_equal(s.wavelength_nm, wl)
    assert s.section_names == ["Read 1:EM Spectrum", "Read 2:EM Spectrum", "Read 3:EM Spectrum"]
    assert s.procedure["excitation_nm"] == 365 and s.procedure["gain"] == "100"
    assert np.isnan(s.results["Mean Max RFU [Read 3:EM Spectrum]"]["H12"])
    assert s.results["Mean Max RFU [Read 1:EM Spectrum]"]["A1"] == counts[0, 0].max()


def test_csv_layout_matches_the_labs_notebook_shape(tmp_path):
    wells, wl, counts = paper_scan()
    raw = write_gen5_spectra(tmp_path / "run.csv", wells, wl, counts, layout="csv").read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(raw)))
    # every row padded to one width (the widest row: a Results line, 1 + 1 + 12 + label)
    assert {len(r) for r in rows} == {15}, sorted({len(r) for r in rows})
    assert raw.startswith(",,,,,,,,,,,,,,\r\n,,,,,,,,,,,,,,\r\nSoftware Version,3.12.08,,,,")
    lines = [ln.rstrip(",") for ln in raw.split("\r\n")]
    start = lines.index("Read 1:EM Spectrum")
    assert lines[start + 1] == "" and lines[start + 2] == ",Wavelength,A1,B7,C3,H12"
    assert lines[start + 3].startswith(",400,")
    assert ',"Emission Start: 400/20 nm,  Stop: 650 nm,  Step: 2 nm"' in lines
    assert lines[start + 3 + len(wl)] == "" and lines.index("Read 2:EM Spectrum") == start + len(wl) + 4


def test_csv_layout_parses_with_the_labs_pandas_call(tmp_path):
    """The lab's notebook: ``pd.read_csv(path, header=None)``, sections from their first cell, wells as columns."""
    wells, wl, counts = paper_scan()
    path = write_gen5_spectra(tmp_path / "run.csv", wells, wl, counts, layout="csv")
    raw = pd.read_csv(path, header=None).replace("OVRFLW", np.nan)
    first = raw[0].tolist()
    starts = [i for i, c in enumerate(first) if re.fullmatch(r"Read \d+:EM Spectrum", str(c))]
    assert len(starts) == 3
    ends = starts[1:] + [first.index("Results")]
    for k, (start, end) in enumerate(zip(starts, ends)):
        block = raw.iloc[start + 2:end - 1]  # header row .. last data row
        header = block.iloc[0].tolist()
        assert header[1] == "Wavelength" and header[2:6] == ["A1", "B7", "C3", "H12"]
        table = block.iloc[1:, 1:6].astype(float)
        np.testing.assert_array_equal(table.iloc[:, 0], wl)
        order = [wells.index(w) for w in header[2:6]]
        np.testing.assert_array_equal(table.iloc[:, 1:].to_numpy().T, counts[k, order])


def test_non_integer_counts_round_trip_exactly(tmp_path):
    wl = np.array([400.0, 402.0])
    counts = np.array([[1 / 3, 1234.5]])
    s = read_gen5_spectra(write_gen5_spectra(tmp_path / "f.txt", ["A1"], wl, counts))
    np.testing.assert_array_equal(s.counts[0], counts)


def test_other_read_types_are_refused_with_what_was_found():
    with pytest.raises(Gen5FormatError, match="expected read type 'Fluorescence Spectrum'.*Absorbance Spectrum"):
        read_gen5_spectra(DATA / "gen5_abs_spectrum_h1_ovrflw.txt")
    with pytest.raises(Gen5FormatError, match="kinetic"):
        read_gen5_spectra(DATA / "gen5_abs_kinetic_h1.txt")
    with pytest.raises(Gen5FormatError, match="plate-map"):
        read_gen5_spectra(DATA / "gen5_fl_endpoint_platemap_h1.txt")


def test_malformed_value_names_line_section_and_well(tmp_path):
    wells, wl, counts = paper_scan(n_reads=1)
    path = write_gen5_spectra(tmp_path / "x.txt", wells, wl, counts)
    raw = path.read_bytes().replace(b"\r\n400\t", b"\r\n400\tabc", 1)
    path.write_bytes(raw)
    with pytest.raises(Gen5FormatError, match=r"x.txt line \d+: section 'EM Spectrum', well A1: 'abc.*' is not"):
        read_gen5_spectra(path)


def test_truncated_export_and_wrong_files_fail_clearly(tmp_path):
    wells, wl, counts = paper_scan(n_reads=1)
    path = write_gen5_spectra(tmp_path / "x.txt", wells, wl, counts)
    cut = tmp_path / "cut.txt"
    cut.write_bytes(path.read_bytes()[:1200])
    with pytest.raises(Gen5FormatError, match="cut.txt"):
        read_gen5_spectra(cut)
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes(path.read_text(encoding="cp1252").encode("utf-16"))
    with pytest.raises(Gen5FormatError, match="UTF-16"):
        read_gen5_spectra(utf16)
    other = tmp_path / "other.txt"
    other.write_text("hello\n")
    with pytest.raises(Gen5FormatError, match="no 'Software Version'"):
        read_gen5_spectra(other)


@pytest.mark.parametrize("content, message", [
    (b"", r"^empty.txt: the file is empty \(0 bytes\); expected a Gen5 export \(Windows-1252 text starting with a "
          r"'Software Version' line\): was it taken or copied before Gen5 finished writing it\?$"),
    (b"\r\n \r\n", r"^empty.txt: the file is empty \(5 bytes, blank\); expected a Gen5 export"),
    (b"\0" * 4096, r"^empty.txt: the file holds only zero bytes \(4096 NUL bytes, what a write cut off by a crash or "
                   r"a full disk leaves\); expected a Gen5 export \(.*\): export the read again from Gen5$"),
])
def test_an_empty_or_all_zero_export_is_one_line_naming_the_file_and_what_was_expected(tmp_path, content, message):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(Gen5FormatError, match=message) as caught:
        read_gen5_spectra(path)
    assert "\n" not in str(caught.value) and "UTF-16" not in str(caught.value)


def test_bad_shapes_are_rejected_by_the_writer(tmp_path):
    with pytest.raises(ValueError, match="counts must be"):
        write_gen5_spectra(tmp_path / "x.txt", ["A1"], [400, 402], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not on a 8x12 plate"):
        write_gen5_spectra(tmp_path / "x.txt", ["Z9"], [400, 402], np.zeros((1, 2)))


def test_export_cut_at_a_line_end_is_caught_by_the_declared_wavelength_grid(tmp_path):
    wells, wl, counts = paper_scan(n_reads=1)
    raw = write_gen5_spectra(tmp_path / "x.txt", wells, wl, counts).read_bytes()
    cut = tmp_path / "cut.txt"
    cut.write_bytes(raw[:raw.index(b"\r\n500\t") + 2])
    with pytest.raises(Gen5FormatError, match="declare 126 emission wavelengths 400..650 nm.*holds 50"):
        read_gen5_spectra(cut)
