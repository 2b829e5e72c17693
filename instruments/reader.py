"""The PlateReader interface: tray, incubator, PL emission scans and absorbance, with the Cytation 5's limits.

``PlateReader`` owns the checks that hold for any reader (tray state, plate loaded, well names, wavelength and gain
ranges); the twin (``instruments.sim.SimPlateReader``) and the real driver (``instruments.cytation``) implement the
``_hw_*`` hooks.  Operations are simpy process generators, like the pipettor's.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Generator, Sequence

import numpy as np

from instruments.errors import ReaderError, TemperatureError, TrayError, WavelengthError
from instruments.labware import Labware

#: Cytation 5 monochromator ranges (PyLabRobot limits; spec sheet: emission 300-700 nm).
EXCITATION_RANGE_NM = (250.0, 700.0)
EMISSION_RANGE_NM = (250.0, 700.0)
ABSORBANCE_RANGE_NM = (230.0, 999.0)
#: emission must start this far above the excitation, or scattered excitation leaks in.
MIN_STOKES_GAP_NM = 20.0
#: Gen5 PMT gain range (assumed from Gen5's protocol editor).
GAIN_RANGE = (25, 255)
#: incubator set-point window Gen5 reports for a Cytation 5.
TEMPERATURE_RANGE_C = (18.0, 65.0)


@dataclass(frozen=True)
class SpectrumRead:
    """One PL emission scan of a set of wells. ``counts`` is (n_wells, n_wavelengths) RFU; NaN where overflowed."""

    wells: list[str]
    wavelength_nm: np.ndarray
    counts: np.ndarray
    start_s: float
    end_s: float
    excitation_nm: float
    gain: int
    #: where the counts came from when a reader takes them from files (the Gen5 export's name), else None
    source: str | None = None

    @property
    def overflow(self) -> np.ndarray:
        """True where Gen5 would write ``OVRFLW``."""
        return np.isnan(self.counts)


@dataclass(frozen=True)
class AbsorbanceRead:
    """One absorbance endpoint read: ``od`` is (n_wells,) optical density; NaN where overflowed."""

    wells: list[str]
    wavelength_nm: float
    od: np.ndarray
    start_s: float
    end_s: float


@dataclass(frozen=True)
class AbsorbanceSpectrumRead:
    """One absorbance scan: ``od`` is (n_wells, n_wavelengths) optical density; NaN where over the reader's ceiling."""

    wells: list[str]
    wavelength_nm: np.ndarray
    od: np.ndarray
    start_s: float
    end_s: float


def emission_grid(start_nm: float, stop_nm: float, step_nm: float) -> np.ndarray:
    """The emission wavelengths of a scan, start..stop inclusive (400, 650, 2 -> 126 points)."""
    if step_nm <= 0:
        raise WavelengthError(f"emission_step_nm must be > 0, got {step_nm:g}")
    if stop_nm <= start_nm:
        raise WavelengthError(f"emission_stop_nm ({stop_nm:g}) must be above emission_start_nm ({start_nm:g})")
    n = int(np.floor((stop_nm - start_nm) / step_nm + 1e-9)) + 1
    return start_nm + step_nm * np.arange(n, dtype=float)


def _check_range(name: str, value: float, lo: float, hi: float, exc=WavelengthError) -> None:
    if not (np.isfinite(value) and lo <= value <= hi):
        raise exc(f"{name}={value!r} is outside the reader's range {lo:g}..{hi:g}")


def _check_pl(excitation_nm: float, emission_start_nm: float, emission_stop_nm: float, gain) -> None:
    """The checks of a PL read: monochromator ranges, the Stokes gap, the PMT gain."""
    _check_range("excitation_nm", excitation_nm, *EXCITATION_RANGE_NM)
    _check_range("emission_start_nm", emission_start_nm, *EMISSION_RANGE_NM)
    _check_range("emission_stop_nm", emission_stop_nm, *EMISSION_RANGE_NM)
    if emission_start_nm < excitation_nm + MIN_STOKES_GAP_NM:
        raise WavelengthError(
            f"emission_start_nm={emission_start_nm:g} must be at least {MIN_STOKES_GAP_NM:g} nm above "
            f"excitation_nm={excitation_nm:g} (scattered excitation)"
        )
    if not (isinstance(gain, (int, np.integer)) and GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]):
        raise ReaderError(f"gain={gain!r} is outside the allowed integers {GAIN_RANGE[0]}..{GAIN_RANGE[1]}")


