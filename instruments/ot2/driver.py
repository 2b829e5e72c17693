"""OT2Pipettor: the ``Pipettor`` front end driving an Opentrons OT-2 through an opentrons ``ProtocolContext``.

The same driver runs on the robot (``robot_context()``, i.e. ``opentrons.execute.get_protocol_api``) and in
opentrons' own simulator (``simulated_context()``, i.e. ``opentrons.simulate.get_protocol_api``).  Validation and
bookkeeping stay in ``Pipettor``; the hooks here make the blocking opentrons call, time it on the wall clock and yield
that duration, so a campaign on a real-time ``Clock`` keeps pace with the robot.  The robot cannot measure what it
actually aspirated, so the hooks report the requested volume.

``opentrons`` takes seconds to import: it is imported only when a context is made or an error is translated.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Generator

from instruments.deck import Deck
from instruments.errors import InstrumentError, LabwareError, OutOfTipsError, TipError, VolumeError
from instruments.labware import Labware, WellRef
from instruments.pipettor import Pipettor, assign_mounts

DEFAULT_API_LEVEL = "2.20"
#: which mount each pipette goes on with the default pipettes; in general ``Pipettor.mounts`` (smaller on the left)
MOUNTS: dict[str, str] = assign_mounts(("p20", "p300"))

# opentrons engine error types (``ProtocolCommandFailedError.original_error.errorType``) -> (our error, the fix)
_VOLUME_FAULTS = {"InvalidAspirateVolumeError", "InvalidDispenseVolumeError", "InvalidPipettingVolumeError",
                  "InvalidLiquidHeightFound", "InvalidLiquidError"}
_TIP_FAULTS = {"TipNotAttachedError", "TipAttachedError", "PickUpTipTipNotAttachedError", "TipNotEmptyError"}
_LABWARE_FAULTS = {"LabwareDefinitionDoesNotExistError", "LocationIsOccupiedError", "LabwareNotLoadedError",
                   "WellDoesNotExistError", "LabwareIsNotTipRackError", "DeckConflictError",
                   "LabwareNotOnDeckError", "InvalidSpecificationForRobotTypeError"}
_FIX = {
    VolumeError: "use a larger pipette, split the transfer or lower the volume in the plate map",
    TipError: "check the tip racks on the deck and that the pipette has (or has no) tip as the step expects",
    OutOfTipsError: "put full tip racks on the deck, or add a tip rack slot to the layout",
    LabwareError: "check the labware load name against opentrons-shared-data, the slot (1..11) and the well name",
    InstrumentError: "see the opentrons run log for this step",
}


def simulated_context(api_level: str = DEFAULT_API_LEVEL):
    """A ``ProtocolContext`` on opentrons' own OT-2 simulator (no robot needed)."""
    import opentrons.simulate

    return opentrons.simulate.get_protocol_api(api_level, robot_type="OT-2")


def robot_context(api_level: str = DEFAULT_API_LEVEL):
    """The real robot's ``ProtocolContext``; works only when run on the OT-2 itself (Jupyter or ssh)."""
    import opentrons.execute

    return opentrons.execute.get_protocol_api(api_level)


def _engine_error_type(exc: BaseException) -> tuple[str, str]:
    """(errorType, detail) of an opentrons ``ProtocolCommandFailedError``, else (class name, message)."""
    original = getattr(exc, "original_error", None)
    if original is not None:
        return str(getattr(original, "errorType", type(exc).__name__)), str(getattr(original, "detail", exc))
    return type(exc).__name__, str(exc)


def translate_error(exc: BaseException, step: str) -> InstrumentError:
    """The project's typed error for an exception opentrons raised while doing ``step`` (names step, cause, fix)."""
    from opentrons.protocol_api.labware import OutOfTipsError as OTOutOfTips

    kind, detail = _engine_error_type(exc)
    if isinstance(exc, OTOutOfTips):
        cls, detail = OutOfTipsError, detail or "every tip rack assigned to the pipette is empty"
    elif isinstance(exc, KeyError):
        cls, detail = LabwareError, f"no well {exc.args[0]!r}" if exc.args else "unknown well"
    elif isinstance(exc, FileNotFoundError) or "FileNotFoundError" in detail:
        cls = LabwareError
    elif kind in _VOLUME_FAULTS:
        cls = VolumeError
    elif kind in _TIP_FAULTS:
        cls = TipError
    elif kind in _LABWARE_FAULTS or isinstance(exc, ValueError):
        cls = LabwareError
    else:
        cls = InstrumentError
    return cls(f"OT-2 refused {step}: {kind}: {detail}; fix: {_FIX[cls]}")


