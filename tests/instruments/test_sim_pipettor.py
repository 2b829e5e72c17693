import numpy as np
import pytest

from instruments.deck import Deck
from instruments.errors import LabwareError, OutOfTipsError, TipError, VolumeError
from instruments.sim import SimPipettor
from instruments.clock import Clock


@pytest.fixture
def rig():
    clock = Clock()
    deck = Deck()
    plate = deck.load("corning_96_wellplate_360ul_flat", 1, "plate")
    res = deck.load("nest_12_reservoir_15ml", 2, "solvents")
    deck.load("opentrons_96_tiprack_300ul", 9, "tips_300")
    deck.load("opentrons_96_tiprack_20ul", 10, "tips_20")
    res.fill("A1", {"toluene": 10_000})
    res.fill("A2", {"PbBr2/DMF": 5_000})
    pip = SimPipettor(clock, deck, rng=np.random.default_rng(1))
    return clock, deck, plate, res, pip


def run(clock, gen):
    return clock.run_process(gen)


def test_transfer_moves_liquid_and_takes_plausible_time(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.transfer(150, res["A1"], plate["A1"]))
    assert plate.volume_uL[0] == pytest.approx(150, rel=0.05)
    # pick-up + aspirate + dispense + drop at 92.86 uL/s and ~400 mm/s gantry: seconds, not ms or minutes
    assert 8 < clock.now < 30
    cmds = [e["command"] for e in pip.log]
    assert cmds == ["pick_up_tip", "aspirate", "dispense", "drop_tip"]


def test_pipetting_error_is_recorded_not_requested_volume(rig):
    clock, deck, plate, res, pip = rig
    wells = [plate[w] for w in plate.wells[:24]]
    run(clock, pip.transfer(2.0, res["A2"], wells, pipette="p20", new_tip="once"))
    got = plate.component("PbBr2/DMF")[:24]
    assert not np.allclose(got, 2.0)  # the error is real
    assert abs(got.mean() / 2.0 - 1) < 0.08 and 0.002 < got.std() / 2.0 < 0.1


def test_over_aspirating_a_tip_is_refused(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.pick_up_tip("p20"))
    with pytest.raises(VolumeError, match="cannot aspirate 25 uL"):
        run(clock, pip.aspirate("p20", res["A1"], 25))


def test_below_pipette_minimum_is_refused(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.pick_up_tip("p300"))
    with pytest.raises(VolumeError, match="below its minimum 20"):
        run(clock, pip.aspirate("p300", res["A1"], 5))


def test_over_aspirating_a_well_is_refused(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.pick_up_tip("p300"))
    with pytest.raises(VolumeError, match="holds only 0.00 uL"):
        run(clock, pip.aspirate("p300", plate["H12"], 50))


def test_overfilling_a_well_is_refused_and_nothing_lost(rig):
    clock, deck, plate, res, pip = rig
    plate.fill("A1", {"toluene": 300})
    run(clock, pip.pick_up_tip("p300"))
    run(clock, pip.aspirate("p300", res["A1"], 100))
    with pytest.raises(VolumeError, match="overfilling A1"):
        run(clock, pip.dispense("p300", plate["A1"]))
    assert plate.volume_uL[0] == pytest.approx(300)
    assert pip.tips["p300"].nominal_uL == pytest.approx(100)


def test_tip_rules(rig):
    clock, deck, plate, res, pip = rig
    with pytest.raises(TipError, match="no tip"):
        run(clock, pip.aspirate("p300", res["A1"], 50))
    run(clock, pip.pick_up_tip("p300"))
    with pytest.raises(TipError, match="already has a tip"):
        run(clock, pip.pick_up_tip("p300"))


def test_out_of_tips(rig):
    clock, deck, plate, res, pip = rig
    deck["tips_20"].tip_present[:] = False
    with pytest.raises(OutOfTipsError, match="out of tips"):
        run(clock, pip.pick_up_tip("p20"))


def test_injection_time_recorded_on_first_precursor(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.transfer(15, res["A2"], [plate["A1"], plate["A2"]], pipette="p20"))
    t = plate.injected_at_s[:2]
    assert np.all(np.isfinite(t)) and t[1] > t[0]
    assert np.isnan(plate.injected_at_s[2])


