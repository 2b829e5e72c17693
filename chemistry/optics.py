"""Observation model: material state -> emission lines -> expected PL spectrum and absorbance on any grid.

Emission: up to three Gaussian lines in photon energy (free CsPbBr3 nanocrystals, CsPbBr3 inclusions in Cs4PbBr6,
platelets). Line energy from quantum confinement E(L) = E_bulk + A / L^p; line width from the size distribution
(dE/dL * sigma_L) combined in quadrature with homogeneous broadening, the Cs4PbBr6-related inhomogeneity and defects.
Amplitude = (excitation absorbed at 365 nm by that emitter) x (its quantum yield) x batch intensity multiplier, where
the absorbed share uses the emitters' optical densities and the total (including scattering by Cs4PbBr6 particles):
absorbed_i = OD_i / OD_total * (1 - 10^-OD_total). No noise: the reader twin adds it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .batch import PlateBatch
from .drivers import Drivers
from .kinetics import MaterialState, _column
from .parameters import LarpParameters

HC_EV_NM = 1239.841984
"""Planck constant x speed of light (eV nm): E[eV] = HC_EV_NM / wavelength[nm]."""
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
LN10 = np.log(10.0)


@dataclass(frozen=True, eq=False)
class EmissionLines:
    """Centre energy (eV), sigma (eV) and amplitude (relative units) of each line; arrays shaped like the ages."""

    nc_eV: np.ndarray
    nc_sigma_eV: np.ndarray
    nc_amplitude: np.ndarray
    embedded_eV: np.ndarray
    embedded_sigma_eV: np.ndarray
    embedded_amplitude: np.ndarray
    platelet_eV: np.ndarray
    platelet_sigma_eV: np.ndarray
    platelet_amplitude: np.ndarray
    qy: np.ndarray
    emissive_mM: np.ndarray

    def lines(self):
        """(energy, sigma, amplitude) of each line, in a fixed order."""
        return ((self.nc_eV, self.nc_sigma_eV, self.nc_amplitude),
                (self.embedded_eV, self.embedded_sigma_eV, self.embedded_amplitude),
                (self.platelet_eV, self.platelet_sigma_eV, self.platelet_amplitude))


def confinement_eV(edge_nm: np.ndarray, params: LarpParameters) -> np.ndarray:
    """Confinement energy A / L^p (eV) added to the bulk emission energy for an edge length L (nm)."""
    return params.confinement_eV_nm * np.power(edge_nm, -params.confinement_exponent)


def emission_energy_eV(edge_nm, params: LarpParameters, temperature_C=25.0) -> np.ndarray:
    """Emission peak energy (eV) of CsPbBr3 cubes of edge ``edge_nm`` (the sizing curve)."""
    return (params.bulk_emission_eV + confinement_eV(np.asarray(edge_nm, dtype=np.float64), params)
            + params.emission_dEdT_meV_per_K * 1e-3 * (np.asarray(temperature_C) - 25.0))


def fwhm_nm_from_energy(center_eV: np.ndarray, sigma_eV: np.ndarray) -> np.ndarray:
    """FWHM in nm of a Gaussian-in-energy line (exact half-maximum wavelengths)."""
    half = 0.5 * FWHM_PER_SIGMA * sigma_eV
    return HC_EV_NM / np.maximum(center_eV - half, 1e-6) - HC_EV_NM / (center_eV + half)


def emission_lines(material: MaterialState, drivers: Drivers, params: LarpParameters, batch: PlateBatch,
                   normalisation: float = 1.0) -> EmissionLines:
    """Centre, width and amplitude of every emission line for every well and age."""
    p = params
    nd = material.present.ndim
    col = lambda x: _column(np.asarray(x, dtype=np.float64), nd)  # noqa: E731
    temp_C = col(drivers.temperature_K - 273.15)
    offset = col(batch.peak_offset_eV)
    present = material.present
    edge = np.where(present, material.edge_nm, 1.0)
    edge_emb = np.where(present, material.embedded_edge_nm, 1.0)

    conf = confinement_eV(edge, p)
    shift_T = p.emission_dEdT_meV_per_K * 1e-3 * (temp_C - 25.0)
    nc_eV = p.bulk_emission_eV + conf + shift_T + offset
    sigma_size = p.confinement_exponent * conf * np.where(present, material.size_dispersion, 0.0)
    sigma_hom = p.homogeneous_fwhm_eV / FWHM_PER_SIGMA * (1.0 + p.homogeneous_per_K * (temp_C - 25.0))
    defect = np.where(present, material.defect_level, 0.0)
    # the surface/volume defect term (defect_surface_nm / L) only quenches (non-radiative); it does not broaden
    trap_defect = defect - p.defect_surface_nm / edge
    sigma_nc = np.sqrt(sigma_size ** 2 + sigma_hom ** 2 + (p.cs4pbbr6_broadening_eV * material.f_cs4pbbr6
                       / np.maximum(material.f_cs4pbbr6 + material.f_cspbbr3, 1e-12)) ** 2
                       + (p.defect_broadening_eV * trap_defect) ** 2)
    emb_eV = p.bulk_emission_eV + confinement_eV(edge_emb, p) + shift_T + offset
    sigma_emb = np.broadcast_to(p.embedded_fwhm_eV / FWHM_PER_SIGMA * (1.0 + p.homogeneous_per_K * (temp_C - 25.0)),
                                present.shape)
    pl_center = HC_EV_NM / p.platelet_peak_nm
    pl_sigma = (HC_EV_NM / (p.platelet_peak_nm - p.platelet_fwhm_nm / 2)
                - HC_EV_NM / (p.platelet_peak_nm + p.platelet_fwhm_nm / 2)) / FWHM_PER_SIGMA
    pl_eV = pl_center + shift_T + offset + np.zeros(present.shape)

    units = col(drivers.units_mM)
    c_nc = material.f_cspbbr3 * units
    c_emb = material.f_embedded * units
    c_pl = material.f_platelet * units
    od_nc, od_emb, od_pl = (p.excitation_od_per_mM * c for c in (c_nc, c_emb, c_pl))
    od_total = od_nc + od_emb + od_pl + p.scatter_od_per_mM * (material.f_cs4pbbr6 - material.f_embedded) * units
    small = od_total < 1e-8
    absorbed_per_od = np.where(small, LN10, -np.expm1(-LN10 * od_total) / np.where(small, 1.0, od_total))
    qy = np.where(present, p.qy_max * np.exp(-defect), 0.0)
    gain = absorbed_per_od * col(batch.intensity_multiplier) / normalisation
    return EmissionLines(
        nc_eV=nc_eV, nc_sigma_eV=sigma_nc, nc_amplitude=od_nc * qy * gain,
        embedded_eV=emb_eV, embedded_sigma_eV=np.array(sigma_emb), embedded_amplitude=od_emb * p.embedded_qy * gain,
        platelet_eV=pl_eV, platelet_sigma_eV=np.full(present.shape, pl_sigma),
        platelet_amplitude=od_pl * qy * p.platelet_qy_relative * gain,
        qy=qy, emissive_mM=c_nc + c_emb + c_pl,
    )


NEGLIGIBLE_AMPLITUDE = 1e-9
"""Lines weaker than this (relative units, reference well = 1) are not rendered: exactly invisible at any gain."""
_Z_CUT = 6.5  # |E - centre| / (sqrt(2) sigma) beyond which a Gaussian is < 5e-19 of its peak
_ROWS_PER_CHUNK = 256  # rows per block: ~250 kB work arrays stay in cache; narrow wavelength windows
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """A small shared thread pool (numpy releases the GIL inside ufunc loops)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                       thread_name_prefix="chemistry-render")
    return _executor