class OT2Pipettor(Pipettor):
    """An OT-2 with two GEN2 single-channel pipettes (default p20 left, p300 right; or a p1000), via opentrons.

    Parameters
    ----------
    clock : ``instruments.clock.Clock``; use ``Clock(realtime=True)`` on the robot so campaign time is wall time.
    deck : the ``Deck`` (e.g. ``plan_deck(...).deck``); every labware on it is loaded into the context at its slot,
        under its load name, labelled with its deck name.
    context : an opentrons ``ProtocolContext``; default: a fresh ``simulated_context(api_level)``.
    refill_prompt : called with a message when the operator must put out full tip racks; default
        ``context.pause`` (resumed from the Opentrons App).  In a Jupyter session on the robot pass ``input``.
    """

    def __init__(self, clock, deck: Deck, pipettes=("p20", "p300"), *, context=None,
                 api_level: str = DEFAULT_API_LEVEL, refill_prompt: Callable[[str], Any] | None = None):
        super().__init__(clock, deck, pipettes)
        self.context = context if context is not None else simulated_context(api_level)
        self.refill_prompt = refill_prompt or self.context.pause
        self.ot_labware: dict[str, Any] = {}
        for lw in sorted(deck, key=lambda lw: lw.slot):
            self.ot_labware[lw.name] = self._call(
                f"loading {lw.type.load_name} '{lw.name}' in slot {lw.slot}",
                self.context.load_labware, lw.type.load_name, lw.slot, label=lw.name)
        self.instruments: dict[str, Any] = {}
        for name, spec in self.pipettes.items():
            racks = [self.ot_labware[r.name] for r in self.tipracks(name)]
            self.instruments[name] = self._call(
                f"loading {spec.model} on the {self.mounts[name]} mount", self.context.load_instrument,
                spec.model, self.mounts[name], tip_racks=racks)
        #: tips the driver expects left in each rack; more than that means an operator put full racks out
        self._tips_left: dict[str, int] = {lw.name: int(lw.tip_present.sum()) for lw in deck if lw.type.is_tiprack}

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _call(self, step: str, fn: Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (InstrumentError, TypeError):
            raise
        except Exception as exc:  # opentrons raises engine, KeyError, ValueError, FileNotFoundError...
            raise translate_error(exc, step) from exc

    def _timed(self, step: str, fn: Callable, *args, **kwargs) -> Generator:
        """Do one blocking opentrons call and let the clock advance by the wall time it took."""
        t0 = time.perf_counter()
        result = self._call(f"step {len(self.log) + 1} ({step})", fn, *args, **kwargs)
        yield self.clock.timeout(time.perf_counter() - t0)
        return result

    def _well(self, well: WellRef):
        return self._call(f"finding {well}", self.ot_labware[well.labware.name].__getitem__, well.name)

    @property
    def rack_pipette(self) -> dict[str, str]:
        """Tip-rack label -> the pipette it serves (for ``runlog.parse_run_log``)."""
        return {r.name: p for p in self.pipettes for r in self.tipracks(p)}

    def steps(self):
        """The opentrons run log so far as ``runlog.Step`` tuples, comparable with ``steps_from_log(self.log)``."""
        from instruments.ot2.runlog import parse_run_log

        return parse_run_log(self.run_log, self.rack_pipette)

    @property
    def run_log(self) -> list[str]:
        """The opentrons run log so far (``ProtocolContext.commands()``)."""
        return list(self.context.commands())

    # -- hooks ----------------------------------------------------------------------------------------------------
    def _hw_pick_up_tip(self, pipette: str, rack: Labware, index: int) -> Generator:
        racks = self.tipracks(pipette)
        if any(r.tip_present.sum() > self._tips_left.get(r.name, 0) for r in racks):
            yield from self._refill(pipette, racks)  # the front end sees fuller racks: an operator refilled them
        where = rack[rack.wells[index]]
        yield from self._timed(f"pick up a {pipette} tip from {where}", self.instruments[pipette].pick_up_tip,
                               self._well(where))
        self._tips_left[rack.name] = int(rack.tip_present.sum()) - 1  # the front end marks this tip taken next

    def _refill(self, pipette: str, racks: list[Labware]) -> Generator:
        """Pause the robot for the operator's tip refill and forget opentrons' record of used tips."""
        names = ", ".join(f"{r.name} (slot {r.slot})" for r in racks)
        yield from self._timed(f"pause for a tip refill of {names}", self.refill_prompt,
                               f"Replace the {pipette} tip racks {names} with full ones, then resume.")
        for r in racks:
            self.ot_labware[r.name].reset()
            self._tips_left[r.name] = int(r.tip_present.sum())

    def _hw_drop_tip(self, pipette: str) -> Generator:
        yield from self._timed(f"drop the {pipette} tip", self.instruments[pipette].drop_tip)

    def _hw_aspirate(self, pipette: str, well: WellRef, volume_uL: float, liquid: dict[str, float]) -> Generator:
        yield from self._timed(f"aspirate {volume_uL:g} uL from {well} with {pipette}",
                               self.instruments[pipette].aspirate, volume_uL, self._well(well))
        return volume_uL

    def _hw_dispense(self, pipette: str, well: WellRef, volume_uL: float) -> Generator:
        yield from self._timed(f"dispense {volume_uL:g} uL into {well} with {pipette}",
                               self.instruments[pipette].dispense, volume_uL, self._well(well))

    def _hw_mix(self, pipette: str, well: WellRef, repetitions: int, volume_uL: float) -> Generator:
        yield from self._timed(f"mix {repetitions} x {volume_uL:g} uL in {well} with {pipette}",
                               self.instruments[pipette].mix, repetitions, volume_uL, self._well(well))

    def _hw_touch_tip(self, pipette: str, well: WellRef) -> Generator:
        yield from self._timed(f"touch tip in {well} with {pipette}", self.instruments[pipette].touch_tip,
                               self._well(well))

    def _hw_blow_out(self, pipette: str, well: WellRef | None) -> Generator:
        where = self.context.fixed_trash if well is None else self._well(well)
        yield from self._timed(f"blow out {pipette} into {'the trash' if well is None else well}",
                               self.instruments[pipette].blow_out, where)

    def _hw_home(self) -> Generator:
        yield from self._timed("home", self.context.home)
