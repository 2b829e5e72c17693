"""WellRecipes and the property tables: amounts from volumes, validation errors that name field, index, allowed."""

from __future__ import annotations

import numpy as np
import pytest

from chemistry import (ACIDS, AMINES, SOLVENTS, ChemistryError, WellRecipes, carboxylic_acid, primary_amine,
                       standard_recipes)
from chemistry.errors import InvalidAmountError, UnknownMaterialError


def volumes(**over):
    base = dict(antisolvent=["toluene", "Chloroform"], antisolvent_uL=np.array([150.0, 150.0]),
                cs_uL=np.array([100.0, 100.0]), pbbr2_uL=np.array([15.0, 15.0]), acid=["OAc", "octac"],
                acid_uL=np.array([0.5, 0.5]), amine=["OLAm", "OctAm"], amine_uL=np.array([0.05, 1.0]))
    base.update(over)
    return base


def test_amounts_from_volumes_and_stocks():
    r = WellRecipes.from_volumes(**volumes())
    assert r.n_wells == 2
    np.testing.assert_allclose(r.cs_umol, 0.5)  # 100 uL x 5 mM
    np.testing.assert_allclose(r.pbbr2_umol, 0.75)  # 15 uL x 50 mM
    np.testing.assert_allclose(r.acid_umol[0], 0.5 * 0.895 / 282.5 * 1e3)
    np.testing.assert_allclose(r.amine_umol[1], 1.0 * 0.782 / 129.2 * 1e3)
    np.testing.assert_allclose(r.total_uL, [265.55, 266.5])
    np.testing.assert_allclose(r.dmf_fraction, 15.0 / r.total_uL)


def test_names_are_case_insensitive_and_aliases_work():
    r = WellRecipes.from_volumes(**volumes(antisolvent=["TOL", "cf"], acid="oleic acid", amine=["oleylamine", "OLAM"]))
    assert [s.name for s in r.antisolvent] == ["toluene", "chloroform"]
    assert {a.name for a in r.acid} == {"OAc"}


@pytest.mark.parametrize("field,value,needle", [
    ("antisolvent", ["toluene", "water"], "antisolvent at index 1"),
    ("acid", ["OAc", "citric"], "acid at index 1"),
    ("amine", ["pyridine", "OLAm"], "amine at index 0"),
])
def test_unknown_material_names_field_index_and_allowed(field, value, needle):
    with pytest.raises(UnknownMaterialError) as err:
        WellRecipes.from_volumes(**volumes(**{field: value}))
    assert needle in str(err.value)
    assert "allowed" in str(err.value)
    assert isinstance(err.value, ChemistryError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("field", ["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"])
@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_nan_inf_volumes_raise_naming_field_and_index(field, bad):
    v = volumes()
    arr = np.array(v[field], dtype=float)
    arr[1] = bad
    v[field] = arr
    with pytest.raises(InvalidAmountError, match=rf"{field}\[1\]") as err:
        WellRecipes.from_volumes(**v)
    assert ">= 0" in str(err.value)


def test_length_mismatch_raises():
    with pytest.raises(ChemistryError, match="cs_uL"):
        WellRecipes.from_volumes(**volumes(cs_uL=np.array([100.0, 100.0, 100.0])))


def test_temperature_out_of_range_raises():
    with pytest.raises(ChemistryError, match="temperature_C"):
        WellRecipes.from_volumes(**volumes(temperature_C=np.array([25.0, 400.0])))


def test_zero_pbbr2_volume_is_an_empty_well_not_an_error():
    r = WellRecipes.from_volumes(**volumes(pbbr2_uL=np.array([0.0, 15.0])))
    assert r.pbbr2_umol[0] == 0.0


def test_explicit_concentrations_with_zero_pbbr2_raise():
    with pytest.raises(InvalidAmountError, match=r"pbbr2_mM\[0\]"):
        WellRecipes.from_concentrations("toluene", 1.9, [0.0, 2.8], "OAc", 6.0, "OLAm", 0.6)


def test_concentrations_round_trip_with_volumes():
    v = standard_recipes([0.5])
    c = WellRecipes.from_concentrations("toluene", v.cs_umol / v.total_uL * 1e3, v.pbbr2_umol / v.total_uL * 1e3,
                                        "OAc", v.acid_umol / v.total_uL * 1e3, "OLAm", v.amine_umol / v.total_uL * 1e3,
                                        dmf_fraction=v.dmf_fraction, total_uL=v.total_uL)
    for name in ("cs_umol", "pbbr2_umol", "acid_umol", "amine_umol", "dmf_uL"):
        np.testing.assert_allclose(getattr(c, name), getattr(v, name))


def test_from_records_validates_unknown_keys():
    good = dict(antisolvent="toluene", antisolvent_uL=150, cs_uL=100, pbbr2_uL=15, acid_uL=0.5, amine_uL=0.05)
    assert WellRecipes.from_records([good]).n_wells == 1
    with pytest.raises(ChemistryError, match="records\\[0\\]"):
        WellRecipes.from_records([{**good, "amine_ul": 0.1}])


def test_solvent_table_holds_required_antisolvents():
    for name in ("toluene", "chloroform", "hexane", "octane", "cyclohexane", "xylene", "chlorobenzene",
                 "dichloromethane", "ethyl acetate"):
        s = SOLVENTS[name]
        assert s.dielectric_constant > 1 and s.polarity_index >= 0
    assert SOLVENTS["chloroform"].dielectric_constant > SOLVENTS["toluene"].dielectric_constant


def test_ligand_tables_extensible_by_chain_length():
    assert ACIDS["OctAc"].n_carbons == 8 and AMINES["OLAm"].n_carbons == 18
    lauric = carboxylic_acid(12)
    assert lauric.molar_mass_g_mol == pytest.approx(200.3, abs=0.5)
    assert primary_amine(8).molar_mass_g_mol == pytest.approx(129.2, abs=0.3)  # matches the octylamine row


def test_subset_keeps_wells():
    r = standard_recipes([0.1, 0.5, 2.0])
    sub = r.subset([0, 2])
    assert sub.n_wells == 2
    np.testing.assert_allclose(sub.amine_umol, r.amine_umol[[0, 2]])
