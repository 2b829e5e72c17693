"""Reading opentrons run logs back into steps: the text formats, mix folding, simulate()'s nested entries."""

import pytest

from instruments.ot2.runlog import Step, flatten_run_log, parse_run_log, steps_from_log

LINES = [
    "Picking up tip from A1 of tips_20_a on slot 10",
    "Aspirating 10.0 uL from A1 of solvents on slot 2 at 7.56 uL/sec",
    "Dispensing 10.0 uL into B2 of plate on slot 1 at 7.56 uL/sec",
    "Mixing 2 times with a volume of 5.0 ul",
    "Aspirating 5.0 uL from B2 of plate on slot 1 at 7.56 uL/sec",
    "Dispensing 5.0 uL into B2 of plate on slot 1 at 7.56 uL/sec",
    "Aspirating 5.0 uL from B2 of plate on slot 1 at 7.56 uL/sec",
    "Dispensing 5.0 uL into B2 of plate on slot 1 at 7.56 uL/sec",
    "Dropping tip into Trash Bin on slot 12",
    "Pausing robot operation: refill",
    "Aspirating 33.333333333333336 uL from A1 of Cs-oleate stock on slot 2 at 92.86 uL/sec",
]


def test_run_log_lines_become_steps_with_the_pipette_inferred():
    steps = parse_run_log(LINES, {"tips_20_a": "p20"})
    assert steps == [
        Step("pick_up_tip", "p20", "tips_20_a", "A1"),
        Step("aspirate", "p20", "solvents", "A1", 10.0),
        Step("dispense", "p20", "plate", "B2", 10.0),
        Step("mix", "p20", "plate", "B2", 5.0, 2),
        Step("drop_tip", "p20"),
        Step("aspirate", "p300", "Cs-oleate stock", "A1", 33.333),
    ]


def test_a_mix_without_its_cycles_is_an_error():
    with pytest.raises(ValueError, match="Mixing 2 times"):
        parse_run_log(LINES[3:5])


def test_simulate_style_nested_entries_flatten_depth_first():
    nested = [{"payload": {"text": LINES[3]}, "logs": [{"payload": {"text": t}, "logs": []} for t in LINES[4:8]]}]
    assert flatten_run_log(nested) == LINES[3:8]


def test_pipettor_log_entries_become_the_same_steps():
    log = [
        {"t_s": 0.0, "command": "home"},
        {"t_s": 1.0, "command": "pick_up_tip", "pipette": "p20", "rack": "tips_20_a", "well": "A1"},
        {"t_s": 2.0, "command": "aspirate", "pipette": "p20", "labware": "solvents", "well": "A1", "volume_uL": 10.0,
         "actual_uL": 9.9},
        {"t_s": 3.0, "command": "dispense", "pipette": "p20", "labware": "plate", "well": "B2", "volume_uL": 10.0,
         "actual_uL": 9.9},
        {"t_s": 4.0, "command": "mix", "pipette": "p20", "labware": "plate", "well": "B2", "repetitions": 2,
         "volume_uL": 5.0},
        {"t_s": 5.0, "command": "drop_tip", "pipette": "p20"},
    ]
    assert steps_from_log(log) == parse_run_log(LINES[:9], {"tips_20_a": "p20"})


def test_blow_out_and_touch_tip_lines_become_steps_in_the_well_the_tip_was_in():
    lines = [
        "Picking up tip from A1 of tips_1000 on slot 9",
        "Aspirating 500.0 uL from A1 of solvents on slot 2 at 274.7 uL/sec",
        "Dispensing 500.0 uL into A1 of premix_1 on slot 4 at 274.7 uL/sec",
        "Blowing out at A1 of premix_1 on slot 4",
        "Touching tip",
        "Blowing out into Trash Bin on slot 12",
        "Dropping tip into Trash Bin on slot 12",
    ]
    assert parse_run_log(lines, {"tips_1000": "p1000"})[2:] == [
        Step("dispense", "p1000", "premix_1", "A1", 500.0),
        Step("blow_out", "p1000", "premix_1", "A1"),
        Step("touch_tip", "p1000", "premix_1", "A1"),
        Step("blow_out", "p1000"),
        Step("drop_tip", "p1000"),
    ]
    log = [{"command": "blow_out", "pipette": "p1000", "labware": "premix_1", "well": "A1", "volume_uL": 0.0},
           {"command": "touch_tip", "pipette": "p1000", "labware": "premix_1", "well": "A1"},
           {"command": "blow_out", "pipette": "p1000", "where": "trash", "volume_uL": 3.0}]
    assert steps_from_log(log) == parse_run_log(lines, {"tips_1000": "p1000"})[3:6]
