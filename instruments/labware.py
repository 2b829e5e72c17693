"""Labware and its liquid state: plates, reservoirs, tube racks and tip racks, each a grid of wells.

Each well's contents are tracked per component (``{"toluene": uL, "OAc": uL, ...}``) as numpy arrays over wells,
so the chemistry can read a whole plate's recipes in one go.  Checks that do not depend on a machine (well names,
capacities, what is in a well) live here once, for the twin and the real drivers alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from instruments.errors import LabwareError, VolumeError

_WELL_RE = re.compile(r"^([A-Z]{1,2})(\d{1,2})$")


@dataclass(frozen=True)
class LabwareType:
    """Geometry and limits of one kind of labware (names follow opentrons-shared-data where one exists)."""

    load_name: str
    rows: int
    columns: int
    capacity_uL: float
    dead_volume_uL: float = 0.0
    is_tiprack: bool = False
    tip_volume_uL: float = 0.0


LABWARE_TYPES: dict[str, LabwareType] = {
    t.load_name: t
    for t in [
        LabwareType("corning_96_wellplate_360ul_flat", 8, 12, 360.0),
        LabwareType("corning_384_wellplate_112ul_flat", 16, 24, 112.0),
        LabwareType("nest_12_reservoir_15ml", 1, 12, 15_000.0, dead_volume_uL=1_000.0),
        LabwareType("nest_1_reservoir_195ml", 1, 1, 195_000.0, dead_volume_uL=5_000.0),
        LabwareType("opentrons_24_tuberack_nest_1.5ml_snapcap", 4, 6, 1_500.0, dead_volume_uL=20.0),
        LabwareType("opentrons_6_tuberack_falcon_50ml_conical", 2, 3, 50_000.0, dead_volume_uL=1_000.0),
        LabwareType("opentrons_96_tiprack_20ul", 8, 12, 0.0, is_tiprack=True, tip_volume_uL=20.0),
        LabwareType("opentrons_96_tiprack_300ul", 8, 12, 0.0, is_tiprack=True, tip_volume_uL=300.0),
        LabwareType("opentrons_96_tiprack_1000ul", 8, 12, 0.0, is_tiprack=True, tip_volume_uL=1000.0),
    ]
}

PLATE_TYPES = {96: "corning_96_wellplate_360ul_flat", 384: "corning_384_wellplate_112ul_flat"}


def _row_label(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else "A" + chr(ord("A") + i - 26)


def well_names(rows: int, columns: int) -> list[str]:
    """Row-major well names, ``A1, A2, ... H12``."""
    return [f"{_row_label(r)}{c + 1}" for r in range(rows) for c in range(columns)]


class Labware:
    """One piece of labware on the deck, with per-well, per-component liquid volumes in uL."""

    def __init__(self, load_name: str, name: str | None = None, slot: int | None = None):
        if load_name not in LABWARE_TYPES:
            raise LabwareError(f"unknown labware '{load_name}'; allowed: {sorted(LABWARE_TYPES)}")
        self.type = LABWARE_TYPES[load_name]
        self.name = name or load_name
        self.slot = slot
        self.wells = well_names(self.type.rows, self.type.columns)
        self._index = {w: i for i, w in enumerate(self.wells)}
        self.contents: dict[str, np.ndarray] = {}
        #: campaign seconds at which each well received its precursor (its reaction t=0); NaN = not injected
        self.injected_at_s = np.full(len(self.wells), np.nan)
        self.tip_present = np.ones(len(self.wells), bool) if self.type.is_tiprack else None

    def __repr__(self) -> str:
        return f"Labware({self.type.load_name!r}, name={self.name!r}, slot={self.slot})"

    @property
    def n_wells(self) -> int:
        return len(self.wells)

    @property
    def capacity_uL(self) -> float:
        return self.type.capacity_uL

    def index(self, well: str) -> int:
        """Index of a well name such as ``'B7'``; raises LabwareError naming the labware and the allowed range."""
        try:
            return self._index[well]
        except (KeyError, TypeError):
            last = self.wells[-1]
            raise LabwareError(
                f"unknown well {well!r} on {self.name} ({self.type.load_name}); allowed: A1..{last}"
            ) from None

    def indices(self, wells) -> np.ndarray:
        return np.array([self.index(w) for w in wells], dtype=int)

    # -- liquid state -------------------------------------------------------------------------------------------
    @property
    def volume_uL(self) -> np.ndarray:
        """Total liquid volume per well (uL)."""
        total = np.zeros(self.n_wells)
        for v in self.contents.values():
            total += v
        return total

    def component(self, name: str) -> np.ndarray:
        """Volume (uL) of one component in every well (zeros when absent)."""
        return self.contents.get(name, np.zeros(self.n_wells))

    def fill(self, well: str, mixture: dict[str, float]) -> None:
        """Put liquid in a well by hand (setting up stocks before a run); checks capacity."""
        self.add(self.index(well), mixture)

    def add(self, i: int, mixture: dict[str, float]) -> None:
        """Add a mixture (component -> uL) to well index ``i``; refuses to overfill."""
        added = sum(mixture.values())
        now = self.volume_uL[i]
        if now + added > self.capacity_uL + 1e-9:
            raise VolumeError(
                f"overfilling {self.wells[i]} of {self.name}: {now:.2f} uL + {added:.2f} uL "
                f"> capacity {self.capacity_uL:g} uL"
            )
        for comp, v in mixture.items():
            if comp not in self.contents:
                self.contents[comp] = np.zeros(self.n_wells)
            self.contents[comp][i] += v

    def remove(self, i: int, volume_uL: float) -> dict[str, float]:
        """Take ``volume_uL`` from well ``i`` (well-mixed: every component in proportion); refuses to over-draw."""
        now = self.volume_uL[i]
        if volume_uL > now + 1e-9:
            raise VolumeError(
                f"cannot aspirate {volume_uL:.2f} uL from {self.wells[i]} of {self.name}: it holds only {now:.2f} uL"
            )
        if now <= 0:
            return {}
        frac = volume_uL / now
        taken = {}
        for comp, arr in self.contents.items():
            if arr[i] > 0:
                v = arr[i] * frac
                arr[i] -= v
                taken[comp] = v
        return taken

    def mixture(self, i: int) -> dict[str, float]:
        return {c: float(a[i]) for c, a in self.contents.items() if a[i] > 0}

    # -- tips ---------------------------------------------------------------------------------------------------
    def next_tip(self) -> int | None:
        if self.tip_present is None:
            raise LabwareError(f"{self.name} is not a tip rack")
        free = np.flatnonzero(self.tip_present)
        return int(free[0]) if free.size else None


def parse_well(name: str) -> tuple[int, int]:
    """``'B7'`` -> (row 1, column 6); raises LabwareError for malformed names."""
    m = _WELL_RE.match(str(name).strip().upper())
    if not m:
        raise LabwareError(f"malformed well name {name!r}; expected a row letter and a column number such as 'B7'")
    letters, col = m.groups()
    row = ord(letters[-1]) - ord("A") + (26 if len(letters) == 2 else 0)
    return row, int(col) - 1


@dataclass(frozen=True)
class WellRef:
    """A well on a piece of labware: ``plate["B7"]``."""

    labware: Labware
    index: int

    @property
    def name(self) -> str:
        return self.labware.wells[self.index]

    def __str__(self) -> str:
        return f"{self.name} of {self.labware.name}"


def _getitem(self: Labware, well: str) -> WellRef:
    return WellRef(self, self.index(well))


Labware.__getitem__ = _getitem  # type: ignore[attr-defined]
