"""twin.measured: the lab's measurements as one long table, with errors that name file, row, column, allowed."""

from pathlib import Path

import numpy as np
import pytest

from twin.measured import MeasuredError, read_measured

SHARED = str(Path(__file__).resolve().parents[2] / "scenarios" / "data" / "real" / "chloroform_1to30_measured.csv")
GOOD = "well,run_min,peak_nm,fwhm_nm,height\nA1,21,504.6,31.9,12896.5\nA01,644,514.9,31.7,521.7\nb2,21,490.4,28.4,1e4\n"


def test_the_shared_lab_table_reads_as_is():
    t = read_measured(SHARED)
    assert len(t) == 40 and t.attrs["time_axis"] == "run_min" and t.attrs["format"] == "long"
    assert list(t.columns[:3]) == ["well", "read", "run_min"]
    assert t.loc[t.well == "A2", "run_min"].tolist() == [21.0, 644.0]


def test_wells_are_normalised_and_read_is_optional(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(GOOD)
    t = read_measured(p)
    assert t["well"].tolist() == ["A1", "A1", "B2"] and (t["read"] == -1).all()


def test_time_min_is_the_other_time_axis(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(GOOD.replace("run_min", "time_min"))
    assert read_measured(p).attrs["time_axis"] == "time_min"


@pytest.mark.parametrize("text, match", [
    (GOOD.replace("A1,21", "Z9,21"), r"m.csv row 1 \(line 2\), column 'well': 'Z9' is not a well name; allowed"),
    (GOOD.replace("490.4", "abc"), r"m.csv row 3 \(line 4\), column 'peak_nm': 'abc'; allowed: a finite number"),
    (GOOD.replace("b2,21", "b2,-5"), r"column 'run_min': '-5'; allowed: a finite number >= 0"),
    (GOOD.replace("run_min", "minutes"), r"missing column\(s\) \['run_min or time_min'\]"),
    (GOOD.replace(",height", ",time_min"), r"missing column\(s\) \['height'\]"),
    (GOOD.replace("A01,644", "A1,21"), r"well A1 at run_min 21 appears more than once"),
    ("well,read,run_min,peak_nm,fwhm_nm,height\nA1,2,30,500,30,1\nA1,x,40,500,30,1\n",
     r"row 2 \(line 3\), column 'read': 'x'; allowed: an integer >= 0"),
])
def test_errors_name_file_row_column_and_allowed_values(tmp_path, text, match):
    p = tmp_path / "m.csv"
    p.write_text(text)
    with pytest.raises(MeasuredError, match=match):
        read_measured(p)


def test_empty_peak_cells_are_allowed_missing_files_are_not(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(GOOD.replace("514.9,31.7", ","))
    assert np.isnan(read_measured(p)["peak_nm"]).sum() == 1
    with pytest.raises(FileNotFoundError, match="none.csv: no such file"):
        read_measured(tmp_path / "none.csv")


def test_a_gen5_export_is_fitted_with_times_from_its_kinetic_line_or_the_reader_timing(tmp_path):
    from instruments.cytation import write_gen5_spectra
    from instruments.sim.reader import ReaderTiming

    wl = np.arange(400.0, 652.0, 2.0)
    peak = 9000 * np.exp(-0.5 * ((wl - 505.0) / 13.0) ** 2) + 10
    counts = np.stack([np.stack([peak, peak - 3000.0])] * 3)  # 3 reads x 2 wells; A2 far below zero
    export = write_gen5_spectra(tmp_path / "lab.txt", ["A1", "A2"], wl, counts)
    t = read_measured(export)
    assert t.attrs["format"] == "gen5" and t.attrs["time_axis"] == "run_min"
    scan = ReaderTiming().scan_s(2, wl.size) / 60
    assert np.allclose(t[t.well == "A1"]["run_min"], (np.arange(3) + 0.5) * scan, atol=1e-3)
    assert set(t[t.well == "A2"]["status"]) == {"negative_counts"}
    assert (t[t.well == "A1"]["peak_nm"] - 505).abs().max() < 0.1
    t10 = read_measured(export, every_min=10)
    assert np.allclose(t10[t10.well == "A1"]["run_min"], np.arange(3) * 10 + scan / 2, atol=1e-3)
    text = export.read_bytes().replace(b"Eject plate on completion",
                                       b"Start Kinetic\tRuntime 0:30:00 (HH:MM:SS), Interval 0:15:00, 3 Reads")
    kin = tmp_path / "kin.txt"
    kin.write_bytes(text)
    tk = read_measured(kin)
    assert "kinetic interval (0:15:00)" in tk.attrs["time_source"]
    assert np.allclose(tk[tk.well == "A1"]["run_min"], np.arange(3) * 15 + scan / 2, atol=1e-3)
