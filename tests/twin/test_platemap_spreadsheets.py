"""Plate maps as chemists' spreadsheets save them (issue 20): Excel's padding ignored with a note, decimal and
thousands separators read unambiguously or refused by row and column -- never ``1.500`` read silently as 1.5 uL."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from twin.cli import main
from twin.platemap import PlateMapError, read_plate_map

HEADER = "well;antisolvent;antisolvent_uL;cs_uL;pbbr2_uL;acid;acid_uL;amine;amine_uL"


def semi(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def read(text: str) -> tuple[pd.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_plate_map(text)
    return df, [str(w.message) for w in caught]


def test_excel_trailing_empty_columns_and_empty_rows_are_ignored_with_a_note():
    text = semi("A1;toluene;150;100;15;OAc;0,5;OLAm;0,05;;;", ";;;;;;;;;;;",
                "A2;toluene;150;100;15;OAc;0,5;OLAm;1;;;", "", ";;;;;;;;;;;", header=HEADER + ";;;")
    df, notes = read(text)
    assert list(df["well"]) == ["A1", "A2"] and df["acid_uL"].tolist() == [0.5, 0.5]
    assert list(df.columns)[-1] == "amine_uL"
    assert "plate map: ignored 3 empty column(s) after 'amine_uL' (the trailing separators a spreadsheet writes)" \
        in notes
    assert "plate map: ignored 3 empty row(s) (line(s) 3, 5, 6)" in notes


def test_a_value_under_an_unnamed_trailing_column_is_still_refused():
    with pytest.raises(PlateMapError, match="header columns must be named"):
        read_plate_map(semi("A1;toluene;150;100;15;OAc;0,5;OLAm;0,05;;oops", header=HEADER + ";;"))


def test_european_thousands_dot_is_refused_by_row_and_column():
    text = semi("A1;toluene;150;100;15;OAc;0,5;OLAm;0,05", "A2;toluene;150;1.500;15;OAc;0,5;OLAm;0,05")
    with pytest.raises(PlateMapError) as info:
        read_plate_map(text)
    assert str(info.value) == (
        "plate map line 3 (row 2, well A2), column 'cs_uL': '1.500' is ambiguous (this file writes decimals with a "
        "comma): 1500 with '.' as a thousands separator, 1.5 as a decimal point; write 1,5 or 1500 (no thousands "
        "separator)")


def test_the_same_cell_is_refused_when_no_other_cell_gives_the_decimal_mark():
    with pytest.raises(PlateMapError, match=r"column 'cs_uL': '1.500' is ambiguous \(this file writes decimals with "
                                            r"a comma\).*write 1,5 or 1500"):
        read_plate_map(semi("A1;toluene;150;1.500;15;OAc;1;OLAm;1"))  # a semicolon file: European by custom


@pytest.mark.parametrize("cell, value", [("1,5", 1.5), ("0,500", 0.5), ("1.500,5", 1500.5), ("1.500.000", 1.5e6),
                                         ("12", 12.0)])
def test_unambiguous_numbers_are_read_as_written(cell, value):
    df, _ = read(semi(f"A1;toluene;150;100;15;OAc;0,5;OLAm;0,05;{cell}", header=HEADER + ";ratio"))
    assert df["ratio"].iloc[0] == value


def test_decimal_points_in_a_semicolon_file_make_1_500_one_and_a_half():
    df, notes = read(semi("A1;toluene;150;1.500;15;OAc;0.5;OLAm;0.05"))
    assert df["cs_uL"].iloc[0] == 1.5 and "plate map: read as semicolon-separated with decimal points" in notes


def test_a_file_mixing_both_marks_refuses_the_ambiguous_cell():
    with pytest.raises(PlateMapError, match=r"'1,500' is ambiguous \(the file's other numbers do not say which "
                                            r"decimal mark it uses\)"):
        read_plate_map(semi("A1;toluene;150;1,500;15;OAc;0.5;OLAm;0,05"))


def test_comma_separated_files_keep_decimal_points_and_refuse_a_quoted_thousands_comma():
    header = HEADER.replace(";", ",")
    df, _ = read(f"{header}\nA1,toluene,150,1.500,15,OAc,0.5,OLAm,0.05\n")
    assert df["cs_uL"].iloc[0] == 1.5
    with pytest.raises(PlateMapError, match=r"column 'cs_uL': '1,500' is ambiguous.*write 1.5 or 1500"):
        read_plate_map(f'{header}\nA1,toluene,150,"1,500",15,OAc,0.5,OLAm,0.05\n')


def test_larp_twin_run_never_dispenses_1_5_uL_for_1_500(tmp_path, capsys):
    plate = tmp_path / "excel.csv"
    plate.write_text(semi("A1;toluene;150;100;15;OAc;0,5;OLAm;0,05;;;", "A2;toluene;150;1.500;15;OAc;0,5;OLAm;0,05;;;",
                          ";;;;;;;;;;;", header=HEADER + ";;;"))
    out = tmp_path / "run"
    assert main(["run", str(plate), "--out", str(out), "--hours", "0.5", "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"larp-twin: error: {plate} line 3 (row 2, well A2), column 'cs_uL': '1.500' is ambiguous "
                       f"(this file writes decimals with a comma): 1500 with '.' as a thousands separator, 1.5 as a "
                       f"decimal point; write 1,5 or 1500 (no thousands separator)")
    assert f"note: {plate}: ignored 3 empty column(s) after 'amine_uL' (the trailing separators a spreadsheet " \
           f"writes)" in err
    assert not out.exists()  # nothing dispensed, nothing written
    plate.write_text(plate.read_text().replace("1.500", "1,5"))  # what the message says to write
    assert main(["run", str(plate), "--out", str(out), "--hours", "0.5", "--quiet", "--no-figures"]) == 0
    assert pd.read_csv(out / "plate.csv").set_index("well").loc["A2", "cs_uL"] == 1.5
