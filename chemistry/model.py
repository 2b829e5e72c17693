"""LarpModel: recipes + ages -> state, expected PL spectra and absorbance, for all wells and times in one call.

The model is pure: no clock, no instrument, no hidden randomness. Per-plate variability enters only through a
:class:`~chemistry.batch.PlateBatch` drawn by :meth:`LarpModel.sample_batch` from a caller's Generator.
Intensity unit: 1.0 = t = 0 peak height of the reference bright well (toluene, OAc:OLAm 1:0.1, 1:30, standard volumes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .batch import PlateBatch, recipe_keys, sample_batch
from .drivers import compute_drivers
from .errors import InvalidAmountError
from .features import spectral_features
from .kinetics import material_state
from .optics import (HC_EV_NM, EmissionLines, emission_lines, fwhm_nm_from_energy, render_absorbance,
                     render_emission)
from .parameters import LarpParameters
from .recipes import WellRecipes
from .standard import reference_recipe


@dataclass(frozen=True, eq=False)
class LarpState:
    """State of every well at every age; each field is a float array shaped like ``age_min``.

    Fractions are of the perovskite-forming units min(Cs, Pb); they are all 0 where no precursor is in the well
    (empty well, or not yet injected), and size/peak fields are NaN there.
    """

    age_min: np.ndarray
    f_cspbbr3: np.ndarray  # free, emissive CsPbBr3 nanocrystals
    f_cs4pbbr6: np.ndarray  # Cs-rich Cs4PbBr6 (non-emissive host, includes f_embedded)
    f_embedded: np.ndarray  # CsPbBr3 inclusions in Cs4PbBr6 (weak green emission)
    f_platelet: np.ndarray  # low-dimensional platelets
    f_dissolved: np.ndarray  # precursor in solution (not crystallised, or decomposed)
    edge_nm: np.ndarray  # mean edge length of the free nanocrystals
    size_dispersion: np.ndarray  # relative sigma of the edge length
    defect_level: np.ndarray  # surface defects; qy = qy_max * exp(-defect_level)
    qy: np.ndarray  # PL quantum yield of the free nanocrystals
    peak_nm: np.ndarray  # centre of the strongest emission line
    fwhm_nm: np.ndarray  # FWHM of the strongest emission line
    nc_peak_nm: np.ndarray  # centre of the free-nanocrystal line
    nc_fwhm_nm: np.ndarray  # FWHM of the free-nanocrystal line
    emissive_amount: np.ndarray  # emissive CsPbBr3 units (free + embedded + platelets), mM in the well
    pl_height: np.ndarray  # expected emission at peak_nm, relative units (reference well t=0 = 1)


class LarpModel:
    """Phenomenological LARP model of CsPbBr3 nanocrystals (Sanchez et al., Matter 2023), calibrated by default."""

    def __init__(self, params: LarpParameters | None = None, *, well_scatter: bool = True):
        """``well_scatter=False``: the nominal model; :meth:`sample_batch` returns a neutral batch (identical wells, no
        failed wells; for planning and teaching)."""
        self.params = params if params is not None else LarpParameters.calibrated()
        self.well_scatter = bool(well_scatter)
        self._normalisation = 1.0
        self._normalisation = self._reference_height()

    # ------------------------------------------------------------------ public API
    def sample_batch(self, n_wells: int, rng: np.random.Generator, *, recipes: WellRecipes | None = None,
                     keys=None) -> PlateBatch:
        """Per-well variability and failed wells, drawn once per plate from ``rng`` (see :mod:`chemistry.batch`).

        recipes: the wells' recipes; their ligand excess widens the scatter, and they give the default keys.
        keys: one recipe key per well (e.g. from the plate map), so the draws follow recipes, not seats; without
        keys or recipes the draws follow the seat index. Nominal (a neutral batch: no scatter, no failed wells)
        when the model was built with ``well_scatter=False``.
        """
        if not self.well_scatter:
            return PlateBatch.neutral(int(n_wells))
        excess = can_fail = None
        if recipes is not None:
            if recipes.n_wells != n_wells:
                raise InvalidAmountError(f"recipes: {recipes.n_wells} wells, n_wells {n_wells}")
            drivers = compute_drivers(recipes, self.params)
            excess, can_fail = drivers.ligand_excess, drivers.has_precursor
            if keys is None:
                keys = recipe_keys(recipes)
        return sample_batch(n_wells, rng, self.params, keys=keys, ligand_excess=excess, can_fail=can_fail)

    def state(self, recipes: WellRecipes, age_min, batch: PlateBatch | None = None) -> LarpState:
        """State for every well at every age.

        age_min: minutes since precursor injection; scalar, (n_wells,) or (n_wells, n_times) (any trailing shape);
        NaN or negative = not yet injected (dark). Returns a :class:`LarpState` of arrays shaped like ``age_min``
        (a scalar age gives (n_wells,)).
        """
        ages, material, lines = self._evaluate(recipes, age_min, batch)
        peak_eV, peak_sigma, height = _strongest_line(lines)
        present = material.present
        nan = np.nan
        nc_peak = np.where(present, HC_EV_NM / lines.nc_eV, nan)
        return LarpState(
            age_min=ages,
            f_cspbbr3=material.f_cspbbr3, f_cs4pbbr6=material.f_cs4pbbr6, f_embedded=material.f_embedded,
            f_platelet=material.f_platelet, f_dissolved=material.f_dissolved, edge_nm=material.edge_nm,
            size_dispersion=material.size_dispersion, defect_level=material.defect_level, qy=lines.qy,
            peak_nm=np.where(present, HC_EV_NM / peak_eV, nan),
            fwhm_nm=np.where(present, fwhm_nm_from_energy(peak_eV, peak_sigma), nan),
            nc_peak_nm=nc_peak,
            nc_fwhm_nm=np.where(present, fwhm_nm_from_energy(lines.nc_eV, lines.nc_sigma_eV), nan),
            emissive_amount=lines.emissive_mM, pl_height=height,
        )

    def spectra(self, recipes: WellRecipes, age_min, wavelength_nm, batch: PlateBatch | None = None) -> np.ndarray:
        """Expected (noise-free, non-negative) PL emission, float64 array (*age_min.shape, n_wavelengths)."""
        wl = _wavelengths(wavelength_nm)
        _, _, lines = self._evaluate(recipes, age_min, batch)
        return render_emission(lines, wl)

    def absorbance(self, recipes: WellRecipes, age_min, wavelength_nm, batch: PlateBatch | None = None, *,
                   path_length_cm: float | None = None) -> np.ndarray:
        """Expected optical density, float64 array (*age_min.shape, n_wavelengths).

        path_length_cm: optical path; default None = the liquid column of each well (volume / well area, ~0.8 cm
        for 266 uL in a 96-well plate, where the undiluted reference well reaches OD ~4.7 below 450 nm).
        """
        wl = _wavelengths(wavelength_nm)
        if path_length_cm is not None and not (np.isfinite(path_length_cm) and path_length_cm > 0):
            raise InvalidAmountError(f"path_length_cm = {path_length_cm!r}; allowed: finite and > 0, or None")
        _, material, lines = self._evaluate(recipes, age_min, batch)
        drivers = compute_drivers(recipes, self.params)
        return render_absorbance(material, lines, drivers, self.params, wl, path_length_cm)

    # ------------------------------------------------------------------ internals
    def _evaluate(self, recipes: WellRecipes, age_min, batch: PlateBatch | None):
        if not isinstance(recipes, WellRecipes):
            raise InvalidAmountError(f"recipes: expected WellRecipes, got {type(recipes).__name__}")
        n = recipes.n_wells
        ages = _ages(age_min, n)
        if batch is None:
            batch = PlateBatch.neutral(n)
        elif batch.n_wells != n:
            raise InvalidAmountError(f"batch: drawn for {batch.n_wells} wells, recipes have {n}")
        drivers = compute_drivers(recipes, self.params)
        material = material_state(drivers, ages, self.params, batch)
        lines = emission_lines(material, drivers, self.params, batch, self._normalisation)
        return ages, material, lines

    def _reference_height(self) -> float:
        """t = 0 peak height of the reference bright well, in the model's raw units."""
        grid = np.arange(480.0, 560.0, 0.02)
        raw = self.spectra(reference_recipe(), 0.0, grid)
        height = float(spectral_features(grid, raw).height[0])
        if not height > 0:
            raise InvalidAmountError("parameters give a dark reference well; cannot normalise intensities")
        return height


