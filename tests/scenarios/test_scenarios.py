"""Built-in scenarios build valid, plannable campaigns; the what-if studies run and say what they promise."""

from __future__ import annotations

import pytest

from scenarios import SCENARIOS, build_campaign, get_scenario, plates
from twin.platemap import validate_plate_map
from twin.prep import plan_deck

PAPER = ["paper-toluene", "paper-chloroform", "paper-octyl-toluene", "paper-octyl-chloroform"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_builds_a_valid_plannable_campaign(name):
    c = build_campaign(name)
    pm = validate_plate_map(c.plate_map, c.plate_wells, source=name)
    plan_deck(pm, pm.attrs["plate_wells"])
    assert c.name == name and c.description == get_scenario(name).summary


def test_existing_scenario_names_are_kept():
    assert set(PAPER + ["plate-96", "plate-384"]) <= set(SCENARIOS)


def test_unknown_scenario_names_the_choices():
    with pytest.raises(KeyError, match="paper-toluene"):
        get_scenario("no-such")


@pytest.mark.parametrize("name", PAPER)
def test_paper_series_are_20_ratios_at_1to30_and_1to15(name):
    pm = build_campaign(name).plate_map
    assert len(pm) == 40
    assert sorted(pm["acid_to_pbbr2"].unique()) == ["1:15", "1:30"]
    assert pm.groupby("acid_to_pbbr2")["amine_per_acid"].nunique().eq(20).all()


def test_shap_design_has_160_conditions_with_pbbr2_varied_and_acid_fixed():
    pm = build_campaign("paper-shap-160").plate_map
    assert len(pm) == 160
    oac = pm[pm["acid"] == "OAc"]
    assert oac["acid_uL"].nunique() == 1
    assert sorted((oac["pbbr2_uL"] / oac["acid_uL"]).round().unique()) == [15, 20, 30]
    assert set(pm["antisolvent"]) == {"toluene", "chloroform"}
    assert set(pm["amine"]) == {"OLAm", "OctAm"}


def test_ligand_series_accepts_any_pair_by_name():
    rows = plates.ligand_series("toluene", "DecAc:DDAm", 30, ratios=(0.5,))
    assert rows.loc[0, "acid"] == "DecAc" and rows.loc[0, "amine"] == "DDAm"


def test_polarity_sweep_blue_shifts_in_polar_antisolvents():
    from scenarios.polarity_sweep import polarity_sweep

    t = polarity_sweep(hours=1.0, solvents=("hexane", "chloroform"), pairs=("OAc:OLAm",))
    peak = t[t["amine_per_acid"] == 0.1].set_index("antisolvent")["peak_nm_t0"]
    assert peak["hexane"] > peak["chloroform"] + 10


def test_timing_study_larger_plates_read_later_and_hide_the_c8_rise():
    from scenarios.timing_study import timing_study

    t = timing_study(hours=1.0, layouts=((4, 96), (40, 96)), every_min=(10.0,)).set_index("wells")
    assert t.loc[40, "first_read_age_min_max"] > t.loc[4, "first_read_age_min_max"] + 10
    assert t.loc[40, "c8_rise_seen"].startswith("0/")


def test_pipetting_error_scale_zero_dispenses_exact_ratios_and_restores_classes():
    from instruments.sim.pipettor import LIQUID_CLASSES
    from scenarios.pipetting_error import pipetting_error

    before = dict(LIQUID_CLASSES)
    t = pipetting_error(hours=0.2, factors=(0.0, 10.0), n=4)
    assert dict(LIQUID_CLASSES) == before
    exact = t[t["error_scale"] == 0]
    assert (exact["ratio_bias"].abs() < 1e-3).all()
    assert t[t["error_scale"] == 10]["ratio_bias"].abs().max() > 0.01


def test_design_search_returns_stable_green_emitters_brightest_first(tmp_path):
    from scenarios.design_search import GREEN_NM, main

    assert main(["--hours", "1", "--out", str(tmp_path)]) == 0
    import pandas as pd

    t = pd.read_csv(tmp_path / "design_search.csv")
    assert len(t) > 0
    assert t["peak_nm_end"].between(*GREEN_NM).all()
    assert t["height_end"].is_monotonic_decreasing


def test_paper_plates_use_the_labs_layout_so_well_names_mean_the_same_wells():
    """The lab's 40-well plates hold ten wells a row (its shared plate map: A1-A10 = 1:0.1-1:1.0, B1-B10 = 1:1.1-1:2.0)."""
    from pathlib import Path

    import pandas as pd

    from scenarios import plates
    from twin.platemap import PlateMapError, place

    real = pd.read_csv(Path(__file__).resolve().parents[2] / "scenarios/data/real/chloroform_1to30_plate.csv",
                       comment="#")
    ours = plates.paper_series("chloroform", "OAc:OLAm")
    assert list(ours["well"][:20]) == list(real["well"]) and list(ours["well"][20:22]) == ["C1", "C2"]
    merged = ours.merge(real, on="well", suffixes=("", "_lab"))
    assert (merged["amine_uL"] - merged["amine_uL_lab"]).abs().max() < 1e-9
    with pytest.raises(PlateMapError, match="per_row: 13; allowed: 1 to 12"):
        place(ours, per_row=13)