def test_same_seed_same_volumes():
    def volumes(seed):
        clock = Clock()
        deck = Deck()
        plate = deck.load("corning_96_wellplate_360ul_flat", 1, "plate")
        res = deck.load("nest_12_reservoir_15ml", 2, "r")
        deck.load("opentrons_96_tiprack_20ul", 10)
        res.fill("A1", {"OAc": 1000})
        pip = SimPipettor(clock, deck, pipettes=("p20",), rng=np.random.default_rng(seed))
        clock.run_process(pip.transfer(3, res["A1"], [plate[w] for w in plate.wells[:8]], new_tip="once"))
        return plate.volume_uL.copy()

    assert np.array_equal(volumes(5), volumes(5))
    assert not np.array_equal(volumes(5), volumes(6))


def test_blow_out_and_touch_tip_take_the_twins_time_and_are_logged(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.pick_up_tip("p20"))
    run(clock, pip.aspirate("p20", res["A1"], 10))
    run(clock, pip.dispense("p20", plate["A1"]))
    before, t0 = plate.volume_uL[0], clock.now
    run(clock, pip.blow_out("p20", plate["A1"]))
    run(clock, pip.touch_tip("p20", plate["A1"]))
    timing = pip.timing  # in the well already: a short rise, not a gantry move
    assert clock.now - t0 == pytest.approx(2 * timing.in_well_z_s + timing.blow_out_s + timing.touch_tip_s)
    assert plate.volume_uL[0] == before  # nothing left in the tip after a full dispense
    assert [e["command"] for e in pip.log[-2:]] == ["blow_out", "touch_tip"]
    assert pip.log[-2] | {"t_s": 0} == {"t_s": 0, "command": "blow_out", "pipette": "p20", "labware": "plate",
                                        "well": "A1", "volume_uL": 0.0}


def test_blow_out_of_a_partly_dispensed_tip_delivers_the_rest_and_stamps_the_injection(rig):
    clock, deck, plate, res, pip = rig
    run(clock, pip.pick_up_tip("p20"))
    run(clock, pip.aspirate("p20", res["A2"], 10))
    run(clock, pip.blow_out("p20", plate["B1"]))
    i = plate.index("B1")
    assert plate.component("PbBr2/DMF")[i] == pytest.approx(10, rel=0.1) and np.isfinite(plate.injected_at_s[i])
    assert pip.tips["p20"].nominal_uL == 0 and pip.log[-1]["volume_uL"] > 9
    run(clock, pip.aspirate("p20", res["A2"], 5))
    run(clock, pip.blow_out("p20"))  # into the trash: lost, and said so
    assert pip.log[-1]["where"] == "trash" and pip.tips["p20"].liquid == {}


def test_blow_out_and_touch_tip_need_a_tip_and_a_well_that_is_not_a_tip_rack(rig):
    clock, deck, plate, res, pip = rig
    with pytest.raises(TipError, match="no tip"):
        run(clock, pip.touch_tip("p20", plate["A1"]))
    with pytest.raises(TipError, match="no tip"):
        run(clock, pip.blow_out("p20", plate["A1"]))
    run(clock, pip.pick_up_tip("p20"))
    with pytest.raises(LabwareError, match="tips_300 is a tip rack"):
        run(clock, pip.touch_tip("p20", deck["tips_300"]["A1"]))
    plate.fill("C1", {"toluene": 360})
    run(clock, pip.aspirate("p20", res["A1"], 5))
    with pytest.raises(VolumeError, match="overfilling C1 of plate by blowing out .* blow out into the trash"):
        run(clock, pip.blow_out("p20", plate["C1"]))


def test_p1000_is_chosen_for_large_volumes_when_mounted_and_takes_its_tips(rig):
    clock, deck, plate, res, _ = rig
    deck.load("opentrons_96_tiprack_1000ul", 8, "tips_1000")
    pip = SimPipettor(clock, deck, ("p20", "p1000"))
    assert pip.mounts == {"p20": "left", "p1000": "right"}
    assert pip.choose_pipette(500) == "p1000" and pip.choose_pipette(10) == "p20"
    with pytest.raises(VolumeError, match="no mounted pipette can move 50 uL"):
        pip.choose_pipette(50)
    run(clock, pip.transfer(500, res["A1"], deck.load("nest_12_reservoir_15ml", 5, "out")["A1"]))
    assert pip.log[0]["rack"] == "tips_1000"
    with pytest.raises(ValueError, match="2 mounts; got 3 pipettes"):
        SimPipettor(clock, deck, ("p20", "p300", "p1000"))
