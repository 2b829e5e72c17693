"""Reader procedures as data: validation messages name the file, the step and the field."""

import pytest

from twin.config import Schedule
from twin.messages import UserError
from twin.procedure import (
    Kinetic,
    PLSpectrum,
    Procedure,
    load_procedure,
    procedure_from_schedule,
)


def _err(tmp_path, text: str) -> str:
    p = tmp_path / "proc.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        load_procedure(p)
    return str(e.value).replace(str(p), "proc.yaml")


def test_schedule_is_one_kinetic_loop_of_one_pl_scan():
    proc = procedure_from_schedule(Schedule(hours=2, every_min=0, gain=120))
    (loop,) = proc.steps
    assert isinstance(loop, Kinetic) and loop.interval_min == 0 and loop.duration_min == 120
    assert loop.steps == [PLSpectrum(gain=120)]


def test_bad_interval_names_file_step_and_field(tmp_path):
    msg = _err(tmp_path, "steps:\n  - {type: kinetic, interval_min: 5, duration_min: 60, steps: [{type: pl_spectrum}]}\n"
                         "  - {type: kinetic, interval_min: -1, duration_min: 60, steps: [{type: pl_spectrum}]}\n")
    assert msg == "proc.yaml: steps[1].interval_min: must be >= 0 (got -1)"


def test_zero_duration_is_refused(tmp_path):
    msg = _err(tmp_path, "steps:\n  - {type: kinetic, interval_min: 5, duration_min: 0, steps: [{type: pl_spectrum}]}\n")
    assert msg == "proc.yaml: steps[0].duration_min: must be > 0 (got 0)"


def test_nested_step_field_and_unknown_type_and_typo(tmp_path):
    msg = _err(tmp_path, "steps:\n  - type: kinetic\n    interval_min: 5\n    duration_min: 60\n    steps:\n"
                         "      - {type: pl_spectrum, gain: 3}\n      - {type: fluorescence}\n"
                         "  - {type: delay, minuts: 3}\n")
    assert "steps[0].steps[0].gain: must be >= 25 (got 3)" in msg
    assert "steps[0].steps[1]: unknown step type 'fluorescence'" in msg
    assert "steps[1].minuts: unknown field (a typo?)" in msg
    assert "steps[1].minutes: required field missing" in msg


def test_procedure_needs_a_pl_read(tmp_path):
    msg = _err(tmp_path, "steps:\n  - {type: absorbance, wavelength_nm: 450}\n")
    assert "needs at least one pl_spectrum read" in msg


def test_bad_yaml_and_missing_file(tmp_path):
    assert "is not valid YAML" in _err(tmp_path, "steps: [\n")
    with pytest.raises(UserError, match="no such procedure file"):
        load_procedure(tmp_path / "nope.yaml")


def test_example_procedure_file_loads():
    proc = load_procedure("scenarios/data/two_phase.yaml")
    assert [s.interval_min for s in proc.steps] == [5, 30] and proc.duration_min == 720


def test_pl_steps_must_share_one_grid():
    with pytest.raises(ValueError, match="share"):
        Procedure(steps=[PLSpectrum(), PLSpectrum(gain=50)])
