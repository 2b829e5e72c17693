"""Robot preparation of a plate from a plate map: deck layout, stock volumes, premixed precursor vials, injections.

As in the paper, the ligands and the PbBr2/DMF solution reach a well as one premixed precursor: the robot first makes
one vial per distinct composition (scaled to the wells that use it, plus dead volume, and up so that no ligand
transfer is below the p20's 1 uL minimum), then fills every well with antisolvent and Cs-oleate, then injects each
well's precursor with a fresh tip and mixes.  That injection is the well's reaction t=0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generator

import pandas as pd

from instruments.deck import Deck
from instruments.labware import PLATE_TYPES, Labware, WellRef
from instruments.pipettor import INJECTION_COMPONENT, Pipettor
from instruments.sim.plate_recipes import cs_stock_name
from twin.platemap import PlateMapError

PREMIX_RACK = "opentrons_24_tuberack_nest_1.5ml_snapcap"
PREMIX_DEAD_UL = 20.0
MIN_TRANSFER_UL = 1.0
MIX_AFTER_INJECTION = (3, 10.0)
#: seconds an operator needs to swap empty tip racks for full ones when a run uses more tips than the deck holds
TIP_REFILL_S = 90.0


@dataclass
class Premix:
    """One precursor vial: its composition per well and the wells it feeds."""

    key: tuple
    per_well_uL: dict[str, float]
    wells: list[str]
    batch_uL: dict[str, float] = field(default_factory=dict)
    vial: WellRef | None = None

    @property
    def per_well_total_uL(self) -> float:
        return sum(self.per_well_uL.values())


@dataclass
class PrepPlan:
    """What goes where on the deck and how much of each stock the operator must put out."""

    deck: Deck
    plate: Labware
    stocks: dict[str, list[WellRef]]
    premixes: list[Premix]
    stock_fill_uL: dict[str, float]

    def deck_sheet(self) -> str:
        """A human-readable set-up sheet: labware per slot and stock volumes to fill."""
        lines = ["slot  labware"]
        for lw in sorted(self.deck, key=lambda lw: lw.slot):
            lines.append(f"{lw.slot:>4}  {lw.name} ({lw.type.load_name})")
        lines.append("")
        lines.append("stock                          where                      fill uL")
        for comp, refs in self.stocks.items():
            where = ", ".join(str(r) for r in refs)
            lines.append(f"{comp:<30} {where:<26} {self.stock_fill_uL[comp]:>9.0f}")
        return "\n".join(lines)


def _premixes(plate_map: pd.DataFrame) -> list[Premix]:
    groups: dict[tuple, Premix] = {}
    for row in plate_map.itertuples(index=False):
        if row.pbbr2_uL <= 0:
            continue  # a blank: antisolvent (and Cs) only, never injected
        key = (row.acid, round(row.acid_uL / row.pbbr2_uL, 9), row.amine, round(row.amine_uL / row.pbbr2_uL, 9),
               round(row.pbbr2_uL + row.acid_uL + row.amine_uL, 6))
        if key not in groups:
            per = {INJECTION_COMPONENT: row.pbbr2_uL}
            if row.acid_uL > 0:
                per[row.acid] = row.acid_uL
            if row.amine_uL > 0:
                per[row.amine] = row.amine_uL
            groups[key] = Premix(key, per, [])
        groups[key].wells.append(row.well)
    return list(groups.values())


def _allocate(lw: Labware, start: int, component: str, need_uL: float) -> tuple[list[WellRef], int, float]:
    """Fill consecutive wells of ``lw`` from ``start`` with ``need_uL`` usable volume (+ dead volume each)."""
    usable = lw.capacity_uL - lw.type.dead_volume_uL
    n = max(1, math.ceil(need_uL / usable))
    if start + n > lw.n_wells:
        raise PlateMapError(f"the stocks do not fit in {lw.name}: {component} needs {n} more wells of "
                            f"{lw.capacity_uL:g} uL")
    refs, filled = [], 0.0
    for k in range(n):
        v = min(lw.capacity_uL, need_uL / n + lw.type.dead_volume_uL)
        lw.fill(lw.wells[start + k], {component: v})
        refs.append(lw[lw.wells[start + k]])
        filled += v
    return refs, start + n, filled


def plan_deck(plate_map: pd.DataFrame, plate_wells: int | None = None, margin: float = 1.1) -> PrepPlan:
    """Lay out the deck for ``plate_map`` and fill the stocks (the operator's job before pressing run)."""
    plate_wells = plate_wells or plate_map.attrs.get("plate_wells", 96)
    deck = Deck()
    plate = deck.load(PLATE_TYPES[plate_wells], 1, "plate")
    reservoir = deck.load("nest_12_reservoir_15ml", 2, "solvents")
    falcons = deck.load("opentrons_6_tuberack_falcon_50ml_conical", 3, "pbbr2_stock")
    ligands = deck.load(PREMIX_RACK, 6, "ligands")
    deck.load("opentrons_96_tiprack_300ul", 9, "tips_300")
    deck.load("opentrons_96_tiprack_20ul", 10, "tips_20_a")
    deck.load("opentrons_96_tiprack_20ul", 11, "tips_20_b")

    premixes = _premixes(plate_map)
    premix_slots = [4, 5, 7, 8]
    n_racks = math.ceil(len(premixes) / 24) if premixes else 0
    if n_racks > len(premix_slots):
        raise PlateMapError(f"{len(premixes)} distinct precursor compositions need {n_racks} vial racks; the deck "
                            f"has room for {len(premix_slots)} (96 vials)")
    racks = [deck.load(PREMIX_RACK, premix_slots[k], f"premix_{k + 1}") for k in range(n_racks)]
    needs: dict[str, float] = {}
    for k, pm in enumerate(premixes):
        n = len(pm.wells)
        smallest = min(pm.per_well_uL.values())
        factor = max(n + PREMIX_DEAD_UL / pm.per_well_total_uL + 1, MIN_TRANSFER_UL / smallest)
        pm.batch_uL = {c: v * factor for c, v in pm.per_well_uL.items()}
        total = sum(pm.batch_uL.values())
        if total > racks[0].capacity_uL:
            raise PlateMapError(f"the precursor for wells {pm.wells[:3]}... needs {total:.0f} uL, more than a "
                                f"{racks[0].capacity_uL:g} uL vial; split the group or raise the ligand volumes")
        rack = racks[k // 24]
        pm.vial = rack[rack.wells[k % 24]]
        for c, v in pm.batch_uL.items():
            needs[c] = needs.get(c, 0.0) + v
    for row in plate_map.itertuples(index=False):
        needs[row.antisolvent] = needs.get(row.antisolvent, 0.0) + row.antisolvent_uL
        cs = cs_stock_name(row.antisolvent)
        needs[cs] = needs.get(cs, 0.0) + row.cs_uL

    stocks: dict[str, list[WellRef]] = {}
    fill: dict[str, float] = {}
    nxt = {reservoir.name: 0, falcons.name: 0, ligands.name: 0}
    for comp, need in needs.items():
        if need <= 0:
            continue
        lw = falcons if comp == INJECTION_COMPONENT else ligands if comp in {"OAc", "OLAm", "OctAc", "OctAm"} \
            or not (comp in plate_map["antisolvent"].values or comp.startswith("Cs-oleate/")) else reservoir
        refs, nxt[lw.name], filled = _allocate(lw, nxt[lw.name], comp, need * margin)
        stocks[comp], fill[comp] = refs, filled
    return PrepPlan(deck, plate, stocks, premixes, fill)


def _source(plan: PrepPlan, component: str, volume_uL: float) -> WellRef:
    """The first stock well of ``component`` that still holds ``volume_uL`` above its dead volume."""
    for ref in plan.stocks[component]:
        if ref.labware.volume_uL[ref.index] - ref.labware.type.dead_volume_uL >= volume_uL - 1e-9:
            return ref
    return plan.stocks[component][-1]  # let the pipettor raise its own over-aspirate error


def _ensure_tip(pipettor: Pipettor, pipette: str) -> Generator:
    """An operator swaps in full tip racks when the deck's are empty (a pause, as on lab day)."""
    racks = pipettor.tipracks(pipette)
    if all(r.next_tip() is None for r in racks):
        yield pipettor.clock.timeout(TIP_REFILL_S)
        for r in racks:
            r.tip_present[:] = True
        pipettor._record("operator_refill_tips", pipette=pipette, racks=len(racks))


def _move(pipettor: Pipettor, plan: PrepPlan, pip: str, component: str, volume_uL: float,
          dest: WellRef) -> Generator:
    """Move any volume (in chunks the tip can hold) of a stock into ``dest`` with ``pip``'s tip already attached."""
    max_uL = pipettor.pipettes[pip].max_uL
    n = math.ceil(volume_uL / max_uL - 1e-9)
    for _ in range(n):
        v = volume_uL / n
        yield from pipettor.aspirate(pip, _source(plan, component, v), v)
        yield from pipettor.dispense(pip, dest)


def _pipette_for(pipettor: Pipettor, volume_uL: float) -> str:
    return pipettor.choose_pipette(min(volume_uL, 300.0))


def prepare_plate(pipettor: Pipettor, plan: PrepPlan, plate_map: pd.DataFrame) -> Generator:
    """The whole robot protocol: premix vials, antisolvent, Cs-oleate, then one precursor injection per well."""
    yield from pipettor.home()
    # 1. premixed precursors: each stock with one tip across all vials (clean vials, same liquid)
    components = sorted({c for pm in plan.premixes for c in pm.batch_uL}, key=lambda c: (c != INJECTION_COMPONENT, c))  # sorted: set order varies with PYTHONHASHSEED
    for comp in components:
        users = [pm for pm in plan.premixes if comp in pm.batch_uL]
        by_pip: dict[str, list[Premix]] = {}
        for pm in users:
            by_pip.setdefault(_pipette_for(pipettor, pm.batch_uL[comp]), []).append(pm)
        for pip, pms in by_pip.items():
            yield from _ensure_tip(pipettor, pip)
            yield from pipettor.pick_up_tip(pip)
            for pm in pms:
                v = pm.batch_uL[comp]
                yield from _move(pipettor, plan, pip, comp, v, pm.vial)
            yield from pipettor.drop_tip(pip)
    for pm in plan.premixes:  # homogenise each vial (volumes from the plan, so the command stream is noise-free)
        vol = sum(pm.batch_uL.values())
        pip = "p300" if vol >= 40 and "p300" in pipettor.pipettes else "p20"
        yield from _ensure_tip(pipettor, pip)
        yield from pipettor.pick_up_tip(pip)
        yield from pipettor.mix(pip, pm.vial, 5, min(vol * 0.5, pipettor.pipettes[pip].max_uL))
        yield from pipettor.drop_tip(pip)
    # 2. antisolvent, then Cs-oleate, one tip per stock
    plate = plan.plate
    for column, comp_of in (("antisolvent_uL", lambda r: r.antisolvent),
                            ("cs_uL", lambda r: cs_stock_name(r.antisolvent))):
        rows = [r for r in plate_map.itertuples(index=False) if getattr(r, column) > 0]
        for comp in dict.fromkeys(comp_of(r) for r in rows):
            mine = [r for r in rows if comp_of(r) == comp]
            pip = _pipette_for(pipettor, min(getattr(r, column) for r in mine))
            yield from _ensure_tip(pipettor, pip)
            yield from pipettor.pick_up_tip(pip)
            for r in mine:
                yield from _move(pipettor, plan, pip, comp, getattr(r, column), plate[r.well])
            yield from pipettor.drop_tip(pip)
    # 3. inject each well's precursor (t=0), fresh tip, mix
    vial_of = {w: pm for pm in plan.premixes for w in pm.wells}
    for r in plate_map.itertuples(index=False):
        pm = vial_of.get(r.well)
        if pm is None:
            continue
        v = pm.per_well_total_uL
        pip = pipettor.choose_pipette(v)
        yield from _ensure_tip(pipettor, pip)
        yield from pipettor.pick_up_tip(pip)
        yield from pipettor.aspirate(pip, pm.vial, v)
        yield from pipettor.dispense(pip, plate[r.well])
        reps, mix_uL = MIX_AFTER_INJECTION
        mix_uL = min(mix_uL, pipettor.pipettes[pip].max_uL)
        if mix_uL >= pipettor.pipettes[pip].min_uL:
            yield from pipettor.mix(pip, plate[r.well], reps, mix_uL)
        yield from pipettor.drop_tip(pip)
