"""The Pipettor interface: what a chemist asks of a liquid-handling robot, with the checks that hold for any robot.

``Pipettor`` owns validation and bookkeeping (tips, tip contents, well volumes, the command log, injection times);
subclasses (``instruments.sim.SimPipettor`` twin, ``instruments.ot2.OT2Pipettor`` real driver) implement only the
``_hw_*`` hooks that move the machine and say how long that took.  Every public operation is a simpy process
generator: run it with ``yield from pipettor.transfer(...)`` inside a campaign.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Generator, Iterable

from instruments.deck import Deck
from instruments.errors import LabwareError, OutOfTipsError, TipError, UsageError, VolumeError
from instruments.labware import Labware, WellRef

#: The component whose arrival in a well starts that well's reaction clock (the precursor injection).
INJECTION_COMPONENT = "PbBr2/DMF"


@dataclass(frozen=True)
class PipetteSpec:
    """One pipette model's limits and default flow rate (OT-2 GEN2 singles; aspirate = dispense = blow-out flow).

    Figures from opentrons-shared-data's pipette definitions (``pipette/definitions/2/liquid/single_channel/*/
    default/2_*.json``, ``defaultAspirateFlowRate`` at apiLevel >= 2.6) as opentrons 8.8.2 loads them.
    """

    model: str
    min_uL: float
    max_uL: float
    flow_uL_s: float
    tiprack: str


PIPETTES: dict[str, PipetteSpec] = {
    "p20": PipetteSpec("p20_single_gen2", 1.0, 20.0, 7.56, "opentrons_96_tiprack_20ul"),
    "p300": PipetteSpec("p300_single_gen2", 20.0, 300.0, 92.86, "opentrons_96_tiprack_300ul"),
    "p1000": PipetteSpec("p1000_single_gen2", 100.0, 1000.0, 274.7, "opentrons_96_tiprack_1000ul"),
}

#: the OT-2's two pipette mounts; the smaller pipette goes on the left
OT2_MOUNTS = ("left", "right")



def check_pipettes(pipettes: Iterable[str]) -> tuple[str, ...]:
    """``pipettes`` as a tuple, smallest first, if each is known and they fit the OT-2's two mounts."""
    names = tuple(pipettes)
    for p in names:
        if p not in PIPETTES:
            raise UsageError(f"unknown pipette {p!r}; allowed: {sorted(PIPETTES)}")
    if len(set(names)) != len(names):
        raise UsageError(f"pipette mounted twice in {list(names)}; the OT-2 takes each pipette once")
    if not 1 <= len(names) <= len(OT2_MOUNTS):
        raise UsageError(f"the OT-2 has {len(OT2_MOUNTS)} mounts; got {len(names)} pipettes {list(names)}: "
                         f"choose one or two of {sorted(PIPETTES, key=lambda p: PIPETTES[p].max_uL)}")
    return tuple(sorted(names, key=lambda p: PIPETTES[p].max_uL))


def assign_mounts(pipettes: Iterable[str]) -> dict[str, str]:
    """Pipette -> mount: the smaller pipette on the left, the larger on the right (p20 left, p300 right)."""
    return dict(zip(check_pipettes(pipettes), OT2_MOUNTS))


def choose_pipette(pipettes: dict[str, PipetteSpec], volume_uL: float) -> str:
    """The smallest of ``pipettes`` whose range holds ``volume_uL``; VolumeError naming the ranges otherwise."""
    for name, spec in sorted(pipettes.items(), key=lambda kv: kv[1].max_uL):
        if spec.min_uL - 1e-9 <= volume_uL <= spec.max_uL + 1e-9:
            return name
    ranges = ", ".join(f"{n} {s.min_uL:g}-{s.max_uL:g} uL" for n, s in pipettes.items())
    raise VolumeError(f"no mounted pipette can move {volume_uL:g} uL; ranges: {ranges}")


@dataclass
class TipState:
    """What the tip on one pipette holds: nominal (plunger) volume and the actual liquid by component."""

    nominal_uL: float = 0.0
    liquid: dict[str, float] = field(default_factory=dict)

    @property
    def actual_uL(self) -> float:
        return sum(self.liquid.values())


