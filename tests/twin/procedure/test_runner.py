"""The runner executes any procedure on the lab's clock: read times of a two-phase schedule, delays, overruns."""

import numpy as np
import pytest

from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import Schedule
from twin.procedure import (
    Delay,
    Kinetic,
    PLSpectrum,
    Procedure,
    procedure_from_schedule,
)


def tiny(**kw):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 1]].copy()
    pm["well"] = ["A1", "A2"]
    return Campaign(name="tiny", plate_map=pm, **kw)


def starts_min(result):
    t = result.dataset["read_start_min"].values
    return np.round(t - t[0], 3)


def test_two_phase_schedule_read_times():
    proc = Procedure(steps=[Kinetic(interval_min=5, duration_min=30, steps=[PLSpectrum()]),
                            Kinetic(interval_min=30, duration_min=90, steps=[PLSpectrum()])])
    r = run_campaign(tiny(procedure=proc), progress=False)
    # every 5 min for 30 min (7 reads, the window's end included, as Gen5 does); the second loop starts as the first
    # ends (its first read right after the read at 30 min), then keeps its own fixed clock: 60, 90, 120
    s = starts_min(r).tolist()
    assert s[:7] == [0, 5, 10, 15, 20, 25, 30] and 30 < s[7] < 33 and s[8:] == [60, 90, 120]
    assert r.manifest["procedure"]["steps"][1]["interval_min"] == 30


def test_schedule_and_its_procedure_give_the_same_bytes():
    # every field away from its default, so that a field procedure_from_schedule drops cannot hide behind one
    sched = Schedule(hours=0.5, every_min=10, excitation_nm=370, emission_start_nm=410, emission_stop_nm=640,
                     emission_step_nm=3, gain=110, temperature_C=30, plate_transfer_s=45)
    written_out = Procedure(name="schedule", temperature_C=30, plate_transfer_s=45, steps=[Kinetic(
        interval_min=10, duration_min=30, steps=[PLSpectrum(excitation_nm=370, emission_start_nm=410,
                                                            emission_stop_nm=640, emission_step_nm=3, gain=110)])])
    assert procedure_from_schedule(sched) == written_out
    a = run_campaign(tiny(schedule=sched), seed=4, progress=False)
    b = run_campaign(tiny(procedure=written_out), seed=4, progress=False)
    assert a.dataset["wavelength_nm"].values[[0, 1, -1]].tolist() == [410, 413, 638]
    assert np.array_equal(a.dataset["intensity"].values, b.dataset["intensity"].values, equal_nan=True)
    assert a.dataset["read_start_min"].values.tolist() == b.dataset["read_start_min"].values.tolist()


def test_back_to_back_when_a_scan_outlasts_the_interval():
    proc = Procedure(steps=[Kinetic(interval_min=1, duration_min=10, steps=[PLSpectrum()])])
    with pytest.warns(UserWarning, match="back to back"):
        r = run_campaign(tiny(procedure=proc), progress=False)
    gaps = np.diff(r.dataset["read_start_min"].values)
    assert np.all(gaps > 1.5) and np.allclose(gaps, gaps[0])


def test_top_level_reads_and_delays_run_in_order():
    proc = Procedure(steps=[PLSpectrum(), Delay(minutes=20), PLSpectrum()])
    r = run_campaign(tiny(procedure=proc), progress=False)
    s = starts_min(r)
    assert len(s) == 2 and 20 < s[1] < 23
