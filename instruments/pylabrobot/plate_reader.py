"""TwinCytationBackend: a PyLabRobot ``PlateReaderBackend`` whose reads come from the Cytation 5 twin.

Behind it is ``instruments.sim.SimPlateReader`` on the bench's virtual clock: the chemistry twin
(``chemistry.LarpModel``) gives each well's emission and absorbance from what the liquid handler put into it and
how long ago its precursor arrived; the reader twin adds its gain law, shot noise, dark counts, saturation
(``OVRFLW``: NaN here) and its scan time, which passes on the virtual clock.

What it reads, named after PyLabRobot's own API (0.2.2):

- ``read_fluorescence`` / ``read_absorbance``: the ``PlateReaderBackend`` endpoints (one wavelength), as the
  ``PlateReader`` front end calls them;
- ``experimental_read_fluorescence_emission_spectrum`` / ``experimental_read_absorbance_spectrum``: spectrum scans
  with the signatures of the Tecan Spark back end (``ExperimentalSparkBackend``, PyLabRobot PR #1046), one result
  dict per wavelength;
- a kinetic read: every read takes ``kinetic_settings=KineticSettings(interval=s, num_readings=n)``, the settings
  class of PyLabRobot's Molecular Devices back end; the readings start ``interval`` virtual seconds apart (back to
  back when a read takes longer, as Gen5 does) and come back as one list, each dict with its own ``time``.

Each result dict carries PyLabRobot's keys (``time``, ``temperature``, ``data``, and ``wavelength`` or
``ex_wavelength``/``em_wavelength``) plus ``start_time`` (the scan's start).  ``time`` is ``bench.unix_time`` of
the scan's end (virtual seconds after ``EPOCH_S``); ``data`` is rows x columns with ``None`` for wells not read and
NaN for an overflowed well.  Luminescence is not modelled (LARP nanocrystals are read by PL) and raises.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np
from pylabrobot.plate_reading.backend import PlateReaderBackend
from pylabrobot.plate_reading.molecular_devices import KineticSettings
from pylabrobot.resources import Plate, Well

from chemistry import LarpModel, LarpParameters
from instruments.errors import ReaderError
from instruments.pylabrobot.bench import TwinBench
from instruments.labware import parse_well
from instruments.reader import emission_grid
from instruments.sim.reader import ReaderNoise, ReaderTiming, SimPlateReader

#: the Cytation's read-height range (mm), as PyLabRobot's BioTek back end checks it
FOCAL_HEIGHT_RANGE_MM = (4.5, 13.88)
DEFAULT_FOCAL_HEIGHT_MM = 8.5


class TwinCytationBackend(PlateReaderBackend):
    """The Cytation 5 twin behind PyLabRobot's ``PlateReader`` (fluorescence and absorbance; endpoint, spectrum,
    kinetic), reading the plate the liquid-handler twin prepared on the same ``bench``."""

    def __init__(self, bench: TwinBench, *, params: LarpParameters | None = None, well_scatter: bool = True,
                 timing: ReaderTiming | None = None, noise: ReaderNoise | None = None):
        super().__init__()
        self.bench = bench
        self.reader = SimPlateReader(bench.clock, model=LarpModel(params, well_scatter=well_scatter),
                                     rng=bench.reader_rng, timing=timing, noise=noise)

    # -- machine and tray ---------------------------------------------------------------------------------------
    async def setup(self) -> None:
        """Nothing to connect: the twin is ready."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def open(self) -> None:
        """Tray out (the plate on it can be taken off or put on)."""
        self.bench.run(self.reader.open_tray())

    async def close(self, plate: Optional[Plate] = None) -> None:
        """Tray in; ``plate`` (the one assigned to the ``PlateReader``) is what lies on the tray."""
        twin = self.bench.take_off_deck(plate) if plate is not None else None
        if twin is not self.reader.plate:
            if self.reader.plate is not None:
                self.reader.unload_plate()  # raises TrayError when the tray is closed
            if twin is not None:
                self.reader.load_plate(twin)
        self.bench.run(self.reader.close_tray())

    # -- endpoints (the PlateReaderBackend API) -------------------------------------------------------------------
    async def read_fluorescence(self, plate: Plate, wells: List[Well], excitation_wavelength: int,
                                emission_wavelength: int, focal_height: float = DEFAULT_FOCAL_HEIGHT_MM, *,
                                gain: int = 100, kinetic_settings: KineticSettings | None = None) -> List[Dict]:
        """Fluorescence endpoint at one excitation/emission pair; RFU per well."""
        _check_focal_height(focal_height)
        names = _names(plate, wells)

        def once() -> List[Dict]:
            read = self.bench.run(self.reader.read_pl_endpoint(names, excitation_nm=excitation_wavelength,
                                                               emission_nm=emission_wavelength, gain=gain))
            return self._results(plate, read.wells, read.counts, read.start_s, read.end_s,
                                 [{"ex_wavelength": excitation_wavelength, "em_wavelength": emission_wavelength}])

        return self._kinetic(kinetic_settings, once)

    async def read_absorbance(self, plate: Plate, wells: List[Well], wavelength: int, *,
                              kinetic_settings: KineticSettings | None = None) -> List[Dict]:
        """Absorbance endpoint at one wavelength; OD per well."""
        names = _names(plate, wells)

        def once() -> List[Dict]:
            read = self.bench.run(self.reader.read_absorbance(names, wavelength_nm=wavelength))
            return self._results(plate, read.wells, read.od[:, None], read.start_s, read.end_s,
                                 [{"wavelength": wavelength}])

        return self._kinetic(kinetic_settings, once)

    async def read_luminescence(self, plate: Plate, wells: List[Well], focal_height: float) -> List[Dict]:
        raise NotImplementedError("the Cytation twin models no luminescence (LARP nanocrystals are read by PL): "
                                  "use read_fluorescence or experimental_read_fluorescence_emission_spectrum")

    # -- spectra (the Tecan Spark back end's names and arguments) -------------------------------------------------
    async def experimental_read_fluorescence_emission_spectrum(
            self, plate: Plate, wells: List[Well], excitation_wavelength: int, emission_wavelength_start: int,
            emission_wavelength_end: int, emission_wavelength_step: int = 10,
            focal_height: float = DEFAULT_FOCAL_HEIGHT_MM, *, gain: int = 100,
            kinetic_settings: KineticSettings | None = None) -> List[Dict]:
        """PL emission scan (Gen5 sweep mode), start..end inclusive in ``emission_wavelength_step`` nm: one dict per
        emission wavelength (per reading, when kinetic), RFU per well."""
        _check_focal_height(focal_height)
        _check_scan("emission_wavelength", emission_wavelength_start, emission_wavelength_end,
                    emission_wavelength_step)
        names = _names(plate, wells)

        def once() -> List[Dict]:
            read = self.bench.run(self.reader.read_pl(
                names, excitation_nm=excitation_wavelength, emission_start_nm=emission_wavelength_start,
                emission_stop_nm=emission_wavelength_end, emission_step_nm=emission_wavelength_step, gain=gain))
            return self._results(plate, read.wells, read.counts, read.start_s, read.end_s,
                                 [{"ex_wavelength": excitation_wavelength, "em_wavelength": _nm(wl)}
                                  for wl in read.wavelength_nm])

        return self._kinetic(kinetic_settings, once)

    async def experimental_read_absorbance_spectrum(
            self, plate: Plate, wells: Optional[List[Well]], wavelength_start: int, wavelength_end: int,
            wavelength_step: int = 10, *, kinetic_settings: KineticSettings | None = None) -> List[Dict]:
        """Absorbance scan start..end inclusive in ``wavelength_step`` nm: one dict per wavelength, OD per well."""
        _check_scan("wavelength", wavelength_start, wavelength_end, wavelength_step)
        names = _names(plate, wells or plate.get_all_items())

        def once() -> List[Dict]:
            read = self.bench.run(self.reader.read_absorbance_spectrum(
                names, start_nm=wavelength_start, stop_nm=wavelength_end, step_nm=wavelength_step))
            return self._results(plate, read.wells, read.od, read.start_s, read.end_s,
                                 [{"wavelength": _nm(wl)} for wl in read.wavelength_nm])

        return self._kinetic(kinetic_settings, once)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _kinetic(self, settings: KineticSettings | None, once: Callable[[], List[Dict]]) -> List[Dict]:
        """One read, or ``settings.num_readings`` reads whose starts are ``settings.interval`` s apart."""
        if settings is None:
            return once()
        if settings.num_readings < 1 or settings.interval < 0:
            raise ReaderError(f"kinetic_settings: num_readings must be >= 1 and interval >= 0 s; got "
                              f"num_readings={settings.num_readings}, interval={settings.interval}")
        t0 = self.bench.now_s
        results: List[Dict] = []
        for k in range(settings.num_readings):
            self.bench.run(self._until(t0 + k * settings.interval))
            results.extend(once())
        return results

    def _until(self, t_s: float):
        yield self.bench.clock.wait_until(t_s)

    def _results(self, plate: Plate, wells: List[str], values: np.ndarray, start_s: float, end_s: float,
                 keys: List[Dict]) -> List[Dict]:
        """One result dict per column of ``values`` (n_wells, len(keys)): PyLabRobot's rows x columns grid."""
        rows, cols = zip(*[parse_well(w) for w in wells])
        grid = np.full((len(keys), plate.num_items_y, plate.num_items_x), None, dtype=object)
        grid[:, list(rows), list(cols)] = np.asarray(values, float).T
        common = {"time": self.bench.unix_time(end_s), "start_time": self.bench.unix_time(start_s),
                  "temperature": float(self.reader.current_temperature_C())}
        return [{**k, **common, "data": g.tolist()} for k, g in zip(keys, grid)]


def _names(plate: Plate, wells: List[Well]) -> List[str]:
    """Well names (``'A1'``) of ``wells``, which must be wells of ``plate``."""
    names = []
    for w in wells:
        if w.parent is not plate:
            raise ReaderError(f"{w.name} is not a well of {plate.name}, the plate in the reader")
        names.append(plate.get_child_identifier(w))
    return names


def _nm(wl: float) -> int | float:
    return int(wl) if float(wl).is_integer() else float(wl)


def _check_focal_height(focal_height: float) -> None:
    lo, hi = FOCAL_HEIGHT_RANGE_MM
    if not lo <= focal_height <= hi:
        raise ReaderError(f"focal_height={focal_height!r} mm is outside the Cytation's range {lo:g}..{hi:g} mm")


def _check_scan(name: str, start: float, end: float, step: float) -> None:
    if start >= end:
        raise ReaderError(f"{name}_start ({start}) must be less than {name}_end ({end})")
    if step <= 0:
        raise ReaderError(f"{name}_step must be positive, got {step}")
    emission_grid(start, end, step)
