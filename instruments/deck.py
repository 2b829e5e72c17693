"""The OT-2 deck: eleven numbered slots plus the fixed trash, holding named labware."""

from __future__ import annotations

from instruments.errors import LabwareError
from instruments.labware import Labware

N_SLOTS = 11
TRASH_SLOT = 12
_SLOT_PITCH_X_MM = 132.5
_SLOT_PITCH_Y_MM = 90.5


def slot_xy_mm(slot: int) -> tuple[float, float]:
    """Centre of a deck slot (slots 1-3 front row, 10-12 back row, left to right)."""
    col = (slot - 1) % 3
    row = (slot - 1) // 3
    return col * _SLOT_PITCH_X_MM, row * _SLOT_PITCH_Y_MM


class Deck:
    """Labware by slot and by name; refuses double-booked or unknown slots."""

    def __init__(self) -> None:
        self._by_slot: dict[int, Labware] = {}
        self._by_name: dict[str, Labware] = {}

    def load(self, load_name: str, slot: int, name: str | None = None) -> Labware:
        if not isinstance(slot, int) or not 1 <= slot <= N_SLOTS:
            raise LabwareError(f"deck slot {slot!r} does not exist; allowed: 1..{N_SLOTS}")
        if slot in self._by_slot:
            raise LabwareError(f"deck slot {slot} already holds {self._by_slot[slot].name}")
        lw = Labware(load_name, name=name, slot=slot)
        if lw.name in self._by_name:
            raise LabwareError(f"labware name {lw.name!r} is already on the deck")
        self._by_slot[slot] = lw
        self._by_name[lw.name] = lw
        return lw

    def __getitem__(self, name: str) -> Labware:
        try:
            return self._by_name[name]
        except KeyError:
            raise LabwareError(f"no labware named {name!r} on the deck; loaded: {sorted(self._by_name)}") from None

    def __iter__(self):
        return iter(self._by_slot.values())

    def free_slots(self) -> list[int]:
        return [s for s in range(1, N_SLOTS + 1) if s not in self._by_slot]

    def remove(self, name: str) -> Labware:
        """Take labware off the deck (e.g. the plate going to the reader)."""
        lw = self[name]
        del self._by_name[name]
        del self._by_slot[lw.slot]
        return lw
