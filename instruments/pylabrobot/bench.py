"""TwinBench: the twin side of a PyLabRobot session, shared by the liquid-handler and plate-reader backends.

PyLabRobot runs on asyncio and the wall clock; the twins run on a simpy clock in virtual seconds.  The bench owns
that one virtual clock: every backend operation runs the twin's simpy process to completion on it (an aspirate
advances it by the OT-2 twin's motion and flow time, a spectrum read by the Cytation twin's scan time) and returns
at once in wall time, and a script waits with ``await bench.sleep(seconds)``, which advances the clock without
waiting.  So a 12 h kinetic campaign written in PyLabRobot runs in seconds.  Operations run one after another in
virtual time (the robot and the reader never overlap), as in a script that awaits each call.

The bench also holds the twin's copy of the deck: each piece of labware a script loads through ``bench.load`` exists
both as a PyLabRobot resource (what the script pipettes with) and as twin labware (``instruments.labware.Labware``),
which tracks what is in every well by component (PyLabRobot's volume tracker no longer tracks liquids).
"""

from __future__ import annotations

from typing import Generator

import numpy as np
from pylabrobot.resources import Container, Resource
from pylabrobot.resources.opentrons import OTDeck

from instruments.clock import VIRTUAL_EPOCH_S, Clock
from instruments.deck import Deck
from instruments.errors import LabwareError
from instruments.labware import Labware, WellRef
from instruments.pylabrobot.labware import make_resource, well_of

#: Unix time of virtual t=0 (2000-01-01 09:00 UTC): fixed, so the ``time`` of every read is the same for the same seed
EPOCH_S = VIRTUAL_EPOCH_S


class TwinBench:
    """One virtual clock, the twin's deck mirroring PyLabRobot's, and the seeds of the pipettor and reader twins.

    ``seed`` is split as ``twin.lab.Lab`` splits it (pipettor, reader), so the twins draw as in ``larp-twin run``.
    """

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self.clock = Clock(realtime=False)
        self.deck = Deck()
        pipettor_seed, reader_seed = np.random.SeedSequence(self.seed).spawn(2)
        self.pipettor_rng = np.random.default_rng(pipettor_seed)
        self.reader_rng = np.random.default_rng(reader_seed)
        self._labware: dict[str, Labware] = {}
        #: every dispense as it happened: t_s, pipette, labware, well, volume_uL (asked), delivered (uL by component)
        self.dispenses: list[dict] = []

    # -- time ---------------------------------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """Virtual seconds since the bench was made."""
        return self.clock.now

    def unix_time(self, t_s: float | None = None) -> float:
        """The ``time`` PyLabRobot reports for virtual second ``t_s`` (default: now): ``EPOCH_S + t_s``."""
        return EPOCH_S + (self.clock.now if t_s is None else float(t_s))

    def run(self, operation: Generator):
        """Run one twin operation (a simpy generator) to completion on the virtual clock; return its value."""
        return self.clock.run_process(operation)

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (at once in wall time): the twin-side ``asyncio.sleep``."""
        if not seconds >= 0:
            raise ValueError(f"cannot sleep {seconds!r} s: give seconds >= 0")
        self.run(self._timeout(seconds))

    async def sleep_until(self, t_s: float) -> None:
        """Let virtual time pass until ``t_s`` (no wait if it has passed)."""
        self.run(self._timeout(max(0.0, float(t_s) - self.clock.now)))

    def _timeout(self, seconds: float) -> Generator:
        yield self.clock.timeout(seconds)

    # -- labware ------------------------------------------------------------------------------------------------
    def load(self, deck: OTDeck, load_name: str, slot: int, name: str) -> Resource:
        """Put labware ``load_name`` (an opentrons load name) on ``slot`` of the PyLabRobot ``deck`` and of the twin's
        deck; returns the PyLabRobot resource."""
        if name in self._labware:
            raise LabwareError(f"labware name {name!r} is already on the bench")
        resource = make_resource(load_name, name)  # refuses labware PyLabRobot has no resource for, before any load
        twin = self.deck.load(load_name, slot, name)  # refuses unknown or taken slots, in the twin's words
        deck.assign_child_at_slot(resource, slot)
        self._labware[name] = twin
        return resource

    def labware(self, resource: Resource) -> Labware:
        """The twin labware of a PyLabRobot plate, tip rack, tube rack or reservoir loaded through ``load``."""
        try:
            return self._labware[resource.name]
        except KeyError:
            raise LabwareError(f"{resource.name} was not loaded through the bench (bench.load); loaded: "
                               f"{sorted(self._labware)}") from None

    def well(self, container: Resource) -> WellRef:
        """The twin well of a PyLabRobot well, tube or tip spot."""
        parent, name = well_of(container)
        return self.labware(parent)[name]

    def fill(self, container: Container, mixture: dict[str, float]) -> None:
        """Put liquid in a stock well or tube by hand (component -> uL, e.g. ``{"toluene": 12000}``): the twin
        tracks the components, PyLabRobot's volume tracker the total."""
        ref = self.well(container)
        ref.labware.fill(ref.name, mixture)
        container.tracker.set_volume(float(ref.labware.volume_uL[ref.index]))

    def contents(self, resource: Resource) -> dict[str, dict[str, float]]:
        """What is in each filled well of ``resource``: well -> {component: uL}."""
        lw = self.labware(resource)
        return {lw.wells[i]: lw.mixture(i) for i in np.flatnonzero(lw.volume_uL > 0)}

    def take_off_deck(self, resource: Resource) -> Labware:
        """The plate leaves the twin's OT-2 deck (carried to the reader); its contents go with it."""
        lw = self.labware(resource)
        if lw.slot is not None and lw.name in {x.name for x in self.deck}:
            self.deck.remove(lw.name)
        return lw
