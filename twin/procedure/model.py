"""A reader procedure in the lab's terms, as Gen5 builds one: read steps, delays and kinetic loops (validated).

A procedure is a list of steps run in order once the plate is in the reader::

    name: two-phase
    temperature_C: 25
    steps:
      - type: kinetic            # every 5 min for the first hour ...
        interval_min: 5
        duration_min: 60
        steps:
          - type: pl_spectrum    # excitation 365 nm, emission 400-650/2 nm, gain 100 unless given
      - type: kinetic            # ... then every 30 min for 11 h
        interval_min: 30
        duration_min: 660
        steps:
          - type: pl_spectrum

Step types: ``pl_spectrum`` (PL emission scan), ``absorbance_spectrum`` (absorbance scan, ``start_nm``..``stop_nm``
in ``step_nm``), ``absorbance`` (single-wavelength endpoint, ``wavelength_nm``), ``delay`` (``minutes``) and
``kinetic`` (its ``steps`` -- reads and delays -- started every ``interval_min`` for ``duration_min``; a cycle that
outlasts the interval pushes the next one back, and ``interval_min: 0`` means back to back, as Gen5 does).  Kinetic
loops run on a fixed clock: loop *i* + 1 starts where loop *i*'s window ends (or when its last cycle ends, if later).

``Schedule(hours, every_min, ...)`` is the one-loop, one-PL-step procedure ``procedure_from_schedule`` builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from instruments.reader import ABSORBANCE_RANGE_NM, GAIN_RANGE, emission_grid


#: the Cytation 5's monochromators select wavelengths in 1 nm increments (Gen5 offers spectrum steps from 1 nm), so
#: a scan holds at most 451 (emission 250-700 nm) or 770 (absorbance 230-999 nm) points; a finer step is refused
#: before anything is allocated (0.0001 nm would mean 2.5 million points per spectrum)
MIN_STEP_NM = 1.0


def _check_step(name: str, step_nm: float) -> None:
    if step_nm < MIN_STEP_NM:
        raise ValueError(f"{name} {step_nm:g}: the Cytation's monochromator steps in whole nm, at least "
                         f"{MIN_STEP_NM:g} nm (a finer step is not a real scan: {step_nm:g} nm would mean "
                         f"{int(450 / step_nm) + 1:,} points per spectrum)")


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PLSpectrum(_Step):
    """A PL emission scan (Gen5: Read, Fluorescence Spectrum) of every filled well."""

    type: Literal["pl_spectrum"] = "pl_spectrum"
    excitation_nm: float = Field(365.0, ge=250, le=700, allow_inf_nan=False)
    emission_start_nm: float = Field(400.0, ge=250, le=700, allow_inf_nan=False)
    emission_stop_nm: float = Field(650.0, ge=250, le=700, allow_inf_nan=False)
    emission_step_nm: float = Field(2.0, gt=0, allow_inf_nan=False, description="at least 1 nm (MIN_STEP_NM)")
    gain: int = Field(100, ge=GAIN_RANGE[0], le=GAIN_RANGE[1])

    @model_validator(mode="after")
    def _range(self):
        if self.emission_stop_nm <= self.emission_start_nm:
            raise ValueError(f"emission_stop_nm ({self.emission_stop_nm:g}) must exceed emission_start_nm "
                             f"({self.emission_start_nm:g})")
        _check_step("emission_step_nm", self.emission_step_nm)
        return self

    @property
    def wavelength_nm(self):
        return emission_grid(self.emission_start_nm, self.emission_stop_nm, self.emission_step_nm)


class AbsorbanceSpectrum(_Step):
    """An absorbance scan (Gen5: Read, Absorbance Spectrum; section ``Spectrum``) of every filled well."""

    type: Literal["absorbance_spectrum"] = "absorbance_spectrum"
    start_nm: float = Field(300.0, ge=ABSORBANCE_RANGE_NM[0], le=ABSORBANCE_RANGE_NM[1], allow_inf_nan=False)
    stop_nm: float = Field(600.0, ge=ABSORBANCE_RANGE_NM[0], le=ABSORBANCE_RANGE_NM[1], allow_inf_nan=False)
    step_nm: float = Field(5.0, gt=0, allow_inf_nan=False, description="at least 1 nm (MIN_STEP_NM)")

    @model_validator(mode="after")
    def _range(self):
        if self.stop_nm <= self.start_nm:
            raise ValueError(f"stop_nm ({self.stop_nm:g}) must exceed start_nm ({self.start_nm:g})")
        _check_step("step_nm", self.step_nm)
        return self

    @property
    def wavelength_nm(self):
        return emission_grid(self.start_nm, self.stop_nm, self.step_nm)


class AbsorbanceEndpoint(_Step):
    """A single-wavelength absorbance read (Gen5: Read, Absorbance Endpoint)."""

    type: Literal["absorbance"] = "absorbance"
    wavelength_nm: float = Field(..., ge=ABSORBANCE_RANGE_NM[0], le=ABSORBANCE_RANGE_NM[1], allow_inf_nan=False)


class Delay(_Step):
    """Wait (Gen5: Delay)."""

    type: Literal["delay"] = "delay"
    minutes: float = Field(..., gt=0, le=7 * 24 * 60, allow_inf_nan=False)


ReadStep = Annotated[Union[PLSpectrum, AbsorbanceSpectrum, AbsorbanceEndpoint], Field(discriminator="type")]
CycleStep = Annotated[Union[PLSpectrum, AbsorbanceSpectrum, AbsorbanceEndpoint, Delay], Field(discriminator="type")]


class Kinetic(_Step):
    """A kinetic loop (Gen5: Start Kinetic ... End Kinetic): ``steps`` every ``interval_min`` for ``duration_min``."""

    type: Literal["kinetic"] = "kinetic"
    interval_min: float = Field(..., ge=0, le=24 * 60, allow_inf_nan=False,
                                description="between cycle starts; 0 = back to back")
    duration_min: float = Field(..., gt=0, le=7 * 24 * 60, allow_inf_nan=False)
    steps: list[CycleStep] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _has_read(self):
        if not any(s.type != "delay" for s in self.steps):
            raise ValueError("a kinetic loop needs at least one read step")
        return self


Step = Annotated[Union[PLSpectrum, AbsorbanceSpectrum, AbsorbanceEndpoint, Delay, Kinetic],
                 Field(discriminator="type")]


class Procedure(BaseModel):
    """What the reader does once the plate is loaded: ``steps`` in order, at ``temperature_C``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "procedure"
    temperature_C: float = Field(25.0, ge=18, le=65, description="incubator set-point; 25 = ambient")
    plate_transfer_s: float = Field(60.0, ge=0, description="carrying the plate from the deck to the reader tray")
    steps: list[Step] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _one_pl_grid(self):
        pl = [s for s in self.read_steps() if isinstance(s, PLSpectrum)]
        if not pl:
            raise ValueError("a procedure needs at least one pl_spectrum read (the results' spectra cube)")
        if any(s != pl[0] for s in pl[1:]):
            raise ValueError("all pl_spectrum steps must share excitation, emission range, step and gain (they "
                             "form one spectra cube)")
        return self

    def read_steps(self) -> list:
        """Every read step, loops expanded once (the order of one pass)."""
        out = []
        for s in self.steps:
            out.extend(r for r in (s.steps if isinstance(s, Kinetic) else [s]) if r.type != "delay")
        return out

    @property
    def pl(self) -> PLSpectrum:
        return next(s for s in self.read_steps() if isinstance(s, PLSpectrum))

    @property
    def duration_min(self) -> float:
        """Planned length (kinetic windows and delays; single reads count 0)."""
        return sum(s.duration_min if isinstance(s, Kinetic) else s.minutes if isinstance(s, Delay) else 0.0
                   for s in self.steps)


