"""Per-well recipes: validated at the edge, then plain numpy arrays of amounts and material properties.

A :class:`WellRecipes` holds one entry per well. It is built from what a pipetting robot dispenses
(:meth:`WellRecipes.from_volumes`) or from explicit in-well concentrations
(:meth:`WellRecipes.from_concentrations`). Everything downstream (kinetics, optics) reads only the
numeric arrays exposed here, so names are resolved and checked exactly once.

Stocks (paper, Experimental procedures): Cs-oleate 0.0163 g Cs2CO3 + 200 uL acid in 20 mL antisolvent
(~5 mM Cs); PbBr2 0.184 g in 10 mL DMF (50 mM). Ligands are dispensed neat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidAmountError
from .materials import Ligand, Solvent, find_acid, find_amine, find_solvent

CS_STOCK_mM = 5.0
"""Cs concentration of the Cs-oleate stock in the antisolvent (paper: 0.0163 g Cs2CO3 in 20 mL -> 5.0 mM Cs)."""
PBBR2_STOCK_mM = 50.0
"""PbBr2 concentration of the DMF precursor stock (paper: 0.184 g in 10 mL DMF -> 50 mM)."""
TEMPERATURE_RANGE_C = (-20.0, 110.0)
"""Temperatures the model accepts (liquid range of the antisolvents, loosely)."""


def _names(values: str | Sequence[object], n: int | None, field_name: str, finder) -> tuple[object, ...]:
    """Resolve a name or a sequence of names to table rows, naming the field and index on failure."""
    if isinstance(values, (str, Solvent, Ligand)):
        values = [values] * (n if n is not None else 1)
    rows = tuple(finder(v, field_name, i) for i, v in enumerate(values))
    if n is not None and len(rows) != n:
        raise InvalidAmountError(f"{field_name}: has {len(rows)} entries, expected {n} (one per well)")
    return rows


def _amounts(values: object, n: int | None, field_name: str, allow_zero: bool = True) -> np.ndarray:
    """A float64 (n,) array of a non-negative finite amount; scalars broadcast to every well."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(f"{field_name}: not numeric ({exc})") from None
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise InvalidAmountError(f"{field_name}: expected a scalar or a 1-D array (one value per well), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidAmountError(f"{field_name}: has {arr.shape[0]} entries, expected {n} (one per well)")
    bad = ~np.isfinite(arr) | (arr < 0) | (~allow_zero & (arr == 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        allowed = "finite and > 0" if not allow_zero else "finite and >= 0"
        raise InvalidAmountError(f"{field_name}[{i}] = {arr[i]!r} is not allowed; values must be {allowed}")
    return arr


def _temperature(values: object, n: int) -> np.ndarray:
    """A float64 (n,) array of well temperatures within :data:`TEMPERATURE_RANGE_C`."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(f"temperature_C: not numeric ({exc})") from None
    arr = np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 or arr.shape == (n,) else arr
    if arr.shape != (n,):
        raise InvalidAmountError(f"temperature_C: expected a scalar or {n} values (one per well), got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < TEMPERATURE_RANGE_C[0]) | (arr > TEMPERATURE_RANGE_C[1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidAmountError(f"temperature_C[{i}] = {arr[i]!r} is outside the allowed range {TEMPERATURE_RANGE_C} C")
    return arr


@dataclass(frozen=True, eq=False)
class WellRecipes:
    """What is in each well once the precursor has been injected (all arrays shaped (n_wells,)).

    Amounts are in umol, volumes in uL. Use the constructors; they validate and resolve names.
    """

    antisolvent: tuple[Solvent, ...]
    acid: tuple[Ligand, ...]
    amine: tuple[Ligand, ...]
    cs_umol: np.ndarray
    pbbr2_umol: np.ndarray
    acid_umol: np.ndarray
    amine_umol: np.ndarray
    total_uL: np.ndarray
    dmf_uL: np.ndarray
    temperature_C: np.ndarray

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_volumes(cls, antisolvent: str | Sequence[str], antisolvent_uL, cs_uL, pbbr2_uL,
                     acid: str | Sequence[str], acid_uL, amine: str | Sequence[str], amine_uL,
                     temperature_C=25.0, *, cs_stock_mM: float = CS_STOCK_mM,
                     pbbr2_stock_mM: float = PBBR2_STOCK_mM) -> "WellRecipes":
        """Recipes from dispensed volumes (uL per well; scalars broadcast).

        antisolvent_uL: neat antisolvent; cs_uL: Cs-oleate stock (in the same antisolvent); pbbr2_uL: PbBr2 in DMF;
        acid_uL / amine_uL: neat ligand that reached the well. pbbr2_uL == 0 is a valid, physically empty (dark) well.
        Raises ChemistryError subclasses naming the field, the offending index and the allowed values.
        """
        n = _well_count(antisolvent_uL, cs_uL, pbbr2_uL, acid_uL, amine_uL, antisolvent, acid, amine)
        solvents = _names(antisolvent, n, "antisolvent", find_solvent)
        acids = _names(acid, n, "acid", find_acid)
        amines = _names(amine, n, "amine", find_amine)
        v_anti = _amounts(antisolvent_uL, n, "antisolvent_uL")
        v_cs = _amounts(cs_uL, n, "cs_uL")
        v_pb = _amounts(pbbr2_uL, n, "pbbr2_uL")
        v_acid = _amounts(acid_uL, n, "acid_uL")
        v_amine = _amounts(amine_uL, n, "amine_uL")
        acid_per_uL = np.array([a.umol_per_uL for a in acids])
        amine_per_uL = np.array([a.umol_per_uL for a in amines])
        return cls(
            antisolvent=solvents, acid=acids, amine=amines,
            cs_umol=v_cs * cs_stock_mM * 1e-3,  # mM * uL = nmol
            pbbr2_umol=v_pb * pbbr2_stock_mM * 1e-3,
            acid_umol=v_acid * acid_per_uL,
            amine_umol=v_amine * amine_per_uL,
            total_uL=v_anti + v_cs + v_pb + v_acid + v_amine,
            dmf_uL=v_pb.copy(),
            temperature_C=_temperature(temperature_C, n),
        )

    @classmethod
    def from_concentrations(cls, antisolvent: str | Sequence[str], cs_mM, pbbr2_mM, acid: str | Sequence[str],
                            acid_mM, amine: str | Sequence[str], amine_mM, dmf_fraction=15.0 / 266.0,
                            temperature_C=25.0, total_uL=266.0) -> "WellRecipes":
        """Recipes from explicit in-well concentrations (mM) and the DMF volume fraction.

        Here PbBr2 must be > 0: the ligand:PbBr2 ratios the model is built on are undefined without lead,
        so pbbr2_mM == 0 raises; an empty well is expressed with :meth:`from_volumes` and pbbr2_uL=0.
        """
        n = _well_count(cs_mM, pbbr2_mM, acid_mM, amine_mM, dmf_fraction, antisolvent, acid, amine)
        solvents = _names(antisolvent, n, "antisolvent", find_solvent)
        acids = _names(acid, n, "acid", find_acid)
        amines = _names(amine, n, "amine", find_amine)
        vol = _amounts(total_uL, n, "total_uL", allow_zero=False)
        phi = _amounts(dmf_fraction, n, "dmf_fraction")
        if (phi >= 1).any():
            i = int(np.flatnonzero(phi >= 1)[0])
            raise InvalidAmountError(f"dmf_fraction[{i}] = {phi[i]!r}; allowed 0 <= dmf_fraction < 1")
        to_umol = vol * 1e-3
        return cls(
            antisolvent=solvents, acid=acids, amine=amines,
            cs_umol=_amounts(cs_mM, n, "cs_mM") * to_umol,
            pbbr2_umol=_amounts(pbbr2_mM, n, "pbbr2_mM", allow_zero=False) * to_umol,
            acid_umol=_amounts(acid_mM, n, "acid_mM") * to_umol,
            amine_umol=_amounts(amine_mM, n, "amine_mM") * to_umol,
            total_uL=vol, dmf_uL=phi * vol, temperature_C=_temperature(temperature_C, n),
        )

    @classmethod
    def from_records(cls, records: Sequence[dict]) -> "WellRecipes":
        """Recipes from per-well dicts (e.g. a scenario file), each validated by :class:`WellVolumes`."""
        rows = []
        for i, r in enumerate(records):
            try:
                rows.append(WellVolumes.model_validate(r))
            except ValidationError as exc:
                raise InvalidAmountError(f"records[{i}]: {exc}") from None
        if not rows:
            raise InvalidAmountError("records: empty; need at least one well")
        return cls.from_volumes(
            antisolvent=[r.antisolvent for r in rows],
            antisolvent_uL=[r.antisolvent_uL for r in rows], cs_uL=[r.cs_uL for r in rows],
            pbbr2_uL=[r.pbbr2_uL for r in rows], acid=[r.acid for r in rows], acid_uL=[r.acid_uL for r in rows],
            amine=[r.amine for r in rows], amine_uL=[r.amine_uL for r in rows],
            temperature_C=[r.temperature_C for r in rows])

    # ----------------------------------------------------------------- derived arrays
    @property
    def n_wells(self) -> int:
        return int(self.cs_umol.shape[0])

    def __len__(self) -> int:
        return self.n_wells

    @property
    def dielectric_constant(self) -> np.ndarray:
        """Antisolvent static dielectric constant per well."""
        return np.array([s.dielectric_constant for s in self.antisolvent])

    @property
    def polarity_index(self) -> np.ndarray:
        """Antisolvent Snyder polarity index per well."""
        return np.array([s.polarity_index for s in self.antisolvent])

    @property
    def acid_n_carbons(self) -> np.ndarray:
        return np.array([a.n_carbons for a in self.acid], dtype=np.float64)

    @property
    def amine_n_carbons(self) -> np.ndarray:
        return np.array([a.n_carbons for a in self.amine], dtype=np.float64)

    @property
    def dmf_fraction(self) -> np.ndarray:
        """Volume fraction of DMF (precursor solvent) in the well; 0 for an empty well."""
        return np.divide(self.dmf_uL, self.total_uL, out=np.zeros_like(self.dmf_uL), where=self.total_uL > 0)

    def subset(self, index) -> "WellRecipes":
        """The recipes of the selected wells (any numpy index)."""
        idx = np.arange(self.n_wells)[index]
        idx = np.atleast_1d(idx)
        pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
        return WellRecipes(pick(self.antisolvent), pick(self.acid), pick(self.amine), self.cs_umol[idx],
                           self.pbbr2_umol[idx], self.acid_umol[idx], self.amine_umol[idx], self.total_uL[idx],
                           self.dmf_uL[idx], self.temperature_C[idx])


class WellVolumes(BaseModel):
    """One well's dispensed volumes, for scenario files (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    antisolvent: str
    antisolvent_uL: float = Field(ge=0)
    cs_uL: float = Field(ge=0)
    pbbr2_uL: float = Field(ge=0)
    acid: str = "OAc"
    acid_uL: float = Field(ge=0)
    amine: str = "OLAm"
    amine_uL: float = Field(ge=0)
    temperature_C: float = 25.0


def _well_count(*values: object) -> int:
    """Number of wells implied by the first non-scalar argument (1 when all are scalars)."""
    for v in values:
        if isinstance(v, (str, Solvent, Ligand)):
            continue
        try:
            arr = np.asarray(v, dtype=object)
        except Exception:  # pragma: no cover - defensive
            continue
        if arr.ndim >= 1:
            return int(arr.shape[0])
    return 1


__all__ = ["WellRecipes", "WellVolumes", "CS_STOCK_mM", "PBBR2_STOCK_mM", "TEMPERATURE_RANGE_C"]