def render_emission(lines: EmissionLines, wavelength_nm: np.ndarray) -> np.ndarray:
    """Sum of the Gaussian-in-energy lines on the wavelength grid -> array (*ages.shape, n_wavelengths).

    Rows (well x age) are rendered in cache-sized chunks, on a few threads for large plates; a line is evaluated
    only in the rows where its amplitude exceeds :data:`NEGLIGIBLE_AMPLITUDE` (most wells have one bright line).
    """
    energy = HC_EV_NM / np.asarray(wavelength_nm, dtype=np.float64)
    shape = lines.nc_eV.shape
    n_rows = int(np.prod(shape))
    out = np.zeros((n_rows, energy.size))
    flat = [(c.reshape(-1), (1.0 / (np.sqrt(2.0) * np.maximum(s, 1e-9))).reshape(-1), a.reshape(-1))
            for c, s, a in lines.lines()]

    def render_rows(start: int, stop: int) -> None:
        block = out[start:stop]
        work = np.empty_like(block)
        for center, inv, amplitude in flat:
            amp = amplitude[start:stop]
            rows = np.flatnonzero(amp > NEGLIGIBLE_AMPLITUDE)
            if rows.size == 0:
                continue
            whole = rows.size == amp.size
            pick = slice(start, stop) if whole else rows + start
            c, k = center[pick], inv[pick]
            # columns where any of these rows is above exp(-_Z_CUT^2) ~ 1e-18 of its peak; the rest is exactly 0
            half_width = _Z_CUT / k
            cols = np.flatnonzero((energy >= (c - half_width).min()) & (energy <= (c + half_width).max()))
            if cols.size == 0:
                continue
            j0, j1 = cols[0], cols[-1] + 1
            w = work[: rows.size, : j1 - j0]
            np.subtract(energy[j0:j1], c[:, None], out=w)
            w *= k[:, None]
            np.square(w, out=w)
            np.negative(w, out=w)
            np.exp(w, out=w)
            w *= amplitude[pick][:, None]
            if whole:
                block[:, j0:j1] += w
            else:
                block[rows, j0:j1] += w

    starts = range(0, n_rows, _ROWS_PER_CHUNK)
    if n_rows * energy.size < 200_000 or (os.cpu_count() or 1) == 1:
        for s0 in starts:
            render_rows(s0, min(s0 + _ROWS_PER_CHUNK, n_rows))
    else:
        list(_pool().map(lambda s0: render_rows(s0, min(s0 + _ROWS_PER_CHUNK, n_rows)), starts))
    return out.reshape(shape + energy.shape)


