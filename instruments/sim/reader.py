"""SimPlateReader: a Cytation 5 twin whose spectra come from the chemistry model, with the reader's timing and noise.

The twin is the only place where chemistry's expected emission becomes counts: gain, shot noise, dark baseline,
integer RFU and saturation (Gen5's ``OVRFLW``, NaN here).
"""

from __future__ import annotations

from typing import Generator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from chemistry import LarpModel
from instruments.labware import Labware
from instruments.reader import PlateReader
from instruments.sim.plate_recipes import recipes_from_plate


class ReaderTiming(BaseModel):
    """Cytation 5 timing figures (seconds).

    An emission scan in sweep mode steps the emission monochromator through the wavelengths and, at each one, sweeps
    the carrier under the optics past every selected well, so

        scan_s = read_overhead_s + n_wavelengths * (per_wavelength_s + per_well_per_wavelength_s * n_wells)

    Where the numbers come from (``shared/reference/cytation_facts.md`` 1.8, ``real_data/README.md``):

    - ``read_overhead_s`` = 11 s: the fixed part of a Gen5 sweep-mode read measured on a Cytation 5 (Gen5 path,
      96-well absorbance endpoints at 2/4/6 wavelengths: 31.3/52.2/71.2 s).
    - The lab's own record of this workflow is authoritative for emission scans: 40 wells x 126 wavelengths
      (400-650 nm, 2 nm) took ~7 min, 103 back-to-back reads in 12 h (chloroform notebook: ``number_of_reads =
      103``, ``time_step = 7``). So one wavelength of a 40-well sweep costs (420 - 11) / 126 = 3.25 s.
    - That total is split into a monochromator step of 0.5 s per wavelength (an assumption: a 2 nm grating step
      plus settling; the record fixes only the sum) and 0.0686 s per well, solved from the 3.25 s above.

    Result: 40 wells x 126 wavelengths = 7.0 min (103 reads in 12 h back to back); a full 96-well plate 15.1 min
    (48 reads); 4 wells 1.8 min. The measured absorbance figures (~10 s per wavelength on a full plate) are slower
    than this emission model predicts (7.1 s); absorbance reads keep their own measured figure
    (``absorbance_per_wavelength_s``).
    """

    model_config = ConfigDict(extra="forbid")
    read_overhead_s: float = Field(11.0, ge=0, description="fixed time per read (measured, Gen5 sweep mode)")
    per_wavelength_s: float = Field(0.5, ge=0, description="emission monochromator step per wavelength (assumed)")
    per_well_per_wavelength_s: float = Field(0.0686, ge=0, description="per well and wavelength; with the step, "
                                             "fits the lab's 40 wells x 126 wavelengths in ~7 min")
    absorbance_per_wavelength_s: float = Field(10.0, ge=0)
    tray_open_s: float = Field(1.5, ge=0)
    tray_close_s: float = Field(6.0, ge=0)
    heating_C_per_min: float = Field(1.0, gt=0)

    def scan_s(self, n_wells: int, n_wavelengths: int) -> float:
        """Duration of one emission scan."""
        return self.read_overhead_s + n_wavelengths * (self.per_wavelength_s
                                                       + self.per_well_per_wavelength_s * n_wells)

    def absorbance_scan_s(self, n_wavelengths: int) -> float:
        """Duration of one absorbance read of ``n_wavelengths`` (1 = an endpoint): the measured Gen5 sweep-mode
        figures, ~11 s fixed + ~10 s per wavelength for a full plate (``cytation_facts.md`` 1.8); a 300-600/5 nm
        scan (61 points) takes ~10.4 min."""
        return self.read_overhead_s + n_wavelengths * self.absorbance_per_wavelength_s


class ReaderNoise(BaseModel):
    """Detector model: RFU per unit of chemistry emission at gain 100, PMT gain law, shot noise, dark counts."""

    model_config = ConfigDict(extra="forbid")
    rfu_per_unit: float = Field(40_000.0, gt=0, description="RFU of the reference bright well's peak at gain 100")
    gain_exponent: float = Field(3.0, description="RFU scale ~ (gain/100)**gain_exponent (PMT voltage law)")
    rfu_per_photoelectron: float = Field(2.0, gt=0, description="at gain 100; sets the shot noise")
    dark_rfu: float = Field(8.0, ge=0, description="mean dark baseline (paper's blank wells: 0-20 RFU)")
    dark_sd_rfu: float = Field(3.0, ge=0)
    saturation_rfu: float = Field(99_999.0, gt=0, description="standard dynamic range ceiling -> OVRFLW")
    od_sd: float = Field(0.002, ge=0)
    od_max: float = Field(4.0, gt=0, description="absorbance ceiling (~4.0 OD measured)")


#: how long each injected reader fault takes before it surfaces (s): a serial timeout, a refusal, a bad frame.
FAULT_DELAY_S = {"reader_timeout": 20.0, "read_refused": 0.1, "garbled_frame": 16.0}


