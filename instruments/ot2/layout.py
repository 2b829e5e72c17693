"""DeckLayout: where each piece of the plate preparation sits on the OT-2 deck, checked before anything is loaded.

The default is the layout the workflow has always used (``twin.prep.plan_deck``)::

    10 tips_20_a   11 tips_20_b   12 trash
     7 premix_3     8 premix_4     9 tips_300
     4 premix_1     5 premix_2     6 ligands
     1 plate        2 solvents     3 pbbr2_stock

Load names are opentrons-shared-data's; a layout is refused at construction when a slot is reused or off the deck,
or a load name is unknown to opentrons (or to the twin's labware models); ``check_fits`` refuses one too small for a
given plan (premix vials, tips).
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from instruments.deck import N_SLOTS, TRASH_SLOT
from instruments.errors import LabwareError
from instruments.labware import LABWARE_TYPES
from instruments.pipettor import PIPETTES, check_pipettes

VIAL_RACK = "opentrons_24_tuberack_nest_1.5ml_snapcap"
_TIP_SUFFIX = "abcdefghijk"


class LayoutError(LabwareError):
    """A deck layout that does not fit the deck, opentrons' labware or the plan; the message names slot and fix."""


@lru_cache(maxsize=1)
def opentrons_labware_names() -> tuple[str, ...] | None:
    """Every labware load name in the installed opentrons-shared-data (sorted); ``None`` if it is not installed."""
    try:
        from opentrons_shared_data.labware import list_definitions
    except ImportError:
        return None
    return tuple(sorted({name for name, _, _ in list_definitions()}))


def check_load_name(load_name: str, what: str) -> None:
    """Refuse a load name opentrons does not know, or one the twin has no geometry for; ``what`` names the place."""
    known = opentrons_labware_names()
    modelled = sorted(LABWARE_TYPES)
    if known is not None and load_name not in known:
        close = difflib.get_close_matches(load_name, known, n=3)
        hint = f"did you mean {close}? " if close else ""
        raise LayoutError(f"unknown labware {load_name!r} for {what}: opentrons-shared-data has no such definition; "
                          f"{hint}fix: use a standard load name, one of {modelled}")
    if load_name not in LABWARE_TYPES:
        raise LayoutError(f"labware {load_name!r} for {what} is not modelled by the twin; fix: use one of "
                          f"{modelled} or add its geometry to instruments.labware.LABWARE_TYPES")


class Placement(BaseModel):
    """One piece of labware: its deck slot and its opentrons load name."""

    model_config = ConfigDict(extra="forbid")
    slot: int
    load_name: str


