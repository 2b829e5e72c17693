"""Fault plans: what the twins do wrong and when, deterministically from the seed, and what the runner does about it.

A ``FaultPlan`` (pydantic, loadable from YAML or JSON) lists faults; each fires at the n-th opportunity of its kind
(``nth``), at the first opportunity at or after a campaign time (``at_s``), or at random with a per-opportunity
``probability`` drawn from the plan's own random stream (seeded from the campaign seed, so instrument noise draws
are the same with or without a plan).  An *opportunity* is one instrument operation where that kind of fault can
happen: a tip pick-up, an aspiration, a dispense into the plate, a PL read, a tray move, a temperature check.

Faults reach the instruments through a duck-typed hook: the sim pipettor, the sim reader and the Cytation emulator
take ``faults=`` (a ``twin.faults.injector.FaultInjector``) and call ``faults.fire(kind, now_s, **context)``, which returns None, returns
the ``Fault`` (faults that change a value: short aspiration, temperature excursion) or raises a typed
``InjectedFault`` error that subclasses the instrument error a real machine would give (``TipError``,
``VolumeError``, ``LinkTimeout``, ``StatusError('2D06')``, ``ProtocolError``, ``TrayError``).

``FaultPolicy`` says what the campaign runner does when a fault (injected or real) surfaces: ``retry`` up to
``max_retries`` times, ``pause`` (alert, wait ``pause_s`` for the operator, then retry, bounded the same way),
``skip`` (record and carry on), ``abort``; when retries run out the runner does ``then`` (skip or abort).  Every
injection and every action lands in one ``EventLog``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from instruments.cytation.protocol import LinkTimeout, ProtocolError, StatusError, STATUS_READ_REFUSED
from instruments.errors import InstrumentError, OutOfTipsError, ReaderError, TipError, TrayError, VolumeError


class FaultKind(str, Enum):
    """The kinds of fault a plan can inject."""

    tip_pickup = "tip_pickup"                        # the tip is not picked up (pipettor)
    short_aspiration = "short_aspiration"            # clogged tip / short aspiration (pipettor)
    well_skipped = "well_skipped"                    # the robot misses a plate well (pipettor dispense)
    reader_timeout = "reader_timeout"                # the reader does not answer (serial: no ETX)
    read_refused = "read_refused"                    # the reader refuses the read with 2D06
    garbled_frame = "garbled_frame"                  # the reply's framing is garbage
    tray_jam = "tray_jam"                            # the tray does not move
    temperature_excursion = "temperature_excursion"  # the incubator leaves its set-point
    crash = "crash"                                  # the control PC dies at a campaign time


#: faults that raise an error at their opportunity (the others change a value or end the process).
RAISING = {FaultKind.tip_pickup, FaultKind.short_aspiration, FaultKind.well_skipped, FaultKind.reader_timeout,
           FaultKind.read_refused, FaultKind.garbled_frame, FaultKind.tray_jam}
#: the operations that use each reader-side fault: a PL read (reader faults), a tray move.
READ_FAULTS = (FaultKind.reader_timeout, FaultKind.read_refused, FaultKind.garbled_frame)


class Fault(BaseModel):
    """One fault: what, when (``nth`` opportunity, ``at_s`` campaign seconds, or a ``probability``), how often."""

    model_config = ConfigDict(extra="forbid")
    kind: FaultKind
    nth: int | None = Field(None, ge=1, le=1_000_000, description="fire at the n-th opportunity of this kind (1-based)")
    at_s: float | None = Field(None, ge=0, le=1e7, allow_inf_nan=False,
                               description="fire at the first opportunity at or after this campaign time (s)")
    probability: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                      description="chance per opportunity, from the plan's seeded random stream")
    times: int = Field(1, ge=1, le=1000, description="consecutive opportunities affected once triggered "
                                                     "(probability faults: the most times it may fire)")
    well: str | None = Field(None, description="only opportunities at this plate well (well_skipped, "
                                               "short_aspiration)")
    fraction: float = Field(0.3, ge=0, lt=1, allow_inf_nan=False,
                            description="short_aspiration: fraction of the volume that enters the tip")
    detected: bool = Field(True, description="short_aspiration: the pipettor notices (pressure sensing) and raises; "
                                             "False delivers the short volume silently (recorded in the event log)")
    delta_C: float = Field(3.0, ge=-40, le=40, allow_inf_nan=False, description="temperature_excursion: offset (°C)")
    duration_s: float = Field(600.0, ge=0, le=1e6, allow_inf_nan=False,
                              description="temperature_excursion: how long the offset lasts (s)")
    hard: bool = Field(False, description="crash: SIGKILL the process (True) or raise SimulatedCrash (False)")

    @model_validator(mode="after")
    def _one_trigger(self):
        given = [n for n in ("nth", "at_s", "probability") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"{self.kind.value}: give exactly one of nth, at_s, probability (got {given or 'none'})")
        if self.kind is FaultKind.crash and self.at_s is None:
            raise ValueError("crash: give at_s (the campaign time of the crash, s)")
        return self


class FaultPolicy(BaseModel):
    """What the runner does when a fault surfaces; bounded: at most ``max_retries`` re-attempts."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["retry", "pause", "skip", "abort"]
    max_retries: int = Field(2, ge=0, le=10)
    pause_s: float = Field(0.0, ge=0, le=86_400, allow_inf_nan=False,
                           description="wait before each re-attempt (pause: the operator's intervention)")
    then: Literal["skip", "abort"] = Field("abort", description="when the retries run out")


