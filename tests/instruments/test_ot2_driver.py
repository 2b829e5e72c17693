"""OT2Pipettor against opentrons' own simulator: the whole plate preparation, the run log, tips, faults."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

pytestmark = pytest.mark.ot2  # the whole module drives opentrons' simulator
pytest.importorskip("opentrons", reason="needs opentrons (pip install '.[ot2]', numpy < 2)")

from instruments.deck import Deck  # noqa: E402
from instruments.errors import InstrumentError, LabwareError, OutOfTipsError, VolumeError  # noqa: E402
from instruments.labware import LABWARE_TYPES, LabwareType  # noqa: E402
from instruments.ot2 import OT2Pipettor, steps_from_log, translate_error  # noqa: E402
from instruments.sim import SimPipettor  # noqa: E402
from scenarios import build_campaign  # noqa: E402
from instruments.clock import Clock  # noqa: E402
from twin.prep import plan_deck, prepare_plate  # noqa: E402
from instruments.ot2.protocol_writer import nominal_twin  # noqa: E402

N_WELLS = 40  # the whole paper-toluene plate: ~5 s in the opentrons simulator


@pytest.fixture(scope="module")
def plate_map():
    c = build_campaign("paper-toluene")
    return c.plate_map.iloc[:N_WELLS].reset_index(drop=True)


@pytest.fixture(scope="module")
def ot2_run(plate_map):
    """prepare_plate through OT2Pipettor on a virtual clock; (pipettor, plan, clock, wall seconds)."""
    plan = plan_deck(plate_map, 96)
    clock = Clock()
    pipettor = OT2Pipettor(clock, plan.deck)
    t0 = time.perf_counter()
    clock.run_process(prepare_plate(pipettor, plan, plate_map))
    return pipettor, plan, clock, time.perf_counter() - t0


def _twin_log(plate_map, make):
    plan = plan_deck(plate_map, 96)
    clock = Clock()
    twin = make(clock, plan.deck)
    clock.run_process(prepare_plate(twin, plan, plate_map))
    return twin.log


def _small_deck(tips_20: int = 1) -> Deck:
    deck = Deck()
    deck.load("corning_96_wellplate_360ul_flat", 1, "plate")
    solvents = deck.load("nest_12_reservoir_15ml", 2, "solvents")
    solvents.fill("A1", {"toluene": 10_000.0})
    deck.load("opentrons_96_tiprack_300ul", 9, "tips_300")
    for k in range(tips_20):
        deck.load("opentrons_96_tiprack_20ul", 10 + k, f"tips_20_{k}")
    return deck


# -- the whole protocol -------------------------------------------------------------------------------------------
def test_every_deck_labware_is_loaded_at_its_slot_under_its_load_name(ot2_run):
    pipettor, plan, _, _ = ot2_run
    loaded = pipettor.context.loaded_labwares
    for lw in plan.deck:
        assert loaded[lw.slot].load_name == lw.type.load_name
        assert loaded[lw.slot].name == lw.name
    mounted = {m: i.name for m, i in pipettor.context.loaded_instruments.items()}
    assert mounted == {"left": "p20_single_gen2", "right": "p300_single_gen2"}


def test_run_log_has_the_counts_the_plate_map_implies(ot2_run, plate_map):
    pipettor, _, _, _ = ot2_run
    text = pipettor.run_log
    kinds = Counter(line.split(" ")[0] for line in text)
    ours = Counter(e["command"] for e in pipettor.log)
    mixed = sum(e["repetitions"] for e in pipettor.log if e["command"] == "mix")
    assert kinds["Picking"] == ours["pick_up_tip"] == kinds["Dropping"] == ours["drop_tip"]
    assert kinds["Aspirating"] == ours["aspirate"] + mixed
    assert kinds["Dispensing"] == ours["dispense"] + mixed
    assert kinds["Mixing"] == ours["mix"]
    # each well: antisolvent, Cs-oleate, then its precursor with a fresh tip (none above 300 uL: no chunks)
    into_plate = [e for e in pipettor.log if e["command"] == "dispense" and e["labware"] == "plate"]
    assert len(into_plate) == 3 * len(plate_map)
    injections = [line for line in text if line.startswith("Dispensing") and " of plate " in line]
    assert len(injections) == 3 * len(plate_map) + 3 * len(plate_map)  # + the 3 mix dispenses per well


def test_run_log_matches_the_pipettor_log_one_to_one(ot2_run):
    pipettor, _, _, _ = ot2_run
    ours = steps_from_log(pipettor.log)
    assert len(ours) > 500
    assert pipettor.steps() == ours  # same order, pipettes, labware, wells, volumes, mix repetitions


def test_ot2_stream_is_the_twin_stream(ot2_run, plate_map):
    pipettor, _, _, _ = ot2_run
    ours = steps_from_log(pipettor.log)
    assert steps_from_log(_twin_log(plate_map, nominal_twin)) == ours
    # the noisy twin tells the robot the same, except that prep sizes the premix vials' mix by what the vial
    # (noisily) holds: only those mix volumes differ, by the pipetting error
    noisy = steps_from_log(_twin_log(plate_map, lambda c, d: SimPipettor(c, d, rng=np.random.default_rng(3))))
    assert [s._replace(volume_uL=None) for s in noisy] == [s._replace(volume_uL=None) for s in ours]
    for a, b in zip(noisy, ours):
        if a.command == "mix" and a.labware.startswith("premix"):
            assert a.volume_uL == pytest.approx(b.volume_uL, rel=0.15)
        else:
            assert a.volume_uL == b.volume_uL


def test_plate_state_and_injection_times_follow_the_robot(ot2_run, plate_map):
    pipettor, plan, clock, wall_s = ot2_run
    plate = plan.plate
    idx = plate.indices(plate_map["well"])
    want = plate_map[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"]].sum(axis=1).to_numpy()
    assert np.allclose(plate.volume_uL[idx], want, atol=1e-6)  # the robot's volumes are the requested ones
    t_inj = plate.injected_at_s[idx]
    assert np.all(np.isfinite(t_inj)) and np.all(np.diff(t_inj) > 0)
    assert 0 < clock.now <= wall_s  # the clock advanced by the measured opentrons call times


def test_tip_accounting_matches_opentrons(ot2_run):
    pipettor, plan, _, _ = ot2_run
    picked = Counter(e["rack"] for e in pipettor.log if e["command"] == "pick_up_tip")
    for lw in plan.deck:
        if not lw.type.is_tiprack:
            continue
        ours = {w for w, present in zip(lw.wells, lw.tip_present) if not present}
        theirs = {w.well_name for w in pipettor.ot_labware[lw.name].wells() if not w.has_tip}
        assert ours == theirs
        assert len(ours) == picked[lw.name]
    assert all(tip is None for tip in pipettor.tips.values())


def test_on_a_realtime_clock_campaign_time_is_wall_time():
    deck = _small_deck()
    pipettor = OT2Pipettor(Clock(realtime=True), deck)
    clock = pipettor.clock
    t0, wall0 = clock.now, time.perf_counter()
    clock.run_process(pipettor.transfer(50, deck["solvents"]["A1"], [deck["plate"]["A1"], deck["plate"]["A2"]]))
    assert clock.now - t0 == pytest.approx(time.perf_counter() - wall0, abs=0.1)  # not counted twice


# -- faults -------------------------------------------------------------------------------------------------------
def test_front_end_refuses_overdraw_before_the_robot_moves():
    clock = Clock()
    pipettor = OT2Pipettor(clock, _small_deck())
    clock.run_process(pipettor.pick_up_tip("p20"))
    with pytest.raises(VolumeError, match="max 20 uL more"):
        clock.run_process(pipettor.aspirate("p20", pipettor.deck["solvents"]["A1"], 30))
    assert not any(line.startswith("Aspirating") for line in pipettor.run_log)


def test_opentrons_volume_fault_becomes_volume_error_naming_the_step_and_well():
    clock = Clock()
    pipettor = OT2Pipettor(clock, _small_deck())
    clock.run_process(pipettor.pick_up_tip("p20"))
    with pytest.raises(VolumeError, match=r"aspirate 30 uL from A1 of solvents with p20.*"
                                          r"InvalidAspirateVolumeError.*fix: "):
        clock.run_process(pipettor._hw_aspirate("p20", pipettor.deck["solvents"]["A1"], 30.0, {}))


def test_unknown_well_in_opentrons_becomes_labware_error():
    pipettor = OT2Pipettor(Clock(), _small_deck())
    with pytest.raises(LabwareError, match="'Z9'"):
        pipettor._call("finding Z9 of plate", pipettor.ot_labware["plate"].__getitem__, "Z9")


def test_labware_unknown_to_opentrons_is_refused_at_load(monkeypatch):
    monkeypatch.setitem(LABWARE_TYPES, "acme_96_wellplate_200ul", LabwareType("acme_96_wellplate_200ul", 8, 12, 200))
    deck = _small_deck()
    deck.load("acme_96_wellplate_200ul", 5, "acme")
    with pytest.raises(LabwareError, match=r"acme_96_wellplate_200ul 'acme' in slot 5.*not found"):
        OT2Pipettor(Clock(), deck)


def test_out_of_tips_from_opentrons_and_from_the_front_end():
    from opentrons.protocol_api.labware import OutOfTipsError as OTOutOfTips

    err = translate_error(OTOutOfTips(), "step 7 (pick up a p20 tip)")
    assert isinstance(err, OutOfTipsError) and "step 7" in str(err) and "full tip racks" in str(err)
    deck = _small_deck()
    deck["tips_20_0"].tip_present[:] = False
    pipettor = OT2Pipettor(Clock(), deck)
    with pytest.raises(OutOfTipsError, match="p20 is out of tips"):
        pipettor.clock.run_process(pipettor.pick_up_tip("p20"))


def test_unrecognised_opentrons_fault_is_still_an_instrument_error():
    err = translate_error(RuntimeError("door open"), "step 3 (home)")
    assert type(err) is InstrumentError and "door open" in str(err)


def test_fault_mid_plate_keeps_what_was_dispensed(plate_map, monkeypatch):
    plan = plan_deck(plate_map.iloc[:8], 96)
    clock = Clock()
    pipettor = OT2Pipettor(clock, plan.deck)
    p300 = pipettor.instruments["p300"]
    real_dispense, calls = p300.dispense, []

    def failing_dispense(volume=None, location=None, *args, **kwargs):
        if location is not None:  # a dispense of ours, not one inside a mix
            calls.append(volume)
            if len(calls) == 12:
                raise KeyError("H13")
        return real_dispense(volume, location, *args, **kwargs)

    monkeypatch.setattr(p300, "dispense", failing_dispense)
    with pytest.raises(LabwareError, match=r"step \d+ \(dispense .* with p300\)"):
        clock.run_process(prepare_plate(pipettor, plan, plate_map.iloc[:8]))
    logged = sum(e["volume_uL"] for e in pipettor.log if e["command"] == "dispense" and e["labware"] == "plate")
    assert logged > 0
    assert plan.plate.volume_uL.sum() == pytest.approx(logged)


def test_tip_refill_pauses_the_robot_and_resets_the_racks():
    deck = _small_deck()
    rack = deck["tips_20_0"]
    rack.tip_present[:95] = False
    prompts = []
    clock = Clock()
    pipettor = OT2Pipettor(clock, deck, refill_prompt=prompts.append)
    clock.run_process(pipettor.pick_up_tip("p20"))
    clock.run_process(pipettor.drop_tip("p20"))
    rack.tip_present[:] = True  # what prep._ensure_tip does: an operator swapped in a full rack
    clock.run_process(pipettor.pick_up_tip("p20"))
    assert len(prompts) == 1 and "tips_20_0 (slot 10)" in prompts[0]
    assert [line for line in pipettor.run_log if line.startswith("Picking")] == [
        "Picking up tip from H12 of tips_20_0 on slot 10", "Picking up tip from A1 of tips_20_0 on slot 10"]
    assert not pipettor.ot_labware["tips_20_0"]["A1"].has_tip and pipettor.ot_labware["tips_20_0"]["B1"].has_tip


def test_default_refill_prompt_is_an_opentrons_pause():
    deck = _small_deck()
    pipettor = OT2Pipettor(Clock(), deck)
    deck["tips_20_0"].tip_present[:] = True
    pipettor._tips_left["tips_20_0"] = 0  # as if the driver had emptied it
    pipettor.clock.run_process(pipettor.pick_up_tip("p20"))
    assert any(line.startswith("Pausing robot operation: Replace the p20 tip racks") for line in pipettor.run_log)


def test_blow_out_and_touch_tip_reach_opentrons_and_match_the_front_end_log():
    deck = _small_deck()
    clock = Clock()
    pipettor = OT2Pipettor(clock, deck)
    plate, solvents = deck["plate"], deck["solvents"]
    for gen in (pipettor.pick_up_tip("p300"), pipettor.aspirate("p300", solvents["A1"], 100),
                pipettor.dispense("p300", plate["A1"], 60), pipettor.blow_out("p300", plate["A1"]),
                pipettor.touch_tip("p300", plate["A1"]), pipettor.blow_out("p300"), pipettor.drop_tip("p300")):
        clock.run_process(gen)
    assert plate.volume_uL[0] == pytest.approx(100)  # the 40 uL left in the tip were blown into A1
    assert [line for line in pipettor.run_log if line.startswith(("Blowing", "Touching"))] == [
        "Blowing out at A1 of plate on slot 1", "Touching tip", "Blowing out into Trash Bin on slot 12"]
    assert pipettor.steps() == steps_from_log(pipettor.log)


def test_a_p1000_is_mounted_and_its_flow_rate_is_the_one_opentrons_uses():
    deck = _small_deck()
    deck.load("opentrons_96_tiprack_1000ul", 8, "tips_1000")
    pipettor = OT2Pipettor(Clock(), deck, ("p20", "p1000"))
    mounted = {m: i.name for m, i in pipettor.context.loaded_instruments.items()}
    assert mounted == {"left": "p20_single_gen2", "right": "p1000_single_gen2"}
    p1000 = pipettor.instruments["p1000"]
    spec = pipettor.pipettes["p1000"]
    assert (p1000.min_volume, p1000.max_volume) == (spec.min_uL, spec.max_uL)
    assert p1000.flow_rate.aspirate == p1000.flow_rate.dispense == p1000.flow_rate.blow_out == spec.flow_uL_s
    pipettor.clock.run_process(pipettor.pick_up_tip("p1000"))
    assert pipettor.run_log[-1] == "Picking up tip from A1 of tips_1000 on slot 8"


def test_the_default_flow_rates_are_the_ones_opentrons_uses():
    pipettor = OT2Pipettor(Clock(), _small_deck())
    for name, inst in pipettor.instruments.items():
        assert inst.flow_rate.aspirate == pytest.approx(pipettor.pipettes[name].flow_uL_s)


def test_the_compared_streams_include_each_blow_out_and_touch_tip(ot2_run, plate_map):
    pipettor, _, _, _ = ot2_run
    ours = steps_from_log(pipettor.log)
    kinds = Counter(s.command for s in ours)
    assert kinds["touch_tip"] == kinds["blow_out"] >= len(plate_map)  # every injection, and the ligand dispenses
    assert Counter(s.command for s in pipettor.steps()) == kinds
