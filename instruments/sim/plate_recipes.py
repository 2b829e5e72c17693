"""Turn a plate's tracked well contents (what was actually dispensed) into the chemistry model's recipes.

Component names on the deck: antisolvents by name (``toluene``), Cs-oleate stocks as ``Cs-oleate/<solvent>``,
the lead stock as ``PbBr2/DMF``, neat ligands by abbreviation (``OAc``, ``OLAm``, ``OctAc``, ``OctAm``).
"""

from __future__ import annotations

import numpy as np

from chemistry import ACIDS, AMINES, SOLVENTS, WellRecipes
from instruments.labware import Labware
from instruments.pipettor import INJECTION_COMPONENT

CS_STOCK_PREFIX = "Cs-oleate/"


def cs_stock_name(solvent: str) -> str:
    """Deck component name of the Cs-oleate stock made up in ``solvent``."""
    return f"{CS_STOCK_PREFIX}{solvent}"


def _dominant(plate: Labware, names) -> tuple[np.ndarray, np.ndarray]:
    """Per well: the name with the largest volume among ``names`` ('' if none) and that volume."""
    names = list(names)
    if not names:
        return np.full(plate.n_wells, "", dtype=object), np.zeros(plate.n_wells)
    vols = np.stack([plate.component(n) for n in names])
    best = vols.argmax(axis=0)
    label = np.array(names, dtype=object)[best]
    vol = vols[best, np.arange(plate.n_wells)]
    label[vol <= 0] = ""
    return label, vol


def recipes_from_plate(plate: Labware, temperature_C: float = 25.0) -> WellRecipes:
    """Recipes of every well of ``plate`` from its contents; wells with no precursor come out dark."""
    solvent_names = [c for c in plate.contents if c in SOLVENTS]
    cs_names = [c for c in plate.contents if c.startswith(CS_STOCK_PREFIX)]
    solvent_total = {s: plate.component(s) + plate.component(cs_stock_name(s)) for s in SOLVENTS}
    present = [s for s in SOLVENTS if s in solvent_names or cs_stock_name(s) in cs_names]
    if present:
        stack = np.stack([solvent_total[s] for s in present])
        antisolvent = np.array(present, dtype=object)[stack.argmax(axis=0)]
    else:
        antisolvent = np.full(plate.n_wells, "toluene", dtype=object)
    antisolvent_uL = np.zeros(plate.n_wells)
    for s in present:
        antisolvent_uL += np.where(antisolvent == s, plate.component(s), 0.0)
    cs_uL = np.zeros(plate.n_wells)
    for c in cs_names:
        cs_uL += plate.component(c)
    acid, acid_uL = _dominant(plate, [c for c in plate.contents if c in ACIDS])
    amine, amine_uL = _dominant(plate, [c for c in plate.contents if c in AMINES])
    acid[acid == ""] = next(iter(ACIDS))
    amine[amine == ""] = next(iter(AMINES))
    return WellRecipes.from_volumes(
        antisolvent=list(antisolvent), antisolvent_uL=antisolvent_uL, cs_uL=cs_uL,
        pbbr2_uL=plate.component(INJECTION_COMPONENT), acid=list(acid), acid_uL=acid_uL,
        amine=list(amine), amine_uL=amine_uL, temperature_C=temperature_C,
    )