#: what the runner does by default (a real lab's choices: re-try cheap things, call the operator for the tray).
DEFAULT_POLICIES: dict[FaultKind, FaultPolicy] = {
    FaultKind.tip_pickup: FaultPolicy(action="retry", max_retries=3, then="abort"),
    FaultKind.short_aspiration: FaultPolicy(action="retry", max_retries=2, then="abort"),
    FaultKind.well_skipped: FaultPolicy(action="skip"),
    FaultKind.reader_timeout: FaultPolicy(action="retry", max_retries=2, pause_s=5.0, then="skip"),
    FaultKind.read_refused: FaultPolicy(action="retry", max_retries=2, pause_s=1.0, then="skip"),
    FaultKind.garbled_frame: FaultPolicy(action="retry", max_retries=2, pause_s=1.0, then="skip"),
    FaultKind.tray_jam: FaultPolicy(action="pause", max_retries=2, pause_s=300.0, then="abort"),
    FaultKind.temperature_excursion: FaultPolicy(action="pause", max_retries=3, pause_s=120.0, then="skip"),
}


class FaultPlan(BaseModel):
    """The faults of one campaign and the runner's policies (defaults: ``DEFAULT_POLICIES``)."""

    model_config = ConfigDict(extra="forbid")
    faults: list[Fault] = Field(default_factory=list, max_length=1000)
    policies: dict[FaultKind, FaultPolicy] = Field(default_factory=dict)
    temperature_tolerance_C: float = Field(1.0, gt=0, le=50, allow_inf_nan=False)

    @model_validator(mode="after")
    def _no_crash_policy(self):
        if FaultKind.crash in self.policies:
            raise ValueError("crash has no policy: a crashed run is continued with `larp-twin resume DIR`")
        return self

    def policy(self, kind: FaultKind) -> FaultPolicy:
        return self.policies.get(kind) or DEFAULT_POLICIES[kind]

    @classmethod
    def load(cls, path: str | Path) -> "FaultPlan":
        """Read a plan from ``.yaml``/``.yml`` or ``.json``; a bad file raises FaultPlanError naming it."""
        from instruments.input_files import MAX_STRUCTURED_BYTES, read_capped

        p = Path(path)
        if p.is_dir():
            raise FaultPlanError(f"fault plan {p} is a directory; give a .yaml or .json fault plan file")
        data = read_capped(p, "fault plan", MAX_STRUCTURED_BYTES, FaultPlanError, typical="a real one is a few kB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FaultPlanError(f"fault plan {p} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position "
                                 f"{exc.start}); give a .yaml or .json fault plan file") from None
        return cls.from_text(text, source=str(p), yaml_ok=p.suffix.lower() != ".json")

    @classmethod
    def from_text(cls, text: str, source: str = "fault plan", yaml_ok: bool = True) -> "FaultPlan":
        from pydantic import ValidationError

        from instruments.input_files import load_json, load_yaml

        # one bounded loader for every YAML input: nesting and alias expansion are checked before anything is built
        data = load_yaml(text, source, FaultPlanError) if yaml_ok else load_json(text, source, FaultPlanError)
        if data is None:
            data = {}
        if isinstance(data, list):
            data = {"faults": data}
        if not isinstance(data, dict):
            raise FaultPlanError(f"{source}: expected a mapping with 'faults' (and 'policies'), got "
                                 f"{type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FaultPlanError(f"{source}: {exc}") from None


class FaultPlanError(ValueError):
    """A fault-plan file that cannot be read or does not validate."""


# -- errors raised by injected faults ----------------------------------------------------------------------------
class InjectedFault(InstrumentError):
    """Mixin base of every error an injected fault raises; ``.kind`` says which fault."""

    kind: FaultKind

    def __init__(self, message: str, kind: FaultKind, **context):
        super().__init__(message)
        self.kind = kind
        self.context = context


class TipPickupError(InjectedFault, TipError):
    """The tip was not picked up; ``context['rack']``/``['index']`` name the tip position (now unusable)."""


class ShortAspirationError(InjectedFault, VolumeError):
    """A clogged tip: only part of the volume entered the tip (the pipettor's pressure check noticed)."""


class WellSkippedError(InjectedFault, VolumeError):
    """The dispense missed the plate well."""


class InjectedTimeout(InjectedFault, LinkTimeout):
    """The reader did not answer in time."""


class InjectedRefusal(InjectedFault, StatusError):
    """The reader refused the read (2D06)."""

    def __init__(self, message: str, kind: FaultKind, **context):
        InstrumentError.__init__(self, message)
        self.kind, self.context, self.status = kind, context, STATUS_READ_REFUSED


class InjectedGarble(InjectedFault, ProtocolError):
    """The reply's framing was garbage."""


class TrayJamError(InjectedFault, TrayError):
    """The tray did not move."""


class SimulatedCrash(BaseException):
    """The control process 'died' at a campaign time (BaseException: no policy catches it)."""


_ERRORS = {FaultKind.tip_pickup: TipPickupError, FaultKind.short_aspiration: ShortAspirationError,
           FaultKind.well_skipped: WellSkippedError, FaultKind.reader_timeout: InjectedTimeout,
           FaultKind.read_refused: InjectedRefusal, FaultKind.garbled_frame: InjectedGarble,
           FaultKind.tray_jam: TrayJamError}


def classify(exc: BaseException, operation: str) -> FaultKind | None:
    """Which fault kind an error (injected or from a real driver) is, given the operation that raised it."""
    if isinstance(exc, InjectedFault):
        return exc.kind
    if isinstance(exc, OutOfTipsError):
        return None
    if operation == "tray" and isinstance(exc, ReaderError):
        return FaultKind.tray_jam
    if isinstance(exc, LinkTimeout):
        return FaultKind.reader_timeout
    if isinstance(exc, StatusError) and exc.status == STATUS_READ_REFUSED:
        return FaultKind.read_refused
    if isinstance(exc, ProtocolError):
        return FaultKind.garbled_frame
    if operation == "pick_up_tip" and isinstance(exc, TipError):
        return FaultKind.tip_pickup
    return None


# -- the event log and the injector -------------------------------------------------------------------------------
def check_fault_wells(plan: FaultPlan, plate_map, source: str = "fault plan") -> None:
    """Refuse faults that name a well the plate map does not fill (they could never fire)."""
    from instruments.errors import LabwareError
    from instruments.labware import parse_well

    filled = [w for w, v in zip(plate_map["well"], plate_map[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL",
                                                              "amine_uL"]].astype(float).sum(axis=1)) if v > 0]
    for n, f in enumerate(plan.faults, start=1):
        if f.well is None:
            continue
        try:
            r, c = parse_well(f.well)
            name = f"{chr(ord('A') + r)}{c + 1}" if r < 26 else None
        except LabwareError:
            name = None
        if name not in filled:
            shown = ", ".join(filled[:4]) + (f" ... {filled[-1]}" if len(filled) > 4 else "")
            raise FaultPlanError(f"{source}: fault {n} ({f.kind.value}): well {f.well!r} is not a filled well of the "
                                 f"plate map (its wells: {shown}); name one of them or remove the fault")
