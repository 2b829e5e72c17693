"""SimPipettor: an OT-2 twin with the real robot's timing figures and pipetting error by liquid class."""

from __future__ import annotations

import math
from typing import Generator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from instruments.deck import TRASH_SLOT, slot_xy_mm
from instruments.labware import Labware, WellRef
from instruments.pipettor import PIPETTES, Pipettor


class PipettorTiming(BaseModel):
    """OT-2 motion figures (seconds, mm/s); flow rates come from each pipette's spec (p20 7.56, p300 92.86,
    p1000 274.7 uL/s)."""

    model_config = ConfigDict(extra="forbid")
    xy_speed_mm_s: float = Field(400.0, gt=0, description="gantry travel speed")
    z_travel_s: float = Field(1.2, ge=0, description="raise to travel height and lower again, per move")
    tip_pick_up_s: float = Field(3.0, ge=0, description="press onto the tip, excluding the move")
    tip_drop_s: float = Field(2.0, ge=0, description="eject into the trash, excluding the move")
    home_s: float = Field(15.0, ge=0)
    settle_s: float = Field(0.5, ge=0, description="delay after each aspirate/dispense (default touch/settle)")
    in_well_z_s: float = Field(0.3, ge=0, description="rise from inside a well to its top (no travel height)")
    touch_tip_s: float = Field(2.0, ge=0, description="touch the four walls of a well at 60 mm/s (opentrons' "
                                                       "touch_tip default speed), each a short ramped move")
    blow_out_s: float = Field(1.0, ge=0, description="plunger past its bottom to the blow-out position and back")


class LiquidClass(BaseModel):
    """Pipetting error of a kind of liquid: a systematic bias and random imprecision that grows at small volumes."""

    model_config = ConfigDict(extra="forbid")
    bias: float = Field(0.0, description="relative systematic error, e.g. -0.02 = 2 % short")
    cv_floor: float = Field(0.004, ge=0, description="relative random error at large volumes")
    cv_at_min: float = Field(0.03, ge=0, description="extra relative random error at the pipette's minimum volume")


#: Liquid classes by component: volatile organics drip and evaporate (short, noisier), neat ligands are viscous.
LIQUID_CLASSES: dict[str, LiquidClass] = {
    "default": LiquidClass(bias=0.0, cv_floor=0.004, cv_at_min=0.03),
    "volatile": LiquidClass(bias=-0.015, cv_floor=0.006, cv_at_min=0.04),
    "viscous": LiquidClass(bias=-0.04, cv_floor=0.01, cv_at_min=0.05),
}
_VISCOUS = {"OAc", "OLAm", "OctAc", "OctAm"}
_AQUEOUS_LIKE = {"PbBr2/DMF", "DMF", "DMSO"}


def liquid_class_of(liquid: dict[str, float]) -> str:
    """Class of a mixture = class of its largest component (organic antisolvents and Cs-oleate stocks are volatile)."""
    if not liquid:
        return "default"
    main = max(liquid, key=liquid.get)
    if main in _VISCOUS:
        return "viscous"
    if main in _AQUEOUS_LIKE:
        return "default"
    return "volatile"


