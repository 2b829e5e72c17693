"""The project's standard wells (paper protocol scaled to a 360 uL well) as ready-made recipes.

150 uL antisolvent + 100 uL Cs-oleate stock + 15 uL PbBr2/DMF + neat acid (1:30 acid:PbBr2 v/v -> 0.5 uL; 1:15 ->
1.0 uL) + amine = acid x (acid:amine ratio, the paper's 1:0.1 .. 1:2). The reference bright well, whose t = 0 peak
height defines 1.0 of the model's intensity scale, is toluene, OAc:OLAm 1:0.1, 1:30.
"""

from __future__ import annotations

import numpy as np

from .recipes import WellRecipes

STANDARD_ANTISOLVENT_uL = 150.0
STANDARD_CS_uL = 100.0
STANDARD_PBBR2_uL = 15.0
AMINE_PER_ACID_SERIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0)
"""Acid:amine volume ratios 1:r used by the paper's plates and the project's scenarios."""
LIGAND_PAIRS = {"C18": ("OAc", "OLAm"), "C8": ("OctAc", "OctAm")}


def standard_recipes(amine_per_acid, antisolvent="toluene", ligands: str = "C18", acid_per_pbbr2: float = 1 / 30,
                     temperature_C=25.0) -> WellRecipes:
    """Standard wells for a list of acid:amine volume ratios (1:r) with one antisolvent and ligand pair.

    ligands: "C18" (OAc/OLAm) or "C8" (OctAc/OctAm); acid_per_pbbr2: neat acid per PbBr2 solution, v/v (1/30, 1/15).
    """
    r = np.atleast_1d(np.asarray(amine_per_acid, dtype=np.float64))
    acid, amine = LIGAND_PAIRS[ligands]
    acid_uL = STANDARD_PBBR2_uL * acid_per_pbbr2
    return WellRecipes.from_volumes(
        antisolvent=antisolvent, antisolvent_uL=np.full(r.shape, STANDARD_ANTISOLVENT_uL),
        cs_uL=STANDARD_CS_uL, pbbr2_uL=STANDARD_PBBR2_uL, acid=acid, acid_uL=acid_uL,
        amine=amine, amine_uL=acid_uL * r, temperature_C=temperature_C)


def reference_recipe() -> WellRecipes:
    """The reference bright well: toluene, OAc:OLAm 1:0.1, acid:PbBr2 1:30 v/v, standard volumes."""
    return standard_recipes([0.1])