class PlateReader(abc.ABC):
    """A monochromator plate reader with a tray, an incubator, PL emission scans and absorbance reads."""

    def __init__(self, clock):
        self.clock = clock
        self.tray_open = False
        self.plate: Labware | None = None
        self.temperature_C = 25.0
        self.log: list[dict] = []

    # -- hooks --------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _hw_open_tray(self) -> Generator: ...

    @abc.abstractmethod
    def _hw_close_tray(self) -> Generator: ...

    @abc.abstractmethod
    def _hw_set_temperature(self, celsius: float) -> Generator: ...

    @abc.abstractmethod
    def _hw_read_pl(self, wells: np.ndarray, excitation_nm: float, wavelength_nm: np.ndarray,
                    gain: int) -> Generator:
        """Scan; the generator returns counts (n_wells, n_wavelengths) with NaN for overflow."""

    @abc.abstractmethod
    def _hw_read_absorbance(self, wells: np.ndarray, wavelength_nm: float) -> Generator:
        """Read; the generator returns OD (n_wells,) with NaN for overflow."""

    def _hw_read_absorbance_spectrum(self, wells: np.ndarray, wavelength_nm: np.ndarray) -> Generator:
        """Scan; returns OD (n_wells, n_wavelengths). Default: one endpoint read per wavelength (what a reader
        without a spectrum command, such as the Cytation's serial protocol, can do); the twin overrides it."""
        cols = []
        for wl in wavelength_nm:
            od = yield from self._hw_read_absorbance(wells, float(wl))
            cols.append(np.asarray(od, float))
        return np.stack(cols, axis=1)

    def _last_source(self) -> str | None:
        """The file the last PL read came from (readers that take reads from files); None for instruments."""
        return None

    def resume_after(self, taken, since_wall_s: float | None) -> None:
        """A run restarted from its journal: skip the sources ``taken`` before (files already read or refused).

        ``since_wall_s``: the wall time the run first started (files older than it were not the run's, unless the
        reader takes existing files).  Readers that do not read files have nothing to skip.
        """

    def _record(self, command: str, **args) -> None:
        self.log.append({"t_s": round(self.clock.now, 3), "command": command, **args})

    # -- tray and plate -----------------------------------------------------------------------------------------
    def open_tray(self) -> Generator:
        if not self.tray_open:
            yield from self._hw_open_tray()
            self.tray_open = True
        self._record("open_tray")

    def close_tray(self) -> Generator:
        if self.tray_open:
            yield from self._hw_close_tray()
            self.tray_open = False
        self._record("close_tray")

    def load_plate(self, plate: Labware) -> None:
        """Put a plate on the open tray (a hand or robot move; takes no reader time)."""
        if not self.tray_open:
            raise TrayError("cannot load a plate: the tray is closed; open_tray() first")
        if self.plate is not None:
            raise TrayError(f"the tray already holds {self.plate.name}; unload it first")
        if plate.type.is_tiprack or plate.n_wells not in (96, 384):
            raise ReaderError(f"{plate.name} is not a 96- or 384-well plate")
        self.plate = plate
        self._on_plate_loaded(plate)
        self._record("load_plate", plate=plate.name)

    def _on_plate_loaded(self, plate: Labware) -> None:
        """Hook: a backend may prepare per-plate state."""

    def unload_plate(self) -> Labware:
        if not self.tray_open:
            raise TrayError("cannot unload the plate: the tray is closed; open_tray() first")
        if self.plate is None:
            raise TrayError("no plate on the tray")
        plate, self.plate = self.plate, None
        self._record("unload_plate", plate=plate.name)
        return plate

    def set_temperature(self, celsius: float) -> Generator:
        _check_range("temperature_C", float(celsius), *TEMPERATURE_RANGE_C, exc=TemperatureError)
        yield from self._hw_set_temperature(float(celsius))
        self.temperature_C = float(celsius)
        self._record("set_temperature", celsius=float(celsius))

    # -- reads --------------------------------------------------------------------------------------------------
    def _ready(self, wells: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        if self.plate is None:
            raise TrayError("no plate loaded; load_plate() and close_tray() first")
        if self.tray_open:
            raise TrayError("cannot read with the tray open; close_tray() first")
        if wells is None:
            idx = np.flatnonzero(self.plate.volume_uL > 0)
            if idx.size == 0:
                raise ReaderError(f"{self.plate.name} has no filled wells to read")
        else:
            idx = self.plate.indices(list(wells))
            if np.unique(idx).size != idx.size:
                raise ReaderError("the same well is listed twice in one read")
        return [self.plate.wells[i] for i in idx], idx

    def read_pl(self, wells: Sequence[str] | None = None, *, excitation_nm: float = 365.0,
                emission_start_nm: float = 400.0, emission_stop_nm: float = 650.0, emission_step_nm: float = 2.0,
                gain: int = 100) -> Generator:
        """PL emission scan (sweep mode) of ``wells`` (default: every filled well); returns a SpectrumRead."""
        names, idx = self._ready(wells)
        _check_pl(excitation_nm, emission_start_nm, emission_stop_nm, gain)
        wl = emission_grid(emission_start_nm, emission_stop_nm, emission_step_nm)
        start = self.clock.now
        counts = yield from self._hw_read_pl(idx, float(excitation_nm), wl, int(gain))
        self._record("read_pl", wells=len(names), excitation_nm=excitation_nm, emission_nm=[wl[0], wl[-1], len(wl)],
                     gain=int(gain))
        return SpectrumRead(names, wl, counts, start, self.clock.now, float(excitation_nm), int(gain),
                            source=self._last_source())

    def read_pl_endpoint(self, wells: Sequence[str] | None = None, *, excitation_nm: float = 365.0,
                         emission_nm: float = 516.0, gain: int = 100) -> Generator:
        """PL endpoint at one emission wavelength (Gen5's fluorescence endpoint); a SpectrumRead of one column."""
        names, idx = self._ready(wells)
        _check_pl(excitation_nm, emission_nm, emission_nm, gain)
        wl = np.array([float(emission_nm)])
        start = self.clock.now
        counts = yield from self._hw_read_pl(idx, float(excitation_nm), wl, int(gain))
        self._record("read_pl_endpoint", wells=len(names), excitation_nm=excitation_nm, emission_nm=emission_nm,
                     gain=int(gain))
        return SpectrumRead(names, wl, counts, start, self.clock.now, float(excitation_nm), int(gain),
                            source=self._last_source())

    def read_absorbance(self, wells: Sequence[str] | None = None, *, wavelength_nm: float) -> Generator:
        """Absorbance endpoint at one wavelength; returns an AbsorbanceRead."""
        names, idx = self._ready(wells)
        _check_range("wavelength_nm", wavelength_nm, *ABSORBANCE_RANGE_NM)
        start = self.clock.now
        od = yield from self._hw_read_absorbance(idx, float(wavelength_nm))
        self._record("read_absorbance", wells=len(names), wavelength_nm=wavelength_nm)
        return AbsorbanceRead(names, float(wavelength_nm), od, start, self.clock.now)

    def read_absorbance_spectrum(self, wells: Sequence[str] | None = None, *, start_nm: float = 300.0,
                                 stop_nm: float = 600.0, step_nm: float = 5.0) -> Generator:
        """Absorbance scan ``start_nm``..``stop_nm`` in ``step_nm`` of ``wells``; returns an AbsorbanceSpectrumRead."""
        names, idx = self._ready(wells)
        _check_range("absorbance start_nm", start_nm, *ABSORBANCE_RANGE_NM)
        _check_range("absorbance stop_nm", stop_nm, *ABSORBANCE_RANGE_NM)
        wl = emission_grid(start_nm, stop_nm, step_nm)
        start = self.clock.now
        od = yield from self._hw_read_absorbance_spectrum(idx, wl)
        self._record("read_absorbance_spectrum", wells=len(names), wavelength_nm=[wl[0], wl[-1], len(wl)])
        return AbsorbanceSpectrumRead(names, wl, od, start, self.clock.now)
