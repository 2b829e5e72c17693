"""Per-well chemical driving forces: the time-independent quantities every mechanism term reads.

Each function of the recipe here is one named, documented quantity (all arrays shaped (n_wells,)):

- proton transfer: acid + amine -> carboxylate + ammonium. Ion pairs = min(acid, amine); the amine in excess of
  the acid stays unprotonated ("free amine") and is what forms Pb-amine complexes (paper, Discussion of Fig 2 and S5);
- ligand amount per PbBr2: sets the reverse-micelle (RM) size and, above the 1:30 reference, the uncoordinated
  ligand excess of the paper's Le Chatelier argument (1:15 vs 1:30, Fig 2/S3);
- chain shortness: 0 for C18, 1 for C8 (weaker van der Waals, less rigid RMs, faster ligand exchange, Fig 3E-H/S5);
- antisolvent polarity on a scale where toluene = 0 and chloroform = 1 (dielectric constant and Snyder index
  blended), plus the DMF volume-fraction effect relative to the standard wells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .materials import SOLVENTS
from .parameters import LarpParameters
from .recipes import WellRecipes

REFERENCE_ACID_PER_PB = 0.5 * 0.895 / 282.5 * 1000.0 / (15.0 * 50.0e-3)
"""OAc per PbBr2 (mol/mol) in the reference well: 0.5 uL OAc against 15 uL of 50 mM PbBr2 (1:30 v/v)."""
REFERENCE_LIGAND_PER_PB = REFERENCE_ACID_PER_PB * (1.0 + 0.1 * (0.813 / 267.5) / (0.895 / 282.5))
"""Total ligand per PbBr2 in the reference well (OAc:OLAm 1:0.1 v/v)."""
SHORTNESS_CHAIN_C = (18.0, 10.0)
"""Chain length with shortness 0 (C18) and the number of carbons per unit shortness (C8 -> 1)."""


@dataclass(frozen=True)
class Drivers:
    """Time-independent per-well quantities (all float64 arrays shaped (n_wells,))."""

    has_precursor: np.ndarray  # bool: PbBr2 and Cs both present -> perovskite can form
    units_mM: np.ndarray  # perovskite-forming formula units min(Cs, Pb) per well volume, mM
    pb_mM: np.ndarray
    acid_per_pb: np.ndarray
    ligand_per_pb: np.ndarray
    ion_pair_share: np.ndarray  # protonated share of the acid: min(amine, acid)/acid, 0..1
    free_amine_per_pb: np.ndarray  # unprotonated amine per Pb (smooth max(amine - acid, 0) / Pb)
    amine_majority: np.ndarray  # 0 (acid majority) .. 1 (amine majority), switch at equimolar
    ligand_excess: np.ndarray  # log2(acid per Pb / reference); 1:15 -> ~1, 1:30 -> 0
    shortness: np.ndarray  # 0 for C18 chains, 1 for C8
    reactivity: np.ndarray  # amine reactivity relative to OLAm (short amines attack Pb more)
    polarity: np.ndarray  # antisolvent + DMF polarity, toluene = 0, chloroform = 1
    temperature_K: np.ndarray
    volume_uL: np.ndarray  # liquid in the well


def _shortness(n_carbons: np.ndarray) -> np.ndarray:
    c18, per_unit = SHORTNESS_CHAIN_C
    return np.clip((c18 - n_carbons) / per_unit, 0.0, 1.6)


def polarity_scale(dielectric_constant, polarity_index, dmf_fraction, params: LarpParameters) -> np.ndarray:
    """Antisolvent polarity with toluene = 0 and chloroform = 1, plus the DMF-fraction term."""
    tol, cf = SOLVENTS["toluene"], SOLVENTS["chloroform"]
    w = params.polarity_dielectric_weight
    eps = (np.asarray(dielectric_constant) - tol.dielectric_constant) / (cf.dielectric_constant - tol.dielectric_constant)
    snyder = (np.asarray(polarity_index) - tol.polarity_index) / (cf.polarity_index - tol.polarity_index)
    dmf = params.dmf_polarity * (np.asarray(dmf_fraction) - params.reference_dmf_fraction) / params.reference_dmf_fraction
    return np.clip(w * eps + (1.0 - w) * snyder + dmf, -1.0, 3.0)


def compute_drivers(recipes: WellRecipes, params: LarpParameters) -> Drivers:
    """Evaluate every per-well driving quantity once (vectorised over wells)."""
    pb = recipes.pbbr2_umol
    cs = recipes.cs_umol
    acid = recipes.acid_umol
    amine = recipes.amine_umol
    vol = recipes.total_uL
    has = (pb > 0) & (cs > 0) & (vol > 0)
    safe_pb = np.where(pb > 0, pb, 1.0)
    safe_vol = np.where(vol > 0, vol, 1.0)
    safe_acid = np.where(acid > 0, acid, 1e-12)

    units_mM = np.where(has, np.minimum(cs, pb) / safe_vol * 1e3, 0.0)
    excess = amine - acid
    width = params.free_amine_smoothing * np.maximum(acid, 1e-9)
    free_amine = 0.5 * (excess + np.sqrt(excess * excess + width * width))  # smooth max(amine - acid, 0)
    ln_ratio = np.log(np.maximum(amine, 1e-12) / safe_acid)
    amine_majority = 0.5 * (1.0 + np.tanh(ln_ratio / (2.0 * params.majority_width)))
    acid_per_pb = acid / safe_pb
    ligand_excess = np.log2(np.maximum(acid_per_pb, 1e-6) / REFERENCE_ACID_PER_PB)

    amine_short = _shortness(recipes.amine_n_carbons)
    mean_short = _shortness(0.5 * (recipes.acid_n_carbons + recipes.amine_n_carbons))
    return Drivers(
        has_precursor=has,
        units_mM=units_mM,
        pb_mM=np.where(has, pb / safe_vol * 1e3, 0.0),
        acid_per_pb=acid_per_pb,
        ligand_per_pb=(acid + amine) / safe_pb,
        ion_pair_share=np.minimum(amine, acid) / safe_acid * (acid > 0),
        free_amine_per_pb=free_amine / safe_pb,
        amine_majority=amine_majority,
        ligand_excess=ligand_excess,
        shortness=mean_short,
        reactivity=1.0 + params.amine_reactivity_shortness * amine_short,
        polarity=polarity_scale(recipes.dielectric_constant, recipes.polarity_index, recipes.dmf_fraction, params),
        temperature_K=recipes.temperature_C + 273.15,
        volume_uL=vol,
    )
