"""TwinOT2Backend: a PyLabRobot ``LiquidHandlerBackend`` that drives the OT-2 twin (``instruments.sim.SimPipettor``).

PyLabRobot's ``LiquidHandler`` front end keeps its resource model and tip and volume trackers; this back end hands
each operation to the twin's ``Pipettor`` on the bench's deck, so the same limits (p20 1-20 uL, p300 20-300 uL,
tip capacity, well capacity), the same timing (gantry moves, flow rates) and the same pipetting error (liquid class,
pipette calibration, volume-dependent noise) apply as in ``larp-twin run``, and the twin's labware records what each
dispense put into each well.  Channels are the OT-2's mounts: 0 = left = the smaller pipette (p20), 1 = right (p300).
"""

from __future__ import annotations

from typing import List

from pylabrobot.liquid_handling.backends.backend import LiquidHandlerBackend
from pylabrobot.liquid_handling.standard import (
    Drop,
    Pickup,
    SingleChannelAspiration,
    SingleChannelDispense,
)
from pylabrobot.resources import Tip, TipSpot

from instruments.errors import UsageError
from instruments.pipettor import PIPETTES, check_pipettes
from instruments.pylabrobot.bench import TwinBench
from instruments.sim.pipettor import LiquidClass, PipettorTiming, SimPipettor


class TwinOT2Backend(LiquidHandlerBackend):
    """The OT-2 twin behind PyLabRobot's ``LiquidHandler`` (single-channel operations on its two mounts).

    ``dispense`` takes two back-end keyword arguments (``lh.dispense(..., touch_tip=True)``): ``touch_tip`` touches
    the tip off on the well's walls afterwards; ``blow_out`` (or a ``blow_out_air_volume``) blows the tip out at the
    top of the well, as the twin's own preparation does after each precursor injection.
    """

    def __init__(self, bench: TwinBench, pipettes=("p20", "p300"), *, timing: PipettorTiming | None = None,
                 liquid_classes: dict[str, LiquidClass] | None = None):
        super().__init__()
        self.bench = bench
        self.pipettes: tuple[str, ...] = check_pipettes(pipettes)  # smallest first: channel 0 is the left mount
        self._timing = timing
        self._liquid_classes = liquid_classes
        self.pipettor: SimPipettor | None = None

    # -- machine ------------------------------------------------------------------------------------------------
    async def setup(self) -> None:
        await super().setup()
        self.pipettor = SimPipettor(self.bench.clock, self.bench.deck, self.pipettes, rng=self.bench.pipettor_rng,
                                    timing=self._timing, liquid_classes=self._liquid_classes)
        self.bench.run(self.pipettor.home())

    async def stop(self) -> None:
        """Nothing to release: the twin holds no connection."""

    def serialize(self) -> dict:
        return {**super().serialize(), "pipettes": list(self.pipettes)}

    @property
    def num_channels(self) -> int:
        return len(self.pipettes)

    def pipette_of(self, channel: int) -> str:
        """The twin pipette on ``channel`` (0 = left = smaller)."""
        if not 0 <= channel < len(self.pipettes):
            raise UsageError(f"channel {channel} does not exist: the OT-2 twin has channels 0..{len(self.pipettes) - 1}"
                             f" ({', '.join(f'{c} = {p}' for c, p in enumerate(self.pipettes))})")
        return self.pipettes[channel]

    def can_pick_up_tip(self, channel_idx: int, tip: Tip) -> bool:
        """A pipette takes only its own tips (p20: 20 uL tips, p300: 300 uL tips)."""
        if not 0 <= channel_idx < len(self.pipettes):
            return False
        return abs(tip.maximal_volume - PIPETTES[self.pipettes[channel_idx]].max_uL) < 1e-6

    def _twin(self) -> SimPipettor:
        if self.pipettor is None:
            raise UsageError("the OT-2 twin is not set up: await lh.setup() first")
        return self.pipettor

    # -- single-channel operations --------------------------------------------------------------------------------
    async def pick_up_tips(self, ops: List[Pickup], use_channels: List[int], **backend_kwargs):
        pipettor = self._twin()
        for op, channel in zip(ops, use_channels):
            self.bench.run(pipettor.pick_up_tip(self.pipette_of(channel), self.bench.well(op.resource)))

    async def drop_tips(self, ops: List[Drop], use_channels: List[int], **backend_kwargs):
        """Drop into the trash; a tip put back into its rack (a ``TipSpot``) is available again."""
        pipettor = self._twin()
        for op, channel in zip(ops, use_channels):
            self.bench.run(pipettor.drop_tip(self.pipette_of(channel)))
            if isinstance(op.resource, TipSpot):
                ref = self.bench.well(op.resource)
                ref.labware.tip_present[ref.index] = True

    async def aspirate(self, ops: List[SingleChannelAspiration], use_channels: List[int], **backend_kwargs):
        """Aspirate (after mixing the source, when the operation asks for a mix)."""
        pipettor = self._twin()
        for op, channel in zip(ops, use_channels):
            pip, ref = self.pipette_of(channel), self.bench.well(op.resource)
            if op.mix is not None:
                self.bench.run(pipettor.mix(pip, ref, op.mix.repetitions, op.mix.volume))
            self.bench.run(pipettor.aspirate(pip, ref, op.volume))

    async def dispense(self, ops: List[SingleChannelDispense], use_channels: List[int], *, touch_tip: bool = False,
                       blow_out: bool = False, **backend_kwargs):
        """Dispense, then mix (when asked), blow out and touch off; records what reached the well, by component."""
        pipettor = self._twin()
        for op, channel in zip(ops, use_channels):
            pip, ref = self.pipette_of(channel), self.bench.well(op.resource)
            before = ref.labware.mixture(ref.index)
            self.bench.run(pipettor.dispense(pip, ref, op.volume))
            if op.mix is not None:
                self.bench.run(pipettor.mix(pip, ref, op.mix.repetitions, op.mix.volume))
            if blow_out or op.blow_out_air_volume:
                self.bench.run(pipettor.blow_out(pip, ref))
            if touch_tip:
                self.bench.run(pipettor.touch_tip(pip, ref))
            after = ref.labware.mixture(ref.index)
            delivered = {c: round(v - before.get(c, 0.0), 6) for c, v in after.items() if v - before.get(c, 0.0) > 0}
            self.bench.dispenses.append({"t_s": round(self.bench.now_s, 3), "pipette": pip,
                                         "labware": ref.labware.name, "well": ref.name,
                                         "volume_uL": float(op.volume), "delivered": delivered})

    # -- what the OT-2 does not have ------------------------------------------------------------------------------
    def _no_96_head(self, *args, **kwargs):
        raise NotImplementedError("the OT-2 twin has no 96-channel head: use single-channel operations")

    def _no_gripper(self, *args, **kwargs):
        raise NotImplementedError("the OT-2 has no gripper: carry the plate by hand (reassign it to the reader, "
                                  "see scenarios/pylabrobot_demo.py)")

    async def pick_up_tips96(self, pickup):
        self._no_96_head()

    async def drop_tips96(self, drop):
        self._no_96_head()

    async def aspirate96(self, aspiration):
        self._no_96_head()

    async def dispense96(self, dispense):
        self._no_96_head()

    async def pick_up_resource(self, pickup):
        self._no_gripper()

    async def move_picked_up_resource(self, move):
        self._no_gripper()

    async def drop_resource(self, drop):
        self._no_gripper()
