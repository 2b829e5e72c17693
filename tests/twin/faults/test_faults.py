"""Fault injection: plans, every fault kind in the twins and through the Cytation emulator, the runner's policies."""

import json

import numpy as np
import pytest

from instruments.cytation import Cytation5Emulator, LinkSettings
from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import LabConfig, Schedule
from twin.faults import FaultInjector, FaultKind, FaultPlan, FaultPlanError, TipPickupError
from twin.faults.recovery import CampaignAborted

ALL_KINDS = """
faults:
  - {kind: tip_pickup, nth: 2}
  - {kind: short_aspiration, nth: 3}
  - {kind: short_aspiration, nth: 5, detected: false, fraction: 0.5}
  - {kind: well_skipped, well: A2, nth: 1}
  - {kind: reader_timeout, nth: 2}
  - {kind: read_refused, nth: 4, times: 3}
  - {kind: garbled_frame, probability: 0.3, times: 2}
  - {kind: tray_jam, nth: 2}
  - {kind: temperature_excursion, at_s: 2000, duration_s: 200, delta_C: 4}
"""


def campaign(faults=None, hours=1.0, wells=(0, 5, 19)):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[list(wells)].copy()
    pm["well"] = [f"A{i + 1}" for i in range(len(wells))]
    return Campaign(name="faults", plate_map=pm, faults=faults,
                    schedule=Schedule(hours=hours, every_min=5, emission_step_nm=25))


def test_plan_loads_from_yaml_and_json_and_forbids_typos(tmp_path):
    y = tmp_path / "f.yaml"
    y.write_text(ALL_KINDS)
    plan = FaultPlan.load(y)
    assert len(plan.faults) == 9 and plan.policy(FaultKind.tray_jam).action == "pause"
    j = tmp_path / "f.json"
    j.write_text(json.dumps(plan.model_dump(mode="json")))
    assert FaultPlan.load(j) == plan
    for bad in ("faults: [{kind: tip_pickup, nth: 1, nht: 2}]", "faults: [{kind: tip_pickup}]",
                "faults: [{kind: meteor, nth: 1}]", "faults: [{kind: crash, nth: 1}]", "{faults: [", "42",
                "policies: {tray_jam: {action: retry, max_retries: 1000}}"):
        with pytest.raises(FaultPlanError):
            FaultPlan.from_text(bad)


def test_every_fault_kind_is_injected_and_survived():
    r = run_campaign(campaign(FaultPlan.from_text(ALL_KINDS)), seed=1, progress=False)
    s = r.manifest["faults"]
    assert set(s["injected"]) == {k.value for k in FaultKind} - {"crash"}
    assert s["injected_total"] >= 10 and s["actions"]["recovered"] >= 4
    assert s["actions"]["alert"] == 2  # tray jam and temperature excursion called the operator
    assert s["actions"]["read_missed"] >= 1  # a read slot whose retries ran out was skipped and recorded
    assert r.manifest["reads"] == 13 - s["actions"]["read_missed"]
    a2 = r.plate.set_index("well").loc["A2"]
    assert a2["dispensed_antisolvent_uL"] == 0  # the skipped dispense never reached A2
    assert {e["action"] for e in r.events} >= {"injected", "detected", "retry", "pause", "alert", "skip"}


def test_faults_are_deterministic_from_the_seed():
    plan = FaultPlan(faults=[{"kind": "garbled_frame", "probability": 0.3, "times": 5},
                             {"kind": "tip_pickup", "probability": 0.05, "times": 3}])
    a = run_campaign(campaign(plan), seed=4, progress=False)
    b = run_campaign(campaign(plan), seed=4, progress=False)
    assert a.events == b.events and a.events
    assert np.array_equal(a.dataset["intensity"].values, b.dataset["intensity"].values, equal_nan=True)


def test_a_plan_without_faults_changes_nothing():
    a = run_campaign(campaign(), seed=2, progress=False)
    b = run_campaign(campaign(FaultPlan()), seed=2, progress=False)
    assert np.array_equal(a.dataset["intensity"].values, b.dataset["intensity"].values, equal_nan=True)
    assert b.events == [] and b.manifest["faults"]["injected_total"] == 0


def test_retries_are_bounded_then_abort():
    plan = FaultPlan(faults=[{"kind": "tip_pickup", "nth": 1, "times": 10}])
    with pytest.raises(CampaignAborted, match="tip_pickup after 3 re-attempt"):
        run_campaign(campaign(plan), seed=1, progress=False)


def test_abort_policy_and_skip_policy_on_reads():
    abort = FaultPlan(faults=[{"kind": "reader_timeout", "nth": 1}],
                      policies={"reader_timeout": {"action": "abort"}})
    with pytest.raises(CampaignAborted):
        run_campaign(campaign(abort), seed=1, progress=False)
    skip = FaultPlan(faults=[{"kind": "read_refused", "nth": 1}], policies={"read_refused": {"action": "skip"}})
    r = run_campaign(campaign(skip), seed=1, progress=False)
    assert r.manifest["reads"] == 12 and r.manifest["faults"]["actions"]["read_missed"] == 1


def test_without_a_plan_an_injected_error_is_typed():
    inj = FaultInjector(FaultPlan(faults=[{"kind": "tip_pickup", "nth": 1}]))
    with pytest.raises(TipPickupError) as e:
        inj.fire("tip_pickup", 0.0)
    assert e.value.kind is FaultKind.tip_pickup and inj.log.count("injected") == 1


def test_the_real_serial_driver_meets_emulator_faults():
    # each O is an opportunity: a timeout twice in a row beats the driver's own link retry -> the runner retries
    plan = FaultPlan(faults=[{"kind": "reader_timeout", "nth": 3, "times": 2}, {"kind": "garbled_frame", "nth": 8},
                             {"kind": "read_refused", "nth": 15}, {"kind": "tray_jam", "nth": 2},
                             {"kind": "temperature_excursion", "nth": 1, "times": 2, "delta_C": 5}],
                    policies={"tray_jam": {"action": "pause", "pause_s": 1}})
    emu_injector = FaultInjector(plan, seed=0)
    link = LinkSettings(wait_for_temperature=False, query_timeout_s=0.3, command_timeout_s=0.3,
                        fluorescence_timeout_s=2, abort_settle_s=0.01)
    with Cytation5Emulator(time_factor=0.0005, line_rate=False, faults=emu_injector) as emu:
        lab = LabConfig(reader="cytation-serial", reader_port=emu.port, reader_link=link)
        c = Campaign(name="serial", plate_map=campaign().plate_map.iloc[:2], lab=lab, faults=FaultPlan(
            policies={"tray_jam": {"action": "pause", "pause_s": 1},
                      "temperature_excursion": {"action": "pause", "pause_s": 1}}),
                     schedule=Schedule(hours=0.2, every_min=5, emission_step_nm=50))
        r = run_campaign(c, progress=False)
    injected = {e["kind"] for e in emu_injector.log.events if e["action"] == "injected"}
    assert injected == {"reader_timeout", "garbled_frame", "read_refused", "tray_jam", "temperature_excursion"}
    runner = {(e["kind"], e["action"]) for e in r.events}
    assert ("reader_timeout", "retry") in runner and ("tray_jam", "alert") in runner
    assert ("temperature_excursion", "pause") in runner
    assert np.isfinite(r.dataset["intensity"].values).all() and r.manifest["reads"] >= 2
    retries = [e for e in r.logs["reader"] if e["command"] in ("link_retry", "read_refused")]
    assert retries  # the driver's own retry policy handled the single garble and the refusal
