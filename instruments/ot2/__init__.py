"""The Opentrons OT-2 driver: ``OT2Pipettor`` on an opentrons ``ProtocolContext`` (robot or opentrons' simulator)."""

from instruments.ot2.driver import MOUNTS, OT2Pipettor, robot_context, simulated_context, translate_error
from instruments.ot2.runlog import Step, parse_run_log, rack_pipettes, steps_from_log

__all__ = ["OT2Pipettor", "simulated_context", "robot_context", "translate_error", "MOUNTS", "Step",
           "parse_run_log", "steps_from_log", "rack_pipettes"]
