"""Robot preparation of a plate from a plate map: deck layout, stock volumes, premixed precursor vials, injections.

As in the paper, the ligands and the PbBr2/DMF solution reach a well as one premixed precursor: the robot first makes
one vial per distinct composition (scaled to the wells that use it, plus dead volume, and up so that no ligand
transfer is below the p20's 1 uL minimum), then fills every well with antisolvent and Cs-oleate, then injects each
well's precursor with a fresh tip, mixes, blows out and touches the tip off.  That injection is the well's reaction
t=0.  Viscous neat ligands are blown out and the tip touched off after each dispense into a premix vial.

Where everything sits is an ``instruments.ot2.layout.DeckLayout`` (default: the layout this workflow has always used);
``plan_deck`` checks that the plan fits it (premix vials, tips) before the operator fills a single stock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generator

import numpy as np
import pandas as pd

from instruments.deck import Deck
from instruments.errors import VolumeError
from instruments.labware import PLATE_TYPES, Labware, WellRef
from instruments.ot2.layout import VIAL_RACK, DeckLayout, LayoutError
from instruments.pipettor import INJECTION_COMPONENT, PIPETTES, Pipettor, PipetteSpec, choose_pipette
from instruments.sim.pipettor import liquid_class_of
from instruments.sim.plate_recipes import cs_stock_name
from twin.platemap import PlateMapError

PREMIX_RACK = VIAL_RACK
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
    layout: DeckLayout = field(default_factory=DeckLayout)
    #: tips ``prepare_plate`` picks up per pipette (without faults), and the operator refills that implies
    tips_needed: dict[str, int] = field(default_factory=dict)
    tip_refills: dict[str, int] = field(default_factory=dict)
    #: well -> its nominal recipe from the plate map (materials and volumes), keying the well-to-well draws
    well_keys: dict[str, str] = field(default_factory=dict)

    @property
    def pipettes(self) -> tuple[str, ...]:
        """The pipettes the deck has tips for (mount these), smallest first."""
        return self.layout.pipettes

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
        if self.tips_needed:
            lines.append("")
            lines.append("pipette  tips  operator refills")
            for p in self.pipettes:
                lines.append(f"{p:<8} {self.tips_needed.get(p, 0):>5} {self.tip_refills.get(p, 0):>17}")
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


def plan_deck(plate_map: pd.DataFrame, plate_wells: int | None = None, layout: DeckLayout | dict | None = None,
              margin: float = 1.1) -> PrepPlan:
    """Lay out the deck for ``plate_map`` and fill the stocks (the operator's job before pressing run).

    Parameters
    ----------
    plate_map : a validated plate map.
    plate_wells : 96 or 384; default the plate map's ``attrs['plate_wells']`` or 96.
    layout : a ``DeckLayout`` (or its dict); default ``DeckLayout()``.  A plan that does not fit it (too many
        precursor compositions for the premix racks, tips beyond the racks without refills) raises ``LayoutError``.
    margin : stock volumes are the plan's needs times ``margin`` (plus each vessel's dead volume).
    """
    plate_wells = plate_wells or plate_map.attrs.get("plate_wells", 96)
    layout = DeckLayout() if layout is None else DeckLayout.model_validate(layout)
    premixes = _premixes(plate_map)
    n_racks = math.ceil(len(premixes) / layout.vials_per_premix_rack()) if premixes else 0
    layout.check_fits(len(premixes), {})
    deck = Deck()
    plate = deck.load(PLATE_TYPES[plate_wells], layout.plate_slot, "plate")
    reservoir = deck.load(layout.solvents.load_name, layout.solvents.slot, "solvents")
    falcons = deck.load(layout.pbbr2_stock.load_name, layout.pbbr2_stock.slot, "pbbr2_stock")
    ligands = deck.load(layout.ligands.load_name, layout.ligands.slot, "ligands")
    for slot, name, load_name in layout.tip_placements():
        deck.load(load_name, slot, name)
    racks = [deck.load(load_name, slot, name) for slot, name, load_name in layout.premix_placements()[:n_racks]]
    per_rack = layout.vials_per_premix_rack()
    needs: dict[str, float] = {}
    for k, pm in enumerate(premixes):
        n = len(pm.wells)
        smallest = min(pm.per_well_uL.values())
        factor = max(n + PREMIX_DEAD_UL / pm.per_well_total_uL + 1, MIN_TRANSFER_UL / smallest)
        pm.batch_uL = {c: v * factor for c, v in pm.per_well_uL.items()}
        total = sum(pm.batch_uL.values())
        if total > racks[0].capacity_uL:
            raise PlateMapError(_vial_message(pm, total, racks[0].capacity_uL, n))
        rack = racks[k // per_rack]
        pm.vial = rack[rack.wells[k % per_rack]]
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
    plan = PrepPlan(deck, plate, stocks, premixes, fill, layout, well_keys=plate_map_keys(plate_map))
    specs = {p: PIPETTES[p] for p in layout.pipettes}
    plan.tips_needed = tip_budget(plan, plate_map, specs)
    layout.check_fits(len(premixes), plan.tips_needed)
    plan.tip_refills = {p: max(0, math.ceil(n / (96 * len(layout.tip_racks[p]))) - 1)
                        for p, n in plan.tips_needed.items()}
    return plan


def plate_map_keys(plate_map: pd.DataFrame) -> dict[str, str]:
    """well -> its nominal recipe as text (materials and volumes of the plate map), whatever seat it has."""
    cols = ["antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL", "acid", "acid_uL", "amine", "amine_uL"]
    fmt = lambda v: f"{float(v):.6g}" if isinstance(v, (int, float, np.number)) else str(v).strip().lower()  # noqa: E731
    return {str(row[0]): "|".join(fmt(v) for v in row[1:]) for row in plate_map[["well", *cols]].itertuples(index=False)}


def _vial_message(pm: Premix, total: float, capacity_uL: float, n_wells: int) -> str:
    """Why one premix vial cannot hold a composition, in the plate map's own terms (which column, what to do)."""
    wells = ", ".join(pm.wells[:3]) + (f" and {len(pm.wells) - 3} more" if len(pm.wells) > 3 else "")
    comp, smallest = min(pm.per_well_uL.items(), key=lambda kv: kv[1])
    from chemistry import ACIDS

    column = "pbbr2_uL" if comp == INJECTION_COMPONENT else f"{'acid' if comp in ACIDS else 'amine'}_uL ({comp})"
    if MIN_TRANSFER_UL / smallest > n_wells + 1:  # the vial is scaled up so the smallest pipetted volume is >= 1 uL
        least = MIN_TRANSFER_UL * pm.per_well_total_uL / (capacity_uL - PREMIX_DEAD_UL)
        return (f"well(s) {wells}: {column} = {smallest:.3g} uL per well is below what the pipettes can measure "
                f"into the premix vial ({MIN_TRANSFER_UL:g} uL at least), and scaling the vial up to that would need "
                f"{total:.0f} uL, more than a {capacity_uL:g} uL vial; raise {comp} to >= {least:.2g} uL per well "
                f"(keeping the ratios, raise pbbr2_uL with it) or use a diluted ligand stock")
    return (f"well(s) {wells}: their precursor premix needs {total:.0f} uL, more than a {capacity_uL:g} uL vial "
            f"({len(pm.wells)} wells x {pm.per_well_total_uL:.3g} uL); give some of these wells another composition "
            f"or lower pbbr2_uL")


