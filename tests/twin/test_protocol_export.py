"""The exported OT-2 protocol: stand-alone, apiLevel stated once, and opentrons' simulator replays the twin's steps."""

from __future__ import annotations

import ast
from collections import Counter

import pytest

pytestmark = pytest.mark.ot2  # the whole module drives opentrons' simulator
pytest.importorskip("opentrons", reason="needs opentrons (pip install '.[ot2]', numpy < 2)")

import opentrons.simulate  # noqa: E402

from instruments.ot2.runlog import flatten_run_log, parse_run_log, rack_pipettes, steps_from_log  # noqa: E402
from scenarios import build_campaign  # noqa: E402
from twin.protocol_export import (check_api_level, export_protocol, protocol_source,  # noqa: E402
                                  record_protocol)

N_WELLS = 8


@pytest.fixture(scope="module")
def plate_map():
    return build_campaign("paper-toluene").plate_map.iloc[:N_WELLS].reset_index(drop=True)


@pytest.fixture(scope="module")
def exported(plate_map, tmp_path_factory):
    path = export_protocol(plate_map, tmp_path_factory.mktemp("ot2") / "protocol.py", plate_wells=96)
    with open(path) as f:
        run_log, _ = opentrons.simulate.simulate(f)
    return path, run_log


def test_simulated_protocol_replays_the_twin_step_for_step(exported, plate_map):
    _, run_log = exported
    plan, _, log = record_protocol(plate_map, 96)
    assert parse_run_log(run_log, rack_pipettes(plan.deck)) == steps_from_log(log)


def test_aspirate_and_dispense_counts_match_the_twin(exported, plate_map):
    _, run_log = exported
    _, _, log = record_protocol(plate_map, 96)
    ours = Counter(e["command"] for e in log)
    mixed = sum(e["repetitions"] for e in log if e["command"] == "mix")
    theirs = Counter(line.split(" ")[0] for line in flatten_run_log(run_log))
    assert theirs["Aspirating"] == ours["aspirate"] + mixed
    assert theirs["Dispensing"] == ours["dispense"] + mixed
    assert theirs["Picking"] == ours["pick_up_tip"] == N_WELLS + 13  # 13 = premix, antisolvent and Cs tips


def test_file_is_stand_alone_with_api_level_in_one_place(exported):
    path, _ = exported
    text = path.read_text()
    assert text.count("apiLevel") == 1
    tree = ast.parse(text)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == []  # nothing from larp-twin: the Opentrons App needs only this file
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    assert {"metadata", "requirements", "LABWARE", "PIPETTES", "STOCKS", "STEPS"} <= names
    assert any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body)


def test_export_is_deterministic(exported, plate_map, tmp_path):
    path, _ = exported
    again = export_protocol(plate_map, tmp_path / "again.py", plate_wells=96)
    assert again.read_bytes() == path.read_bytes()


def test_operator_tip_refill_becomes_a_pause_and_rack_reset(plate_map, tmp_path):
    plan, fills, log = record_protocol(plate_map, 96)
    k = next(i for i, e in enumerate(log) if e["command"] == "drop_tip")
    log = log[:k + 1] + [{"command": "operator_refill_tips", "pipette": "p300", "racks": 1}] + log[k + 1:]
    path = tmp_path / "refill.py"
    path.write_text(protocol_source(plan, fills, log, "2.20"))
    with open(path) as f:
        run_log, _ = opentrons.simulate.simulate(f)
    lines = flatten_run_log(run_log)
    pause = next(i for i, t in enumerate(lines) if t.startswith("Pausing robot operation"))
    assert "tips_300" in lines[pause]
    assert parse_run_log(run_log, rack_pipettes(plan.deck)) == steps_from_log(log)  # the pause moves no liquid


@pytest.mark.parametrize("bad", ["2.13", "2.99", "3.0", "2", "latest"])
def test_unsupported_api_levels_are_refused(bad):
    with pytest.raises(ValueError, match="api_level"):
        check_api_level(bad)


def test_a_newer_api_level_still_simulates(plate_map, tmp_path):
    path = export_protocol(plate_map.iloc[:2], tmp_path / "p.py", api_level="2.27", plate_wells=96)
    with open(path) as f:
        run_log, _ = opentrons.simulate.simulate(f)
    assert sum(t.startswith("Aspirating") for t in flatten_run_log(run_log)) > 0


def test_blow_outs_and_touch_tips_are_replayed(exported, plate_map):
    _, run_log = exported
    _, _, log = record_protocol(plate_map, 96)
    ours = Counter(e["command"] for e in log)
    theirs = Counter(line.split(" ")[0] for line in flatten_run_log(run_log))
    assert theirs["Blowing"] == ours["blow_out"] > N_WELLS
    assert theirs["Touching"] == ours["touch_tip"] == ours["blow_out"]


def test_a_p1000_layout_exports_and_simulates_step_for_step(plate_map, tmp_path):
    layout = {"tip_racks": {"p20": [10, 11], "p1000": [9]}}
    path = export_protocol(plate_map, tmp_path / "p1000.py", plate_wells=96, layout=layout)
    assert "'p1000': ('p1000_single_gen2', 'right', ['tips_1000'])" in path.read_text()
    with open(path) as f:
        run_log, _ = opentrons.simulate.simulate(f)
    plan, _, log = record_protocol(plate_map, 96, layout)
    steps = steps_from_log(log)
    assert any(s.pipette == "p1000" for s in steps)
    assert parse_run_log(run_log, rack_pipettes(plan.deck)) == steps