def render_absorbance(material: MaterialState, lines: EmissionLines, drivers: Drivers, params: LarpParameters,
                      wavelength_nm: np.ndarray, path_length_cm: float | None = None) -> np.ndarray:
    """Expected optical density through the liquid column -> array (*ages.shape, n_wavelengths).

    CsPbBr3 (free, embedded, platelets): continuum step at the band edge (emission energy + Stokes shift) plus an
    excitonic Gaussian there; Cs4PbBr6: band at ~3.9 eV (314 nm) with its continuum; a (lambda/400 nm)^-4
    scattering tail from Cs4PbBr6 particles. Path length = well volume / well area unless given.
    """
    p = params
    nd = material.present.ndim
    col = lambda x: _column(np.asarray(x, dtype=np.float64), nd)  # noqa: E731
    energy = HC_EV_NM / wavelength_nm
    units_M = col(drivers.units_mM) * 1e-3
    path_cm = col(_path_cm(drivers, p) if path_length_cm is None else np.full(drivers.volume_uL.shape, path_length_cm))
    od = np.zeros(material.present.shape + energy.shape)
    for fraction, center, sigma in ((material.f_cspbbr3, lines.nc_eV, lines.nc_sigma_eV),
                                    (material.f_embedded, lines.embedded_eV, lines.embedded_sigma_eV),
                                    (material.f_platelet, lines.platelet_eV, lines.platelet_sigma_eV)):
        if not np.any(fraction > 0):
            continue
        edge = (center + p.stokes_shift_eV)[..., None]
        s = np.maximum(sigma, 1e-3)[..., None]
        z = (energy - edge) / s
        shape = p.absorption_per_M_cm / (1.0 + np.exp(-z)) + p.exciton_absorption_per_M_cm * np.exp(-0.5 * z * z)
        od += shape * (fraction * units_M * path_cm)[..., None]
    host = (material.f_cs4pbbr6 * units_M * path_cm)[..., None]
    if np.any(host > 0):
        z46 = (energy - p.cs4pbbr6_band_eV) / p.cs4pbbr6_band_sigma_eV
        od += host * p.cs4pbbr6_absorption_per_M_cm * (np.exp(-0.5 * z46 * z46) + 0.5 / (1.0 + np.exp(-z46)))
        od += host * p.scatter_per_M_cm * (wavelength_nm / 400.0) ** -4
    return od


def _path_cm(drivers: Drivers, params: LarpParameters) -> np.ndarray:
    """Liquid height in cm (well volume / bottom area)."""
    return drivers.volume_uL * 1e-3 / params.well_area_cm2