# -- which pipette does what: one set of decisions for the tip budget and for the run --------------------------------
def pipette_for(specs: dict[str, PipetteSpec], volume_uL: float) -> str:
    """The pipette for moving ``volume_uL``: the smallest whose range holds it, else (a volume above a pipette's
    range: between p20 and p1000, or beyond the largest) the largest that can move it in equal chunks."""
    try:
        return choose_pipette(specs, volume_uL)
    except VolumeError:
        able = [p for p in specs if specs[p].min_uL <= volume_uL + 1e-9]
        if not able:
            raise
        return max(able, key=lambda p: specs[p].max_uL)


def mix_pipette(specs: dict[str, PipetteSpec], vial_uL: float) -> tuple[str, float]:
    """(pipette, mix uL) for homogenising a premix vial: half its volume with the largest pipette that can."""
    by_size = sorted(specs, key=lambda p: specs[p].max_uL)
    able = [p for p in by_size if specs[p].min_uL <= vial_uL * 0.5]
    pip = able[-1] if able else by_size[0]
    return pip, min(vial_uL * 0.5, specs[pip].max_uL)


def _premix_groups(plan: PrepPlan, specs: dict[str, PipetteSpec]) -> list[tuple[str, str, list[Premix]]]:
    """(component, pipette, vials) per tip of the premix phase: each stock with one tip across its vials."""
    components = sorted({c for pm in plan.premixes for c in pm.batch_uL},
                        key=lambda c: (c != INJECTION_COMPONENT, c))  # sorted: set order varies with PYTHONHASHSEED
    groups = []
    for comp in components:
        by_pip: dict[str, list[Premix]] = {}
        for pm in plan.premixes:
            if comp in pm.batch_uL:
                by_pip.setdefault(pipette_for(specs, pm.batch_uL[comp]), []).append(pm)
        groups.extend((comp, pip, pms) for pip, pms in by_pip.items())
    return groups


