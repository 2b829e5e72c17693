"""Well-to-well variability: small per-well random multipliers and failed wells, drawn once per plate.

The chemistry is deterministic given a :class:`PlateBatch`; the only randomness of the package is here and it
comes from a caller-supplied ``numpy.random.Generator`` so a seed reproduces a plate exactly.

Draws belong to the well's recipe, not to its seat (issue 21): one number is taken from the caller's Generator (the
run's seed), and each well gets its own Generator seeded from that number, a hash of its recipe key
(:func:`recipe_keys`, or keys the caller gives, e.g. from the plate map) and its replicate index among wells with
the same key. So two runs of the same plate map with the same seed fail the same recipes wherever they sit.

Scatter grows with the ligand excess (paper, Fig. 2 text: 1:30 "provided better reproducibility"): the sigmas of
what the nucleation burst sets (size, intensity, dispersion, peak offset) are multiplied by ``1 +
batch_scatter_ligand_excess * ligand_excess+``; the excess ligand solvates the ions "much more strongly, thereby
disintegrating the crystallized inorganic nuclei" (same text), a burst-time effect. The later kinetic rates keep
their scatter. The nominal mode (``LarpModel(well_scatter=False)``
or :meth:`PlateBatch.neutral`) has no scatter and no failed wells.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidAmountError
from .parameters import LarpParameters

N_NORMALS = 5  # size, rate, intensity, dispersion, peak offset
N_UNIFORMS = 2  # failed?, residual emission of a failed well


@dataclass(frozen=True, eq=False)
class PlateBatch:
    """Per-well variability (arrays shaped (n_wells,)); ``PlateBatch.neutral(n)`` changes nothing."""

    size_multiplier: np.ndarray  # multiplies the nanocrystal edge length
    rate_multiplier: np.ndarray  # multiplies every kinetic rate
    intensity_multiplier: np.ndarray  # multiplies the emitted intensity (pipetting, mixing, meniscus)
    dispersion_multiplier: np.ndarray  # multiplies the relative size dispersion
    peak_offset_eV: np.ndarray  # added to every emission energy
    failed: np.ndarray | None = None  # bool: a failed well (missed/clogged injection); None = none failed

    @property
    def n_wells(self) -> int:
        return int(self.size_multiplier.shape[0])

    @property
    def failed_wells(self) -> np.ndarray:
        """Indices of the failed wells."""
        return np.flatnonzero(self.failed) if self.failed is not None else np.zeros(0, dtype=int)

    @classmethod
    def neutral(cls, n_wells: int) -> "PlateBatch":
        """The nominal plate: every multiplier 1, no offset, no failed well."""
        one, zero = np.ones(n_wells), np.zeros(n_wells)
        return cls(one, one, one, one, zero, np.zeros(n_wells, dtype=bool))


def recipe_keys(recipes) -> list[str]:
    """One text key per well from its recipe (materials and amounts to 6 significant digits)."""
    cols = (recipes.cs_umol, recipes.pbbr2_umol, recipes.acid_umol, recipes.amine_umol, recipes.total_uL,
            recipes.dmf_uL, recipes.temperature_C)
    return [f"{s.name}|{a.name}|{m.name}|" + "|".join(f"{float(c[i]):.6g}" for c in cols)
            for i, (s, a, m) in enumerate(zip(recipes.antisolvent, recipes.acid, recipes.amine))]


def _unit_draws(keys: Sequence[str], run_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard normals (n, N_NORMALS) and uniforms (n, N_UNIFORMS) of each well, from its key and replicate index."""
    seen: dict[str, int] = {}
    normals = np.empty((len(keys), N_NORMALS))
    uniforms = np.empty((len(keys), N_UNIFORMS))
    for i, key in enumerate(keys):
        rep = seen.get(key, 0)
        seen[key] = rep + 1
        digest = hashlib.blake2b(str(key).encode(), digest_size=16).digest()
        words = np.frombuffer(digest, dtype=np.uint32).tolist()
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([run_seed, *words, rep])))
        normals[i] = g.standard_normal(N_NORMALS)
        uniforms[i] = g.random(N_UNIFORMS)
    return normals, uniforms


def sample_batch(n_wells: int, rng: np.random.Generator, params: LarpParameters, *,
                 keys: Sequence[str] | None = None, ligand_excess: np.ndarray | None = None,
                 can_fail: np.ndarray | None = None) -> PlateBatch:
    """Draw one plate's variability: log-normal multipliers, a normal peak offset and failed wells per well.

    keys: one recipe key per well (:func:`recipe_keys`, or the plate map's); default: the seat index (draws then
    follow positions). ligand_excess: per-well log2(acid per Pb / 1:30), widening the scatter; default 0.
    can_fail: bool per well, False where nothing can fail (no precursor: an empty seat); default all True.
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidAmountError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    if int(n_wells) != n_wells or n_wells < 0:
        raise InvalidAmountError(f"n_wells = {n_wells!r}; allowed: a non-negative integer")
    n = int(n_wells)
    if keys is None:
        keys = [f"seat:{i}" for i in range(n)]
    if len(keys) != n:
        raise InvalidAmountError(f"keys: {len(keys)} for {n} wells; allowed: one key per well")
    widen = np.ones(n) if ligand_excess is None else (
        1.0 + params.batch_scatter_ligand_excess * np.maximum(np.asarray(ligand_excess, dtype=np.float64), 0.0))
    if widen.shape != (n,):
        raise InvalidAmountError(f"ligand_excess: shape {widen.shape}; allowed ({n},)")
    run_seed = int(rng.integers(0, 2 ** 63))
    z, u = _unit_draws(keys, run_seed)
    lognormal = lambda sigma, j: np.exp(sigma * widen * z[:, j])  # noqa: E731  (median 1)
    intensity = lognormal(params.batch_intensity_sigma, 2)
    # failed wells (a missed/clogged injection): a few % of normal emission at most; 2 of 40 real CF wells
    failed = u[:, 0] < params.failed_well_rate
    if can_fail is not None:
        failed &= np.asarray(can_fail, dtype=bool)
    intensity = np.where(failed, 10.0 ** (-3.0 + 1.7 * u[:, 1]), intensity)
    return PlateBatch(
        size_multiplier=lognormal(params.batch_size_sigma, 0),
        rate_multiplier=np.exp(params.batch_rate_sigma * z[:, 1]),  # kinetics after the burst: not widened
        intensity_multiplier=intensity,
        dispersion_multiplier=lognormal(params.batch_dispersion_sigma, 3),
        peak_offset_eV=params.batch_peak_offset_meV * 1e-3 * widen * z[:, 4],
        failed=failed,
    )