def procedure_from_schedule(schedule) -> Procedure:
    """The procedure a ``twin.config.Schedule`` stands for: one kinetic loop of one PL scan."""
    s = schedule
    pl = PLSpectrum(excitation_nm=s.excitation_nm, emission_start_nm=s.emission_start_nm,
                    emission_stop_nm=s.emission_stop_nm, emission_step_nm=s.emission_step_nm, gain=s.gain)
    return Procedure(name="schedule", temperature_C=s.temperature_C, plate_transfer_s=s.plate_transfer_s,
                     steps=[Kinetic(interval_min=s.every_min, duration_min=s.hours * 60.0, steps=[pl])])


_TAGS = {"pl_spectrum", "absorbance_spectrum", "absorbance", "delay", "kinetic"}


def _loc(loc) -> str:
    """pydantic's ``('steps', 1, 'kinetic', 'interval_min')`` as ``steps[1].interval_min``."""
    out = ""
    prev_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            prev_index = True
            continue
        if prev_index and part in _TAGS:  # the discriminator's branch name, not a field
            prev_index = False
            continue
        out += f".{part}" if out else str(part)
        prev_index = False
    return out


def procedure_error_text(exc: ValidationError, source: str) -> str:
    """``SOURCE: steps[1].interval_min: must be > 0 (got 0)`` for each error, joined by ``; ``."""
    parts = []
    for err in exc.errors():
        where = _loc(err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        for said, short in (("Input should be greater than or equal to", "must be >="),
                            ("Input should be less than or equal to", "must be <="),
                            ("Input should be greater than", "must be >"), ("Input should be less than", "must be <"),
                            ("Input should be", "must be")):
            msg = msg.replace(said, short)
        msg = msg[:1].lower() + msg[1:]
        seen = err.get("input")
        got = ""
        if err.get("type") == "missing":
            msg = "required field missing"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field (a typo?)"
        elif err.get("type") == "union_tag_invalid":
            msg = f"unknown step type {seen.get('type')!r}; allowed: {', '.join(sorted(_TAGS))}" \
                if isinstance(seen, dict) else msg
        elif err.get("type") == "union_tag_not_found":
            msg = f"a step needs `type:` ({', '.join(sorted(_TAGS))})"
        elif isinstance(seen, (int, float, str)) and not isinstance(seen, bool) and len(str(seen)) < 60:
            got = f" (got {seen!r})" if isinstance(seen, str) else f" (got {seen:g})"
        parts.append(f"{where}: {msg}{got}" if where else f"{msg}{got}")
    return f"{source}: " + "; ".join(parts)


def load_procedure(path: str | Path) -> Procedure:
    """Read a procedure from a YAML (or JSON) file; errors (``UserError``) name the file, the step and the field."""
    from instruments.input_files import load_structured

    from twin.messages import UserError

    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such procedure file; check the path")
    if p.is_dir():
        raise UserError(f"{path}: is a directory; give a procedure .yaml file")
    # the one bounded YAML loader: a regular file, size, nesting and alias expansion checked before building
    data = load_structured(p, "procedure", yaml_ok=True, error=UserError)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with `steps:` (see scenarios/data/two_phase.yaml), got "
                        f"{type(data).__name__}")
    data.setdefault("name", p.stem)
    try:
        return Procedure.model_validate(data)
    except ValidationError as exc:
        raise UserError(procedure_error_text(exc, str(path))) from None