class Pipettor(abc.ABC):
    """A single-channel liquid handler with one or two pipettes (``'p20'``, ``'p300'``, ``'p1000'``) on a deck."""

    def __init__(self, clock, deck: Deck, pipettes: Iterable[str] = ("p20", "p300")):
        self.clock = clock
        self.deck = deck
        pipettes = tuple(pipettes)
        check_pipettes(pipettes)
        self.pipettes: dict[str, PipetteSpec] = {p: PIPETTES[p] for p in pipettes}
        #: pipette -> OT-2 mount ('left' / 'right')
        self.mounts: dict[str, str] = assign_mounts(pipettes)
        self.tips: dict[str, TipState | None] = {p: None for p in self.pipettes}
        self.log: list[dict] = []

    # -- hooks a backend implements (generators; return what happened) -------------------------------------------
    @abc.abstractmethod
    def _hw_pick_up_tip(self, pipette: str, rack: Labware, index: int) -> Generator: ...

    @abc.abstractmethod
    def _hw_drop_tip(self, pipette: str) -> Generator: ...

    @abc.abstractmethod
    def _hw_aspirate(self, pipette: str, well: WellRef, volume_uL: float, liquid: dict[str, float]) -> Generator:
        """Aspirate; the generator returns the volume that actually entered the tip (uL)."""

    @abc.abstractmethod
    def _hw_dispense(self, pipette: str, well: WellRef, volume_uL: float) -> Generator: ...

    @abc.abstractmethod
    def _hw_touch_tip(self, pipette: str, well: WellRef) -> Generator:
        """Touch the tip to the walls of ``well`` (just below its top) to shed a hanging drop."""

    @abc.abstractmethod
    def _hw_blow_out(self, pipette: str, well: WellRef | None) -> Generator:
        """Push the plunger past its bottom at the top of ``well`` (``None``: over the trash)."""

    def _hw_mix(self, pipette: str, well: WellRef, repetitions: int, volume_uL: float) -> Generator:
        """Mix in place; the default is aspirate/dispense cycles through the hooks above."""
        for _ in range(repetitions):
            yield from self._hw_aspirate(pipette, well, volume_uL, {})
            yield from self._hw_dispense(pipette, well, volume_uL)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _record(self, command: str, **args) -> None:
        self.log.append({"t_s": round(self.clock.now, 3), "command": command, **args})

    def _spec(self, pipette: str) -> PipetteSpec:
        if pipette not in self.pipettes:
            raise UsageError(f"pipette {pipette!r} is not mounted; mounted: {sorted(self.pipettes)}")
        return self.pipettes[pipette]

    def _tip(self, pipette: str) -> TipState:
        tip = self.tips[pipette]
        if tip is None:
            raise TipError(f"{pipette} has no tip attached; pick one up first")
        return tip

    def choose_pipette(self, volume_uL: float) -> str:
        """The smallest mounted pipette whose range holds ``volume_uL``."""
        return choose_pipette(self.pipettes, volume_uL)

    def _deliver(self, well: WellRef, delivered: dict[str, float]) -> None:
        """Add ``delivered`` to ``well``; the first precursor to reach a well stamps its reaction t=0."""
        lw = well.labware
        first_injection = delivered.get(INJECTION_COMPONENT, 0.0) > 0 and lw.component(INJECTION_COMPONENT)[
            well.index] == 0
        lw.add(well.index, delivered)
        if first_injection:
            lw.injected_at_s[well.index] = self.clock.now

    @staticmethod
    def _not_a_tiprack(well: WellRef, operation: str) -> None:
        if well.labware.type.is_tiprack:
            raise LabwareError(f"cannot {operation} in {well}: {well.labware.name} is a tip rack")

    def tipracks(self, pipette: str) -> list[Labware]:
        want = self._spec(pipette).tiprack
        return [lw for lw in self.deck if lw.type.load_name == want]

    # -- public operations ----------------------------------------------------------------------------------------
    def pick_up_tip(self, pipette: str, tip: WellRef | None = None) -> Generator:
        """Pick up the next free tip of ``pipette``'s racks, or the one at ``tip`` (a spot of one of its racks: a
        front end such as PyLabRobot's chooses the spot itself)."""
        spec = self._spec(pipette)
        if self.tips[pipette] is not None:
            raise TipError(f"{pipette} already has a tip; drop it before picking up another")
        if tip is not None:
            rack, i = tip.labware, tip.index
            if rack.type.load_name != spec.tiprack:
                raise TipError(f"cannot pick up {tip} with the {pipette}: its tips come from {spec.tiprack} racks, "
                               f"{rack.name} is {rack.type.load_name}")
            if not rack.tip_present[i]:
                raise TipError(f"no tip at {tip}: it has been used")
        else:
            for rack in self.tipracks(pipette):
                i = rack.next_tip()
                if i is not None:
                    break
            else:
                raise OutOfTipsError(f"{pipette} is out of tips: every {spec.tiprack} on the deck is empty")
        yield from self._hw_pick_up_tip(pipette, rack, i)
        rack.tip_present[i] = False
        self.tips[pipette] = TipState()
        self._record("pick_up_tip", pipette=pipette, rack=rack.name, well=rack.wells[i])

    def drop_tip(self, pipette: str) -> Generator:
        self._tip(pipette)
        yield from self._hw_drop_tip(pipette)
        self.tips[pipette] = None
        self._record("drop_tip", pipette=pipette)

    def aspirate(self, pipette: str, well: WellRef, volume_uL: float) -> Generator:
        spec = self._spec(pipette)
        tip = self._tip(pipette)
        volume_uL = float(volume_uL)
        if not volume_uL > 0:
            raise VolumeError(f"aspirate volume must be > 0 uL, got {volume_uL:g}")
        if volume_uL < spec.min_uL - 1e-9:
            raise VolumeError(f"{pipette} cannot aspirate {volume_uL:g} uL: below its minimum {spec.min_uL:g} uL")
        if tip.nominal_uL + volume_uL > spec.max_uL + 1e-9:
            raise VolumeError(
                f"cannot aspirate {volume_uL:g} uL when the {pipette} tip holds {tip.nominal_uL:g} of "
                f"{spec.max_uL:g} uL (max {spec.max_uL - tip.nominal_uL:g} uL more)"
            )
        lw = well.labware
        have = lw.volume_uL[well.index]
        if volume_uL > have + 1e-9:
            raise VolumeError(f"cannot aspirate {volume_uL:g} uL from {well}: it holds only {have:.2f} uL")
        liquid = lw.mixture(well.index)
        actual = yield from self._hw_aspirate(pipette, well, volume_uL, liquid)
        actual = min(float(actual), have)
        taken = lw.remove(well.index, actual)
        for c, v in taken.items():
            tip.liquid[c] = tip.liquid.get(c, 0.0) + v
        tip.nominal_uL += volume_uL
        self._record("aspirate", pipette=pipette, labware=lw.name, well=well.name, volume_uL=volume_uL,
                     actual_uL=round(actual, 4))

    def dispense(self, pipette: str, well: WellRef, volume_uL: float | None = None) -> Generator:
        """Dispense ``volume_uL`` (default: all) from the tip; the liquid follows the plunger in proportion."""
        tip = self._tip(pipette)
        volume_uL = tip.nominal_uL if volume_uL is None else float(volume_uL)
        if not volume_uL > 0:
            raise VolumeError(f"dispense volume must be > 0 uL, got {volume_uL:g}")
        if volume_uL > tip.nominal_uL + 1e-9:
            raise VolumeError(f"cannot dispense {volume_uL:g} uL: the {pipette} tip holds {tip.nominal_uL:g} uL")
        frac = volume_uL / tip.nominal_uL
        delivered = {c: v * frac for c, v in tip.liquid.items()}
        lw = well.labware
        now = lw.volume_uL[well.index]
        if now + sum(delivered.values()) > lw.capacity_uL + 1e-9:
            raise VolumeError(
                f"overfilling {well}: {now:.2f} uL + {sum(delivered.values()):.2f} uL > capacity {lw.capacity_uL:g} uL"
            )
        yield from self._hw_dispense(pipette, well, volume_uL)
        self._deliver(well, delivered)
        for c, v in delivered.items():
            tip.liquid[c] -= v
        tip.nominal_uL -= volume_uL
        if tip.nominal_uL < 1e-9:
            tip.nominal_uL, tip.liquid = 0.0, {}
        self._record("dispense", pipette=pipette, labware=lw.name, well=well.name, volume_uL=volume_uL,
                     actual_uL=round(sum(delivered.values()), 4))

    def mix(self, pipette: str, well: WellRef, repetitions: int, volume_uL: float) -> Generator:
        spec = self._spec(pipette)
        self._tip(pipette)
        if repetitions < 1:
            raise UsageError(f"mix repetitions must be >= 1, got {repetitions}")
        have = well.labware.volume_uL[well.index]
        if not spec.min_uL <= volume_uL <= min(spec.max_uL, have + 1e-9):
            raise VolumeError(
                f"cannot mix {volume_uL:g} uL in {well} with {pipette}: allowed {spec.min_uL:g}.."
                f"{min(spec.max_uL, have):g} uL (well holds {have:.2f} uL)"
            )
        yield from self._hw_mix(pipette, well, repetitions, volume_uL)
        self._record("mix", pipette=pipette, labware=well.labware.name, well=well.name, repetitions=repetitions,
                     volume_uL=volume_uL)

    def touch_tip(self, pipette: str, well: WellRef) -> Generator:
        """Touch the tip to the walls of ``well`` so no drop hangs on it when it leaves (volumes are unchanged)."""
        self._spec(pipette)
        self._tip(pipette)
        self._not_a_tiprack(well, "touch tip")
        yield from self._hw_touch_tip(pipette, well)
        self._record("touch_tip", pipette=pipette, labware=well.labware.name, well=well.name)

    def blow_out(self, pipette: str, well: WellRef | None = None) -> Generator:
        """Blow whatever the tip still holds into ``well`` (default: the trash); the tip is empty afterwards.

        After a full dispense a tip holds nothing by the books; the blow-out is what makes that true of viscous or
        volatile liquids on the robot.  Liquid still in the tip (a partial dispense) goes into ``well``, with the
        same capacity check and injection time-stamp as a dispense; into the trash it is lost and logged.
        """
        self._spec(pipette)
        tip = self._tip(pipette)
        residue = {c: v for c, v in tip.liquid.items() if v > 1e-12}
        if well is not None:
            self._not_a_tiprack(well, "blow out")
            lw = well.labware
            now = lw.volume_uL[well.index]
            if now + sum(residue.values()) > lw.capacity_uL + 1e-9:
                raise VolumeError(f"overfilling {well} by blowing out {sum(residue.values()):.2f} uL onto "
                                  f"{now:.2f} uL > capacity {lw.capacity_uL:g} uL; blow out into the trash instead")
        yield from self._hw_blow_out(pipette, well)
        if well is not None and residue:
            self._deliver(well, residue)
        tip.nominal_uL, tip.liquid = 0.0, {}
        where = {"labware": well.labware.name, "well": well.name} if well is not None else {"where": "trash"}
        self._record("blow_out", pipette=pipette, **where, volume_uL=round(sum(residue.values()), 4))

    def transfer(self, volume_uL: float, source: WellRef, dest: WellRef | list[WellRef], *,
                 pipette: str | None = None, new_tip: str = "always",
                 mix_after: tuple[int, float] | None = None) -> Generator:
        """Move ``volume_uL`` from ``source`` to each destination.

        ``new_tip``: ``'always'`` (a fresh tip per destination), ``'once'`` (one tip for all), ``'never'`` (use the
        tip already attached).  ``mix_after=(repetitions, uL)`` mixes each destination after dispensing.
        """
        if new_tip not in ("always", "once", "never"):
            raise UsageError(f"new_tip must be one of 'always', 'once', 'never', got {new_tip!r}")
        dests = dest if isinstance(dest, list) else [dest]
        pipette = pipette or self.choose_pipette(volume_uL)
        spec = self._spec(pipette)
        if volume_uL > spec.max_uL:
            raise VolumeError(f"{pipette} cannot transfer {volume_uL:g} uL in one go (max {spec.max_uL:g} uL)")
        if new_tip == "once":
            yield from self.pick_up_tip(pipette)
        for d in dests:
            if new_tip == "always":
                yield from self.pick_up_tip(pipette)
            yield from self.aspirate(pipette, source, volume_uL)
            yield from self.dispense(pipette, d)
            if mix_after:
                reps, mix_uL = mix_after
                mix_uL = min(mix_uL, spec.max_uL, d.labware.volume_uL[d.index])
                if mix_uL >= spec.min_uL:
                    yield from self.mix(pipette, d, reps, mix_uL)
            if new_tip == "always":
                yield from self.drop_tip(pipette)
        if new_tip == "once":
            yield from self.drop_tip(pipette)

    def home(self) -> Generator:
        yield from self._hw_home()
        self._record("home")

    def _hw_home(self) -> Generator:
        yield self.clock.timeout(0.0)
