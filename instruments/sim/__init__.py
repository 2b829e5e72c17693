"""Simulated twins of the lab's instruments: same interface, limits and errors as the real drivers."""

from instruments.sim.pipettor import LIQUID_CLASSES, LiquidClass, PipettorTiming, SimPipettor
from instruments.sim.reader import ReaderNoise, ReaderTiming, SimPlateReader

__all__ = ["SimPipettor", "PipettorTiming", "LiquidClass", "LIQUID_CLASSES", "SimPlateReader", "ReaderTiming",
           "ReaderNoise"]