class SimPipettor(Pipettor):
    """The OT-2 twin: moves take the gantry's time, volumes carry the pipettes' error, every command is logged.

    ``faults``: an optional fault injector (``twin.faults.FaultInjector``, duck-typed: ``fire(kind, now_s,
    **context)``) consulted at every tip pick-up (``tip_pickup``), aspiration (``short_aspiration``) and dispense
    into a plate (``well_skipped``); an injected error is raised after the motion's time has passed.
    """

    def __init__(self, clock, deck, pipettes=("p20", "p300"), *, rng: np.random.Generator | None = None,
                 timing: PipettorTiming | None = None, liquid_classes: dict[str, LiquidClass] | None = None,
                 calibration_sd: float = 0.01, faults=None):
        super().__init__(clock, deck, pipettes)
        self.faults = faults
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.timing = timing or PipettorTiming()
        self.liquid_classes = liquid_classes or LIQUID_CLASSES
        #: each pipette's own calibration offset (relative), drawn once: the systematic part of its error
        self.calibration = {p: float(self.rng.normal(0.0, calibration_sd)) for p in self.pipettes}
        self._xy = slot_xy_mm(TRASH_SLOT)
        self._at: tuple[str, int] | None = None  # the well the tip is in, after an aspirate or dispense

    def _move_s(self, slot: int) -> float:
        x, y = slot_xy_mm(slot)
        d = math.hypot(x - self._xy[0], y - self._xy[1])
        self._xy = (x, y)
        self._at = None
        return d / self.timing.xy_speed_mm_s + self.timing.z_travel_s

    def _to_top_s(self, well: WellRef) -> float:
        """Time to bring the tip to the top of ``well``: a short rise if it is in that well, else a full move."""
        here = (well.labware.name, well.index)
        if self._at == here:
            return self.timing.in_well_z_s
        s = self._move_s(well.labware.slot)
        self._at = here
        return s

    def _hw_pick_up_tip(self, pipette: str, rack: Labware, index: int) -> Generator:
        yield self.clock.timeout(self._move_s(rack.slot) + self.timing.tip_pick_up_s)
        if self.faults is not None:
            self.faults.fire("tip_pickup", self.clock.now, pipette=pipette, rack=rack.name, tip=rack.wells[index],
                             rack_obj=rack, index=index)

    def _hw_drop_tip(self, pipette: str) -> Generator:
        yield self.clock.timeout(self._move_s(TRASH_SLOT) + self.timing.tip_drop_s)

    def _hw_aspirate(self, pipette: str, well: WellRef, volume_uL: float, liquid: dict[str, float]) -> Generator:
        spec = PIPETTES[pipette]
        yield self.clock.timeout(self._move_s(well.labware.slot) + volume_uL / spec.flow_uL_s + self.timing.settle_s)
        self._at = (well.labware.name, well.index)
        short = None
        if self.faults is not None:  # a detected clog raises here; an undetected one delivers `fraction`
            short = self.faults.fire("short_aspiration", self.clock.now, pipette=pipette,
                                     labware=well.labware.name, well=well.name, volume_uL=float(volume_uL))
        actual = volume_uL * (1.0 + self.error_fraction(pipette, volume_uL, liquid))
        return actual * short.fraction if short is not None else actual

    def _hw_dispense(self, pipette: str, well: WellRef, volume_uL: float) -> Generator:
        spec = PIPETTES[pipette]
        yield self.clock.timeout(self._move_s(well.labware.slot) + volume_uL / spec.flow_uL_s + self.timing.settle_s)
        self._at = (well.labware.name, well.index)
        if self.faults is not None and well.labware.n_wells in (96, 384) and not well.labware.type.is_tiprack:
            self.faults.fire("well_skipped", self.clock.now, pipette=pipette, labware=well.labware.name,
                             well=well.name)

    def _hw_mix(self, pipette: str, well: WellRef, repetitions: int, volume_uL: float) -> Generator:
        spec = PIPETTES[pipette]
        yield self.clock.timeout(repetitions * 2 * volume_uL / spec.flow_uL_s)

    def _hw_touch_tip(self, pipette: str, well: WellRef) -> Generator:
        yield self.clock.timeout(self._to_top_s(well) + self.timing.touch_tip_s)

    def _hw_blow_out(self, pipette: str, well: WellRef | None) -> Generator:
        move = self._move_s(TRASH_SLOT) if well is None else self._to_top_s(well)
        yield self.clock.timeout(move + self.timing.blow_out_s)

    def _hw_home(self) -> Generator:
        self._xy = slot_xy_mm(TRASH_SLOT)
        self._at = None
        yield self.clock.timeout(self.timing.home_s)

    def error_fraction(self, pipette: str, volume_uL: float, liquid: dict[str, float]) -> float:
        """Relative error of one aspirate: liquid-class bias + pipette calibration + volume-dependent noise."""
        lc = self.liquid_classes[liquid_class_of(liquid)]
        spec = PIPETTES[pipette]
        cv = lc.cv_floor + lc.cv_at_min * spec.min_uL / max(volume_uL, 1e-9)
        return lc.bias + self.calibration[pipette] + float(self.rng.normal(0.0, cv))