def _fill_groups(plate_map: pd.DataFrame, specs: dict[str, PipetteSpec]) -> list[tuple[str, str, str, list]]:
    """(column, component, pipette, rows) per tip of the antisolvent and Cs-oleate phase."""
    groups = []
    for column, comp_of in (("antisolvent_uL", lambda r: r.antisolvent),
                            ("cs_uL", lambda r: cs_stock_name(r.antisolvent))):
        rows = [r for r in plate_map.itertuples(index=False) if getattr(r, column) > 0]
        for comp in dict.fromkeys(comp_of(r) for r in rows):
            mine = [r for r in rows if comp_of(r) == comp]
            groups.append((column, comp, pipette_for(specs, min(getattr(r, column) for r in mine)), mine))
    return groups


def tip_budget(plan: PrepPlan, plate_map: pd.DataFrame, specs: dict[str, PipetteSpec]) -> dict[str, int]:
    """Tips ``prepare_plate`` picks up per pipette with ``specs`` mounted (a fault-free run)."""
    tips = {p: 0 for p in specs}
    for _, pip, _ in _premix_groups(plan, specs):
        tips[pip] += 1
    for pm in plan.premixes:
        tips[mix_pipette(specs, sum(pm.batch_uL.values()))[0]] += 1
    for _, _, pip, _ in _fill_groups(plate_map, specs):
        tips[pip] += 1
    for pm in plan.premixes:
        tips[choose_pipette(specs, pm.per_well_total_uL)] += len(pm.wells)
    return tips


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


def is_viscous(component: str) -> bool:
    return liquid_class_of({component: 1.0}) == "viscous"


def _shed(pipettor: Pipettor, pip: str, well: WellRef) -> Generator:
    """Blow out at the top of ``well`` and touch the tip off on its walls: no drop leaves with the tip."""
    yield from pipettor.blow_out(pip, well)
    yield from pipettor.touch_tip(pip, well)


def _move(pipettor: Pipettor, plan: PrepPlan, pip: str, component: str, volume_uL: float,
          dest: WellRef) -> Generator:
    """Move any volume (in chunks the tip can hold) of a stock into ``dest`` with ``pip``'s tip already attached.

    A viscous component (a neat ligand) is blown out and the tip touched off after every dispense.
    """
    max_uL = pipettor.pipettes[pip].max_uL
    n = math.ceil(volume_uL / max_uL - 1e-9)
    for _ in range(n):
        v = volume_uL / n
        yield from pipettor.aspirate(pip, _source(plan, component, v), v)
        yield from pipettor.dispense(pip, dest)
        if is_viscous(component):
            yield from _shed(pipettor, pip, dest)


def _check_mounts(pipettor: Pipettor, plan: PrepPlan) -> None:
    if sorted(pipettor.pipettes) != sorted(plan.pipettes):
        raise LayoutError(f"the deck plan has tips for {list(plan.pipettes)} but the pipettor mounts "
                          f"{sorted(pipettor.pipettes)}; fix: mount the plan's pipettes (pipettes=plan.pipettes) "
                          f"or plan with a layout whose tip_racks name the mounted pipettes")


def prepare_plate(pipettor: Pipettor, plan: PrepPlan, plate_map: pd.DataFrame) -> Generator:
    """The whole robot protocol: premix vials, antisolvent, Cs-oleate, then one precursor injection per well."""
    _check_mounts(pipettor, plan)
    specs = pipettor.pipettes
    yield from pipettor.home()
    # 1. premixed precursors: each stock with one tip across all vials (clean vials, same liquid)
    for comp, pip, pms in _premix_groups(plan, specs):
        yield from _ensure_tip(pipettor, pip)
        yield from pipettor.pick_up_tip(pip)
        for pm in pms:
            yield from _move(pipettor, plan, pip, comp, pm.batch_uL[comp], pm.vial)
        yield from pipettor.drop_tip(pip)
    for pm in plan.premixes:  # homogenise each vial (volumes from the plan, so the command stream is noise-free)
        pip, mix_uL = mix_pipette(specs, sum(pm.batch_uL.values()))
        yield from _ensure_tip(pipettor, pip)
        yield from pipettor.pick_up_tip(pip)
        yield from pipettor.mix(pip, pm.vial, 5, mix_uL)
        yield from pipettor.drop_tip(pip)
    # 2. antisolvent, then Cs-oleate, one tip per stock
    plate = plan.plate
    for column, comp, pip, rows in _fill_groups(plate_map, specs):
        yield from _ensure_tip(pipettor, pip)
        yield from pipettor.pick_up_tip(pip)
        for r in rows:
            yield from _move(pipettor, plan, pip, comp, getattr(r, column), plate[r.well])
        yield from pipettor.drop_tip(pip)
    # 3. inject each well's precursor (t=0), fresh tip, mix, blow out, touch tip
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
        yield from _shed(pipettor, pip, plate[r.well])
        yield from pipettor.drop_tip(pip)
