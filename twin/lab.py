"""The Lab: one clock, the instruments on it and the deck they share, built from a LabConfig."""

from __future__ import annotations

import numpy as np

from instruments.sim.pipettor import SimPipettor
from instruments.sim.reader import SimPlateReader
from instruments.clock import Clock
from twin.config import LabConfig
from twin.prep import PrepPlan


class Lab:
    """Clock + pipettor + plate reader. Every random draw comes from one seed, split per instrument."""

    def __init__(self, config: LabConfig, plan: PrepPlan, seed: int = 0, faults=None):
        """``faults``: a ``twin.faults.FaultInjector`` handed to the twins (real drivers meet real faults)."""
        self.config = config
        self.plan = plan
        self.clock = Clock(realtime=config.realtime)
        pip_seed, reader_seed = np.random.SeedSequence(seed).spawn(2)
        if config.pipettor == "sim":
            self.pipettor = SimPipettor(self.clock, plan.deck, plan.pipettes, rng=np.random.default_rng(pip_seed),
                                        timing=config.pipettor_timing, faults=faults)
        elif config.pipettor in ("ot2", "ot2-sim"):
            from instruments.ot2 import OT2Pipettor, robot_context, simulated_context

            ctx = robot_context() if config.pipettor == "ot2" else simulated_context()
            self.pipettor = OT2Pipettor(self.clock, plan.deck, plan.pipettes, context=ctx)
        if config.reader == "sim":
            from chemistry import LarpModel

            self.reader = SimPlateReader(self.clock, model=LarpModel(config.chemistry, well_scatter=config.well_scatter),
                                         rng=np.random.default_rng(reader_seed),
                                         timing=config.reader_timing, noise=config.reader_noise, faults=faults)
            self.reader.well_keys = dict(plan.well_keys)  # well-to-well draws follow the plate map's recipes
        elif config.reader == "cytation-serial":
            from instruments.cytation import CytationSerialReader

            self.reader = CytationSerialReader(self.clock, config.reader_port, settings=config.reader_link)
            self.reader_firmware = self.reader.connect()
        elif config.reader == "gen5-folder":
            from instruments.cytation import Gen5FolderReader

            self.reader = Gen5FolderReader(self.clock, config.reader_folder, timeout_s=config.reader_timeout_s,
                                           include_existing=config.reader_include_existing)

    def close(self) -> None:
        """Release instrument connections (serial ports)."""
        close = getattr(self.reader, "close", None)
        if close is not None:
            close()

    @property
    def backends(self) -> dict[str, str]:
        return {"pipettor": self.config.pipettor, "reader": self.config.reader,
                "clock": "realtime" if self.config.realtime else "virtual"}
