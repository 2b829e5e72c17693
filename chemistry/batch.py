"""Batch-to-batch variability: small per-well random multipliers drawn once per plate.

The chemistry is deterministic given a :class:`PlateBatch`; the only randomness of the package is here and it
comes from a caller-supplied ``numpy.random.Generator`` so a seed reproduces a plate exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidAmountError
from .parameters import LarpParameters


@dataclass(frozen=True, eq=False)
class PlateBatch:
    """Per-well variability (arrays shaped (n_wells,)); ``PlateBatch.neutral(n)`` changes nothing."""

    size_multiplier: np.ndarray  # multiplies the nanocrystal edge length
    rate_multiplier: np.ndarray  # multiplies every kinetic rate
    intensity_multiplier: np.ndarray  # multiplies the emitted intensity (pipetting, mixing, meniscus)
    dispersion_multiplier: np.ndarray  # multiplies the relative size dispersion
    peak_offset_eV: np.ndarray  # added to every emission energy

    @property
    def n_wells(self) -> int:
        return int(self.size_multiplier.shape[0])

    @classmethod
    def neutral(cls, n_wells: int) -> "PlateBatch":
        one, zero = np.ones(n_wells), np.zeros(n_wells)
        return cls(one, one, one, one, zero)


def sample_batch(n_wells: int, rng: np.random.Generator, params: LarpParameters) -> PlateBatch:
    """Draw one plate's variability: log-normal multipliers and a normal peak offset per well."""
    if not isinstance(rng, np.random.Generator):
        raise InvalidAmountError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    if int(n_wells) != n_wells or n_wells < 0:
        raise InvalidAmountError(f"n_wells = {n_wells!r}; allowed: a non-negative integer")
    n = int(n_wells)
    lognormal = lambda sigma: np.exp(sigma * rng.standard_normal(n))  # noqa: E731  (median 1)
    size, rate, intensity = (lognormal(params.batch_size_sigma), lognormal(params.batch_rate_sigma),
                             lognormal(params.batch_intensity_sigma))
    # failed wells (a missed/clogged injection): a few % of normal emission at most; 2 of 40 real CF wells
    failed = rng.random(n) < params.failed_well_rate
    intensity = np.where(failed, 10.0 ** rng.uniform(-3.0, -1.3, n), intensity)
    return PlateBatch(
        size_multiplier=size,
        rate_multiplier=rate,
        intensity_multiplier=intensity,
        dispersion_multiplier=lognormal(params.batch_dispersion_sigma),
        peak_offset_eV=params.batch_peak_offset_meV * 1e-3 * rng.standard_normal(n),
    )