class SimPlateReader(PlateReader):
    """The Cytation 5 twin.

    ``faults``: an optional fault injector (``twin.faults.FaultInjector``, duck-typed) consulted at every PL read
    (``reader_timeout``, ``read_refused``, ``garbled_frame``: raised after the time the real unit takes to fail),
    every tray move (``tray_jam``) and every ``current_temperature_C()`` (``temperature_excursion``).  The
    excursion shows only in the reported temperature; the chemistry keeps the set-point.
    """

    def __init__(self, clock, *, model: LarpModel | None = None, rng: np.random.Generator | None = None,
                 timing: ReaderTiming | None = None, noise: ReaderNoise | None = None, faults=None):
        super().__init__(clock)
        self.faults = faults
        self.model = model or LarpModel()
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.timing = timing or ReaderTiming()
        self.noise = noise or ReaderNoise()
        self._batch = None
        self.well_keys: dict[str, str] = {}  # well -> nominal recipe key (plate map); see chemistry.batch
        self._recipes_key = None
        self._recipes = None

    def _on_plate_loaded(self, plate: Labware) -> None:
        # Well-to-well batch variability is a property of the plate, drawn once when it arrives.
        # Draws follow each well's recipe (``well_keys``: well -> plate-map recipe key, set by the Lab), not its seat.
        self._recipes_key = None
        keys = None
        if self.well_keys:
            keys = [self.well_keys.get(w, f"seat:{w}") for w in plate.wells]
        self._batch = self.model.sample_batch(plate.n_wells, self.rng, recipes=self.recipes(), keys=keys)

    def failed_wells(self) -> list[str]:
        """Wells of the loaded plate that failed (a missed/clogged injection: they never light up); [] if none."""
        if self._batch is None or self.plate is None:
            return []
        return [self.plate.wells[i] for i in self._batch.failed_wells]

    def recipes(self):
        """Recipes of the loaded plate (cached: contents do not change while the plate is in the reader)."""
        key = (id(self.plate), self.temperature_C)
        if key != self._recipes_key:
            self._recipes = recipes_from_plate(self.plate, self.temperature_C)
            self._recipes_key = key
        return self._recipes

    def _hw_open_tray(self) -> Generator:
        yield self.clock.timeout(self.timing.tray_open_s)
        if self.faults is not None:
            self.faults.fire("tray_jam", self.clock.now, move="out")

    def _hw_close_tray(self) -> Generator:
        yield self.clock.timeout(self.timing.tray_close_s)
        if self.faults is not None:
            self.faults.fire("tray_jam", self.clock.now, move="in")

    def current_temperature_C(self) -> float:
        """The incubator's reported temperature: the set-point, plus any injected excursion."""
        if self.faults is None:
            return self.temperature_C
        hit = self.faults.fire("temperature_excursion", self.clock.now)
        return self.temperature_C + self.faults.temperature_offset_C(self.clock.now) + (hit.delta_C if hit else 0.0)

    def _read_faults(self) -> Generator:
        for kind, delay_s in FAULT_DELAY_S.items():
            try:
                self.faults.fire(kind, self.clock.now)
            except Exception:
                yield self.clock.timeout(delay_s)
                raise

    def _hw_set_temperature(self, celsius: float) -> Generator:
        yield self.clock.timeout(abs(celsius - self.temperature_C) / self.timing.heating_C_per_min * 60.0)

    def _ages_min(self, at_s: float) -> np.ndarray:
        return (at_s - self.plate.injected_at_s) / 60.0

    def expected_emission(self, at_s: float, wavelength_nm: np.ndarray) -> np.ndarray:
        """Noise-free chemistry emission of every well of the loaded plate at campaign time ``at_s``."""
        return self.model.spectra(self.recipes(), self._ages_min(at_s), wavelength_nm, batch=self._batch)

    def _hw_read_pl(self, wells: np.ndarray, excitation_nm: float, wavelength_nm: np.ndarray,
                    gain: int) -> Generator:
        if self.faults is not None:
            yield from self._read_faults()
        duration = self.timing.scan_s(len(wells), len(wavelength_nm))
        mid = self.clock.now + duration / 2
        expected = self.expected_emission(mid, wavelength_nm)[wells]
        if excitation_nm != 365.0:  # emission scales with the light absorbed at the excitation wavelength
            recipes = self.recipes()
            ages = self._ages_min(mid)
            od = self.model.absorbance(recipes, ages, np.array([excitation_nm, 365.0]), batch=self._batch)[wells]
            ratio = (1 - 10 ** -od[:, 0]) / np.maximum(1 - 10 ** -od[:, 1], 1e-12)
            expected = expected * ratio[:, None]
        yield self.clock.timeout(duration)
        return self.detect(expected, gain)

    def detect(self, expected: np.ndarray, gain: int) -> np.ndarray:
        """Expected emission -> RFU: gain, shot noise, dark baseline, integer rounding, overflow as NaN."""
        n = self.noise
        g = (gain / 100.0) ** n.gain_exponent
        signal = np.clip(expected, 0, None) * n.rfu_per_unit * g
        shot_sd = np.sqrt(signal * n.rfu_per_photoelectron * g)
        rfu = signal + shot_sd * self.rng.standard_normal(signal.shape)
        rfu += n.dark_rfu + n.dark_sd_rfu * self.rng.standard_normal(signal.shape)
        rfu = np.rint(np.clip(rfu, 0, None))
        rfu[rfu >= n.saturation_rfu] = np.nan
        return rfu

    def _hw_read_absorbance(self, wells: np.ndarray, wavelength_nm: float) -> Generator:
        od = yield from self._hw_read_absorbance_spectrum(wells, np.array([wavelength_nm], float))
        return od[:, 0]

    def _hw_read_absorbance_spectrum(self, wells: np.ndarray, wavelength_nm: np.ndarray) -> Generator:
        """Chemistry absorbance at the scan's midpoint, plus OD noise, rounded to 4 decimals (Gen5's OD digits);
        at or above ``od_max`` NaN (Gen5's ``OVRFLW``)."""
        duration = self.timing.absorbance_scan_s(len(wavelength_nm))
        mid = self.clock.now + duration / 2
        recipes = self.recipes()
        od = self.model.absorbance(recipes, self._ages_min(mid), np.asarray(wavelength_nm, float),
                                   batch=self._batch)[wells]
        od = od + self.noise.od_sd * self.rng.standard_normal(od.shape)
        yield self.clock.timeout(duration)
        od = np.round(od, 4)
        od[od >= self.noise.od_max] = np.nan
        return od
