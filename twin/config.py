"""Campaign configuration: the kinetic schedule and which backend drives each instrument (validated pydantic)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chemistry.parameters import LarpParameters
from instruments.cytation.driver import LinkSettings
from instruments.sim.pipettor import PipettorTiming
from instruments.sim.reader import ReaderNoise, ReaderTiming

#: "sim": the twin; "ot2-sim": the real OT-2 driver on opentrons' own simulator; "ot2": the robot (realtime)
PIPETTOR_BACKENDS = ("sim", "ot2-sim", "ot2")
#: "sim": the twin; "cytation-serial": a Cytation 5 over its USB-serial link (or the pty emulator);
#: "gen5-folder": Gen5 runs the kinetic spectrum protocol and exports each read into a folder we watch
READER_BACKENDS = ("sim", "cytation-serial", "gen5-folder")


class Schedule(BaseModel):
    """When and how the plate is read: a PL emission scan of every filled well every ``every_min`` for ``hours``."""

    model_config = ConfigDict(extra="forbid")
    hours: float = Field(12.0, gt=0, le=168, allow_inf_nan=False,
                         description="length of the kinetic read-out after the plate is loaded")
    every_min: float = Field(10.0, ge=0, le=24 * 60, allow_inf_nan=False,
                             description="interval between read starts; reads that overrun go back to back; "
                                         "0 = back to back (the lab's Gen5 procedure: one read step after another)")
    excitation_nm: float = 365.0
    emission_start_nm: float = 400.0
    emission_stop_nm: float = 650.0
    emission_step_nm: float = 2.0
    gain: int = Field(100, description="PMT gain (Gen5 25..255)")
    temperature_C: float = Field(25.0, description="reader incubator set-point; 25 = ambient, no incubation")
    plate_transfer_s: float = Field(60.0, ge=0, description="carrying the plate from the deck to the reader tray")

    @model_validator(mode="after")
    def _emission_range(self):
        if self.emission_stop_nm <= self.emission_start_nm:
            raise ValueError(f"emission_stop_nm ({self.emission_stop_nm}) must exceed emission_start_nm "
                             f"({self.emission_start_nm})")
        return self


class LabConfig(BaseModel):
    """Which backend drives each instrument, and the twins' timing and noise figures."""

    model_config = ConfigDict(extra="forbid")
    pipettor: str = Field("sim", description=f"one of {PIPETTOR_BACKENDS}")
    reader: str = Field("sim", description=f"one of {READER_BACKENDS}")
    reader_port: str | None = Field(None, description="serial port of the Cytation (reader='cytation-serial')")
    reader_link: LinkSettings = Field(default_factory=LinkSettings)
    reader_folder: str | None = Field(None, description="folder Gen5 exports each read into (reader='gen5-folder')")
    reader_timeout_s: float = Field(3600.0, gt=0, description="gen5-folder: longest wait for the next export")
    reader_include_existing: bool = Field(False, description="gen5-folder: also take the exports already in "
                                          "the folder (files copied off the Gen5 PC), oldest first")
    reader_since_wall_s: float | None = Field(None, description="gen5-folder: files written before this Unix time "
                                              "were there before the run (None: when the reader starts; "
                                              "`larp-twin run` gives the moment the command started)")
    realtime: bool = Field(False, description="run on the wall clock (real drivers) instead of virtual time")
    pipettor_timing: PipettorTiming = Field(default_factory=PipettorTiming)
    reader_timing: ReaderTiming = Field(default_factory=ReaderTiming)
    reader_noise: ReaderNoise = Field(default_factory=ReaderNoise)
    chemistry: LarpParameters | None = Field(None, description="LARP model parameters of the reader twin: a "
                                             "LarpParameters, or the path of its JSON file (`larp-twin calibrate`); "
                                             "None: the built-in calibration")
    chemistry_source: str | None = Field(None, description="the file `chemistry` came from (set when given a path)")
    well_scatter: bool = Field(True, description="sim reader: well-to-well variability and occasional failed wells "
                               "(rates from the lab's data); False = identical, always-working wells (teaching)")

    @model_validator(mode="before")
    @classmethod
    def _load_chemistry(cls, data):
        if isinstance(data, dict) and isinstance(data.get("chemistry"), (str, os.PathLike)):
            from twin.params import load_params

            path = data["chemistry"]
            try:
                params = load_params(path)
            except FileNotFoundError as exc:  # a validation error of the field, like any other bad value
                raise ValueError(f"chemistry: {exc}") from None
            data = {**data, "chemistry": params, "chemistry_source": data.get("chemistry_source") or str(path)}
        return data

    @property
    def is_real(self) -> bool:
        """True when this lab drives real instruments or the wall clock (a run that cannot be replayed)."""
        return self.realtime or self.pipettor != "sim" or self.reader != "sim"

    @model_validator(mode="after")
    def _known_backends(self):
        if self.pipettor not in PIPETTOR_BACKENDS:
            raise ValueError(f"pipettor={self.pipettor!r}; allowed: {list(PIPETTOR_BACKENDS)}")
        if self.pipettor == "ot2" and not self.realtime:
            raise ValueError("pipettor='ot2' drives the real robot: set realtime=True")
        if self.reader not in READER_BACKENDS:
            raise ValueError(f"reader={self.reader!r}; allowed: {list(READER_BACKENDS)}")
        if self.reader == "cytation-serial" and not self.reader_port:
            raise ValueError("reader='cytation-serial' needs reader_port (e.g. '/dev/ttyUSB0')")
        if self.reader == "gen5-folder" and not self.reader_folder:
            raise ValueError("reader='gen5-folder' needs reader_folder (where Gen5 exports each read)")
        return self
