import numpy as np
import pytest

from instruments.deck import Deck
from instruments.errors import LabwareError, VolumeError
from instruments.labware import Labware, parse_well, well_names


def test_96_and_384_plates_have_standard_names_and_capacity():
    p96 = Labware("corning_96_wellplate_360ul_flat")
    p384 = Labware("corning_384_wellplate_112ul_flat")
    assert p96.n_wells == 96 and p96.wells[0] == "A1" and p96.wells[-1] == "H12"
    assert p384.n_wells == 384 and p384.wells[-1] == "P24"
    assert p96.capacity_uL == 360 and p384.capacity_uL == 112


def test_unknown_well_names_labware_and_range():
    p = Labware("corning_96_wellplate_360ul_flat", name="plate")
    with pytest.raises(LabwareError, match=r"'I1'.*plate.*A1..H12"):
        p.index("I1")


def test_unknown_labware_lists_allowed():
    with pytest.raises(LabwareError, match="allowed"):
        Labware("no_such_plate")


def test_overfill_is_refused_and_state_kept():
    p = Labware("corning_96_wellplate_360ul_flat")
    p.fill("A1", {"toluene": 300})
    with pytest.raises(VolumeError, match="overfilling A1"):
        p.fill("A1", {"toluene": 61})
    assert p.volume_uL[0] == pytest.approx(300)


def test_remove_takes_components_in_proportion():
    p = Labware("corning_96_wellplate_360ul_flat")
    p.fill("B2", {"toluene": 150, "Cs-oleate/toluene": 50})
    taken = p.remove(p.index("B2"), 100)
    assert taken["toluene"] == pytest.approx(75) and taken["Cs-oleate/toluene"] == pytest.approx(25)
    with pytest.raises(VolumeError, match="holds only"):
        p.remove(p.index("B2"), 101)


def test_parse_well_rejects_garbage():
    assert parse_well("b7") == (1, 6)
    with pytest.raises(LabwareError, match="malformed"):
        parse_well("7B")


def test_deck_refuses_double_booking_and_bad_slots():
    d = Deck()
    d.load("corning_96_wellplate_360ul_flat", 1, "plate")
    with pytest.raises(LabwareError, match="already holds"):
        d.load("nest_12_reservoir_15ml", 1)
    with pytest.raises(LabwareError, match="1..11"):
        d.load("nest_12_reservoir_15ml", 12)
    with pytest.raises(LabwareError, match="no labware named"):
        d["nope"]


def test_well_names_row_major():
    assert well_names(2, 3) == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert np.all(Labware("opentrons_96_tiprack_20ul").tip_present)