class DeckLayout(BaseModel):
    """Slots (1..11; 12 is the fixed trash) and labware of the plate preparation.

    Parameters
    ----------
    plate_slot : the reaction plate (its load name follows the plate map: 96 or 384 wells).
    solvents : antisolvents and Cs-oleate stocks (a reservoir).
    pbbr2_stock : the PbBr2/DMF stock (large vials).
    ligands : the neat ligand stocks (vials).
    premix_rack, premix_slots : the vial rack for the premixed precursors and the slots it may take, in order of use.
    tip_racks : pipette -> slots of its tip racks (the rack load name is the pipette's); the keys are the pipettes
        mounted, one or two of ``instruments.pipettor.PIPETTES``.
    allow_tip_refills : when a plan needs more tips than the racks hold, an operator swaps in full racks (a pause);
        ``False`` refuses such a plan instead.
    """

    model_config = ConfigDict(extra="forbid")
    plate_slot: int = 1
    solvents: Placement = Field(default_factory=lambda: Placement(slot=2, load_name="nest_12_reservoir_15ml"))
    pbbr2_stock: Placement = Field(
        default_factory=lambda: Placement(slot=3, load_name="opentrons_6_tuberack_falcon_50ml_conical"))
    ligands: Placement = Field(default_factory=lambda: Placement(slot=6, load_name=VIAL_RACK))
    premix_rack: str = VIAL_RACK
    premix_slots: list[int] = Field(default_factory=lambda: [4, 5, 7, 8])
    tip_racks: dict[str, list[int]] = Field(default_factory=lambda: {"p300": [9], "p20": [10, 11]})
    allow_tip_refills: bool = True

    # -- what goes where ------------------------------------------------------------------------------------------
    @property
    def pipettes(self) -> tuple[str, ...]:
        """The pipettes this deck serves, smallest first."""
        return check_pipettes(self.tip_racks)

    def tip_rack_names(self, pipette: str) -> list[str]:
        """Deck names of ``pipette``'s racks: ``tips_300``, or ``tips_20_a``, ``tips_20_b`` when there are several."""
        size = PIPETTES[pipette].tiprack.rsplit("_", 1)[-1].removesuffix("ul")
        slots = self.tip_racks[pipette]
        return [f"tips_{size}"] if len(slots) == 1 else [f"tips_{size}_{_TIP_SUFFIX[k]}" for k in range(len(slots))]

    def tip_placements(self) -> list[tuple[int, str, str]]:
        """(slot, deck name, load name) of every tip rack, by slot."""
        out = [(slot, name, PIPETTES[p].tiprack) for p in self.tip_racks
               for slot, name in zip(self.tip_racks[p], self.tip_rack_names(p))]
        return sorted(out)

    def fixed_placements(self) -> list[tuple[int, str, str | None]]:
        """(slot, deck name, load name) of the plate (load name ``None``: chosen by the plate map) and the stocks."""
        return [(self.plate_slot, "plate", None),
                (self.solvents.slot, "solvents", self.solvents.load_name),
                (self.pbbr2_stock.slot, "pbbr2_stock", self.pbbr2_stock.load_name),
                (self.ligands.slot, "ligands", self.ligands.load_name)]

    def premix_placements(self) -> list[tuple[int, str, str]]:
        return [(slot, f"premix_{k + 1}", self.premix_rack) for k, slot in enumerate(self.premix_slots)]

    def vials_per_premix_rack(self) -> int:
        t = LABWARE_TYPES[self.premix_rack]
        return t.rows * t.columns

    # -- checks ---------------------------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _fits_the_deck(self) -> "DeckLayout":
        if not self.tip_racks:
            raise LayoutError("the layout has no tip racks; fix: give tip_racks at least one pipette, e.g. "
                              "{'p20': [10, 11], 'p300': [9]}")
        for p, slots in self.tip_racks.items():
            if p not in PIPETTES:
                raise LayoutError(f"tip_racks names an unknown pipette {p!r}; fix: use one or two of "
                                  f"{sorted(PIPETTES)}")
            if not slots:
                raise LayoutError(f"tip_racks gives the {p} no slot; fix: give it at least one tip rack slot")
        try:
            check_pipettes(self.tip_racks)
        except ValueError as exc:
            raise LayoutError(f"tip_racks: {exc}") from None
        places = self.fixed_placements() + self.premix_placements() + self.tip_placements()
        taken: dict[int, str] = {}
        for slot, name, load_name in places:
            if not isinstance(slot, int) or not 1 <= slot <= N_SLOTS:
                raise LayoutError(f"slot {slot!r} for {name} is not on the deck: the OT-2 has slots 1..{N_SLOTS} "
                                  f"(slot {TRASH_SLOT} is the fixed trash); fix: move {name} to a free slot "
                                  f"{self._free(places)}")
            if slot in taken:
                raise LayoutError(f"slot {slot} is given to both {taken[slot]} and {name}; fix: move {name} to a "
                                  f"free slot {self._free(places)}")
            taken[slot] = name
        for slot, name, load_name in places:
            if load_name is not None:
                check_load_name(load_name, f"{name} (slot {slot})")
        for slot, name, load_name in self.fixed_placements()[1:] + self.premix_placements():
            if LABWARE_TYPES[load_name].is_tiprack:
                raise LayoutError(f"{name} (slot {slot}) is a tip rack ({load_name}); fix: use a reservoir or a "
                                  f"vial rack such as {VIAL_RACK!r}")
        return self

    @staticmethod
    def _free(places) -> list[int]:
        used = {slot for slot, _, _ in places}
        return [s for s in range(1, N_SLOTS + 1) if s not in used]

    def check_fits(self, n_premixes: int, tips_needed: dict[str, int]) -> None:
        """Refuse a plan with more precursor compositions than premix vials, or tips than the layout allows."""
        per_rack = self.vials_per_premix_rack()
        if n_premixes > per_rack * len(self.premix_slots):
            need = -(-n_premixes // per_rack)
            raise LayoutError(
                f"{n_premixes} distinct precursor compositions need {need} premix racks ({self.premix_rack}); the "
                f"layout has {len(self.premix_slots)} (premix_slots {self.premix_slots}, {per_rack} vials each); "
                f"fix: add {need - len(self.premix_slots)} free slot(s) to premix_slots, or use fewer distinct "
                f"compositions")
        for p, n in sorted(tips_needed.items()):
            if n <= 0:
                continue
            if p not in self.tip_racks:
                raise LayoutError(f"the plan needs {n} {p} tips but the layout has no {PIPETTES[p].tiprack}; fix: "
                                  f"add tip_racks['{p}'] with a free slot")
            held = 96 * len(self.tip_racks[p])
            if n > held and not self.allow_tip_refills:
                raise LayoutError(
                    f"the plan needs {n} {p} tips but its {len(self.tip_racks[p])} rack(s) in slot(s) "
                    f"{self.tip_racks[p]} hold {held}; fix: add {-(-n // 96) - len(self.tip_racks[p])} tip rack "
                    f"slot(s) to tip_racks['{p}'] or set allow_tip_refills=True (the operator swaps racks)")
