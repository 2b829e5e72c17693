import pandas as pd
import pytest

from twin.platemap import PlateMapError, read_plate_map, validate_plate_map

HEADER = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL"


def csv(*rows, header=HEADER):
    return "\n".join([header, *rows]) + "\n"


GOOD = "A1,toluene,150,100,15,OAc,0.5,OLAm,0.05"


def test_good_map_is_canonicalised_and_keeps_labels():
    df = read_plate_map(csv("a2,Toluene,150,100,15,oac,0.5,olam,0.1,x", GOOD,
                            header=HEADER + ",group"))
    assert list(df["well"]) == ["A1", "A2"]
    assert df.loc[1, "antisolvent"] == "toluene" and df.loc[1, "acid"] == "OAc" and df.loc[1, "amine"] == "OLAm"
    assert "group" in df.columns and df.attrs["plate_wells"] == 96


@pytest.mark.parametrize("row, match", [
    ("A1,water,150,100,15,OAc,0.5,OLAm,0.05", r"row 1 \(A1\), column 'antisolvent': unknown value 'water'; allowed"),
    ("A1,toluene,150,100,15,HCl,0.5,OLAm,0.05", r"column 'acid': unknown value 'HCl'; allowed: .*'OAc', 'OctAc'"),
    ("A1,toluene,150,100,15,OAc,0.5,TOPO,0.05", r"column 'amine'.*allowed"),
    ("A1,toluene,-5,100,15,OAc,0.5,OLAm,0.05", r"column 'antisolvent_uL': -5.*>= 0"),
    ("A1,toluene,150,abc,15,OAc,0.5,OLAm,0.05", r"column 'cs_uL': 'abc'"),
    ("A1,toluene,250,100,15,OAc,0.5,OLAm,0.05", r"exceeds the well capacity 360"),
    ("Z99,toluene,150,100,15,OAc,0.5,OLAm,0.05", r"column 'well': 'Z99' is not on a"),
    ("A1x,toluene,150,100,15,OAc,0.5,OLAm,0.05", r"column 'well'.*malformed"),
])
def test_bad_rows_name_row_column_and_allowed(row, match):
    with pytest.raises(PlateMapError, match=match):
        read_plate_map(csv(row))


def test_duplicate_well():
    with pytest.raises(PlateMapError, match=r"row 2, column 'well': A1 is duplicated \(first on row 1\)"):
        read_plate_map(csv(GOOD, GOOD))


def test_missing_column():
    with pytest.raises(PlateMapError, match=r"missing column\(s\) \['amine_uL'\]"):
        read_plate_map(csv("A1,toluene,150,100,15,OAc,0.5,OLAm", header=HEADER.rsplit(",", 1)[0]))


def test_384_inferred_and_capacity_checked():
    df = read_plate_map(csv("P24,toluene,50,30,5,OAc,0.2,OLAm,0.1"))
    assert df.attrs["plate_wells"] == 384
    # a well only a 384-well plate has, with volumes only a 96-well plate holds: the well is blamed, not a volume
    with pytest.raises(PlateMapError, match=r"'P24' is outside a 96-well plate.*112 uL wells cannot hold"):
        read_plate_map(csv("P24,toluene,150,100,15,OAc,0.5,OLAm,0.05"))
    with pytest.raises(PlateMapError, match="capacity 112"):  # a declared 384-well plate: the volume is the fault
        read_plate_map("# plate_wells: 384\n" + csv("P24,toluene,150,100,15,OAc,0.5,OLAm,0.05"))


def test_missing_file(tmp_path):
    with pytest.raises(PlateMapError, match="does not exist"):
        read_plate_map(str(tmp_path / "nope.csv"))


def test_empty_map():
    with pytest.raises(PlateMapError, match="no wells"):
        validate_plate_map(pd.DataFrame(columns=HEADER.split(",")))
