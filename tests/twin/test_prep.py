"""The deck plan and plate preparation: premix vials, stock volumes, the tip budget, the deck layout and its errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from instruments.ot2.layout import DeckLayout, LayoutError
from instruments.sim import SimPipettor
from scenarios import build_campaign
from instruments.clock import Clock
from twin.platemap import validate_plate_map
from twin.prep import MIN_TRANSFER_UL, PREMIX_DEAD_UL, plan_deck, prepare_plate
from instruments.ot2.protocol_writer import nominal_twin


def _plate_map(name: str):
    c = build_campaign(name)
    return validate_plate_map(c.plate_map, c.plate_wells)


@pytest.fixture(scope="module")
def map_96():
    return _plate_map("plate-96")


@pytest.fixture(scope="module")
def run_384():
    """The 384-well plate prepared by the nominal twin: (plate map, plan, twin)."""
    pm = _plate_map("plate-384")
    plan = plan_deck(pm, 384)
    clock = Clock()
    twin = nominal_twin(clock, plan.deck)
    clock.run_process(prepare_plate(twin, plan, pm))
    return pm, plan, twin


def _run(plan, pm, pipettor_cls=SimPipettor, **kw):
    clock = Clock()
    twin = pipettor_cls(clock, plan.deck, plan.pipettes, **kw)
    clock.run_process(prepare_plate(twin, plan, pm))
    return twin


# -- premix vials -------------------------------------------------------------------------------------------------
def test_wells_with_the_same_precursor_share_one_premix_vial(map_96):
    plan = plan_deck(map_96, 96)
    injected = map_96[map_96["pbbr2_uL"] > 0]
    assert sorted(w for pm in plan.premixes for w in pm.wells) == sorted(injected["well"])
    by_well = injected.set_index("well")
    for pm in plan.premixes:
        rows = by_well.loc[pm.wells]
        for col in ("pbbr2_uL", "acid_uL", "amine_uL"):
            assert rows[col].nunique() == 1  # one composition per vial
    vials = [(pm.vial.labware.name, pm.vial.name) for pm in plan.premixes]
    assert len(set(vials)) == len(vials) == len(plan.premixes)


def test_premix_batches_cover_their_wells_plus_dead_volume_and_no_transfer_is_below_1_uL(map_96):
    plan = plan_deck(map_96, 96)
    for pm in plan.premixes:
        assert sum(pm.batch_uL.values()) >= len(pm.wells) * pm.per_well_total_uL + PREMIX_DEAD_UL - 1e-9
        assert min(pm.batch_uL.values()) >= MIN_TRANSFER_UL - 1e-9
        ratio = {c: pm.batch_uL[c] / pm.per_well_uL[c] for c in pm.per_well_uL}
        assert max(ratio.values()) == pytest.approx(min(ratio.values()))  # scaled, not re-proportioned


def test_stock_volumes_cover_the_plan(map_96):
    plan = plan_deck(map_96, 96)
    twin = _run(plan, map_96, rng=np.random.default_rng(0))  # with pipetting error: the margin must absorb it
    drawn = Counter((e["labware"], e["well"]) for e in twin.log
                    if e["command"] == "aspirate" and e["labware"] in ("solvents", "pbbr2_stock", "ligands"))
    assert drawn  # the stocks were used, and every stock well still holds its dead volume
    for comp, refs in plan.stocks.items():
        for ref in refs:
            assert ref.labware.volume_uL[ref.index] >= ref.labware.type.dead_volume_uL - 1e-6, (comp, str(ref))
    plate = plan.plate
    want = map_96.set_index("well")[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"]].sum(axis=1)
    got = plate.volume_uL[plate.indices(want.index)]
    assert got == pytest.approx(want.to_numpy(), rel=0.08, abs=0.5)


# -- blow out and touch tip where a lab would ---------------------------------------------------------------------
def test_each_injection_and_each_ligand_dispense_is_blown_out_and_touched_off(map_96):
    plan = plan_deck(map_96, 96)
    log = _run(plan, map_96).log
    sheds = [(e["labware"], e["well"]) for e in log if e["command"] == "touch_tip"]
    assert [(e["labware"], e["well"]) for e in log if e["command"] == "blow_out"] == sheds
    injected = map_96.loc[map_96["pbbr2_uL"] > 0, "well"]
    assert [w for lw, w in sheds if lw == "plate"] == list(injected)
    ligand_dispenses = [e for i, e in enumerate(log) if e["command"] == "dispense" and e["labware"].startswith("premix")
                        and log[i - 1]["labware"] == "ligands"]
    assert sum(lw.startswith("premix") for lw, _ in sheds) == len(ligand_dispenses) > 0
    for i, e in enumerate(log):  # always right after the dispense (or the mix) in that same well, then touch
        if e["command"] == "blow_out":
            assert log[i - 1]["command"] in ("dispense", "mix") and log[i - 1]["well"] == e["well"]
            assert log[i + 1]["command"] == "touch_tip"


# -- tips -------------------------------------------------------------------------------------------------------
def test_tip_budget_and_operator_refills_on_a_384_plate(run_384):
    pm, plan, twin = run_384
    picked = Counter(e["pipette"] for e in twin.log if e["command"] == "pick_up_tip")
    assert dict(picked) == plan.tips_needed
    assert plan.tips_needed["p20"] > 96 * 2  # more than the two p20 racks hold
    refills = Counter(e["pipette"] for e in twin.log if e["command"] == "operator_refill_tips")
    assert {p: refills.get(p, 0) for p in plan.pipettes} == plan.tip_refills == {"p20": 1, "p300": 0}
    assert "operator refills" in plan.deck_sheet()


def test_no_transfer_on_the_384_plate_is_below_the_pipette_minimum(run_384):
    _, _, twin = run_384
    for e in twin.log:
        if e["command"] in ("aspirate", "dispense"):
            assert e["volume_uL"] >= twin.pipettes[e["pipette"]].min_uL - 1e-9


def test_refusing_refills_makes_a_short_tip_layout_an_error_naming_the_fix():
    pm = _plate_map("plate-384")
    with pytest.raises(LayoutError, match=r"needs 324 p20 tips but its 2 rack\(s\) in slot\(s\) \[10, 11\] hold 192; "
                                          r"fix: add 2 tip rack slot\(s\) to tip_racks\['p20'\]"):
        plan_deck(pm, 384, DeckLayout(allow_tip_refills=False))


# -- the layout -----------------------------------------------------------------------------------------------
def test_default_layout_is_the_workflow_deck(map_96):
    plan = plan_deck(map_96, 96)
    slots = {lw.name: (lw.slot, lw.type.load_name) for lw in plan.deck}
    assert slots["plate"] == (1, "corning_96_wellplate_360ul_flat")
    assert slots["solvents"] == (2, "nest_12_reservoir_15ml")
    assert slots["pbbr2_stock"] == (3, "opentrons_6_tuberack_falcon_50ml_conical")
    assert slots["ligands"] == (6, "opentrons_24_tuberack_nest_1.5ml_snapcap")
    assert slots["tips_300"] == (9, "opentrons_96_tiprack_300ul")
    assert slots["tips_20_a"] == (10, "opentrons_96_tiprack_20ul") and slots["tips_20_b"][0] == 11
    assert [slots[f"premix_{k}"][0] for k in (1, 2, 3)] == [4, 5, 7]  # 52 compositions: 3 racks of 24
    assert plan.pipettes == ("p20", "p300")


def test_a_layout_from_a_dict_moves_labware(map_96):
    plan = plan_deck(map_96, 96, {"plate_slot": 2, "solvents": {"slot": 1, "load_name": "nest_12_reservoir_15ml"}})
    assert plan.deck["plate"].slot == 2 and plan.deck["solvents"].slot == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"premix_slots": [4, 5, 6]}, r"slot 6 is given to both ligands and premix_3; fix: move premix_3 to a free "
                                  r"slot \[7, 8\]"),
    ({"tip_racks": {"p20": [10, 12], "p300": [9]}}, r"slot 12 for tips_20_b is not on the deck.*1\.\.11.*fixed "
                                                    r"trash.*fix: move tips_20_b"),
    ({"plate_slot": 0}, r"slot 0 for plate is not on the deck"),
    pytest.param({"solvents": {"slot": 2, "load_name": "nest_12_reservoir_15mL"}},
                 r"unknown labware 'nest_12_reservoir_15mL' for solvents \(slot 2\): opentrons-shared-data has no "
                 r"such definition; did you mean \['nest_12_reservoir_15ml'",
                 marks=pytest.mark.ot2, id="load-name-unknown-to-opentrons"),
    ({"ligands": {"slot": 6, "load_name": "opentrons_96_tiprack_20ul"}}, r"ligands \(slot 6\) is a tip rack"),
    ({"tip_racks": {"p20": [10], "p300": [9], "p1000": [11]}}, r"2 mounts; got 3 pipettes"),
    ({"tip_racks": {"p50": [10]}}, r"unknown pipette 'p50'"),
    ({"tip_racks": {"p20": [], "p300": [9]}}, r"gives the p20 no slot"),
    ({"premix_slot": [4]}, r"Extra inputs are not permitted"),
])
def test_a_layout_that_does_not_fit_the_deck_is_one_clear_error(kwargs, match):
    with pytest.raises(ValidationError, match=match) as info:
        DeckLayout(**kwargs)
    assert info.value.error_count() == 1


def test_labware_opentrons_knows_but_the_twin_does_not_model_is_refused():
    with pytest.raises(ValidationError, match=r"'opentrons_24_tuberack_nest_2ml_snapcap' for premix_1 \(slot 4\) "
                                              r"is not modelled by the twin; fix"):
        DeckLayout(premix_rack="opentrons_24_tuberack_nest_2ml_snapcap")


def test_too_few_premix_racks_for_the_plate_map_names_the_fix(map_96):
    with pytest.raises(LayoutError, match=r"52 distinct precursor compositions need 3 premix racks .* the layout has "
                                          r"2 \(premix_slots \[4, 5\].*fix: add 1 free slot"):
        plan_deck(map_96, 96, DeckLayout(premix_slots=[4, 5]))


def test_a_pipettor_mounting_other_pipettes_than_the_plan_is_refused(map_96):
    plan = plan_deck(map_96.iloc[:4], 96)
    clock = Clock()
    twin = SimPipettor(clock, plan.deck, ("p20", "p1000"))
    with pytest.raises(LayoutError, match=r"tips for \['p20', 'p300'\] but the pipettor mounts \['p1000', 'p20'\]"):
        clock.run_process(prepare_plate(twin, plan, map_96.iloc[:4]))


def test_a_p1000_layout_is_planned_and_run_with_p1000_for_large_volumes(map_96):
    layout = DeckLayout(tip_racks={"p20": [10, 11], "p1000": [9]})
    plan = plan_deck(map_96, 96, layout)
    assert plan.pipettes == ("p20", "p1000") and plan.deck["tips_1000"].type.load_name == "opentrons_96_tiprack_1000ul"
    twin = _run(plan, map_96)
    picked = Counter(e["pipette"] for e in twin.log if e["command"] == "pick_up_tip")
    assert dict(picked) == plan.tips_needed and picked["p1000"] > 0
    for e in twin.log:
        if e["command"] in ("aspirate", "dispense") and e["pipette"] == "p1000":
            assert 100 - 1e-9 <= e["volume_uL"] <= 1000