def _strongest_line(lines: EmissionLines):
    """Centre, sigma and summed height at the centre of the line with the largest amplitude."""
    candidates = lines.lines()
    amps = np.stack([a for _, _, a in candidates])
    best = np.argmax(amps, axis=0)
    center = np.choose(best, [c for c, _, _ in candidates])
    sigma = np.choose(best, [s for _, s, _ in candidates])
    height = sum(a * np.exp(-0.5 * ((center - c) / np.maximum(s, 1e-9)) ** 2) for c, s, a in candidates)
    return center, sigma, height


def _ages(age_min, n_wells: int) -> np.ndarray:
    """Validated float64 ages with wells on the first axis (scalars broadcast to (n_wells,))."""
    try:
        ages = np.array(age_min, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(f"age_min: not numeric ({exc})") from None
    if ages.ndim == 0:
        ages = np.full(n_wells, float(ages))
    elif ages.shape[0] == 1 and n_wells != 1:
        ages = np.broadcast_to(ages, (n_wells,) + ages.shape[1:]).copy()
    elif ages.shape[0] != n_wells:
        raise InvalidAmountError(f"age_min: first axis has {ages.shape[0]} entries, expected {n_wells} (one per well)")
    if np.isposinf(ages).any():
        i = np.unravel_index(int(np.flatnonzero(np.isposinf(ages))[0]), ages.shape)
        raise InvalidAmountError(f"age_min{list(i)} = inf; allowed: finite minutes, or NaN/negative for not injected")
    return ages


def _wavelengths(wavelength_nm) -> np.ndarray:
    try:
        wl = np.asarray(wavelength_nm, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(f"wavelength_nm: not numeric ({exc})") from None
    if wl.ndim != 1 or wl.size == 0:
        raise InvalidAmountError(f"wavelength_nm: expected a non-empty 1-D grid, got shape {wl.shape}")
    bad = ~np.isfinite(wl) | (wl <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidAmountError(f"wavelength_nm[{i}] = {wl[i]!r}; allowed: finite and > 0 nm")
    return wl


STATE_FIELDS = tuple(f.name for f in fields(LarpState))
