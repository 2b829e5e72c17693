"""Plate maps of the paper's experiments, built from the paper's design (Sanchez et al., Matter 2023).

Standard well: 150 uL antisolvent + 100 uL Cs-oleate (5 mM, same antisolvent) + 15 uL PbBr2/DMF (50 mM) premixed
with the acid (1:30 v/v acid:PbBr2 -> 0.5 uL; 1:15 -> 1.0 uL) and the amine at acid:amine 1:0.1 .. 1:2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.platemap import place  # noqa: F401  (scenarios build their plates with it)

#: the paper's acid:amine ratios, 1:0.1 .. 1:2 in steps of 0.1 (OLAm 10..200 against OAc 100)
PAPER_RATIOS = tuple(np.round(np.arange(1, 21) * 0.1, 1))
PAIRS = {"OAc:OLAm": ("OAc", "OLAm"), "OctAc:OctAm": ("OctAc", "OctAm")}
WELL_96 = dict(antisolvent_uL=150.0, cs_uL=100.0, pbbr2_uL=15.0)
#: volumes of the absorbance plate (``paper-chloroform-abs``): 30 % of WELL_96, ~80 uL a well, a 0.25 cm liquid
#: column instead of 0.83 cm, same concentrations. The full wells reach the reader's OD ceiling (4) below ~510 nm,
#: over the perovskite's absorption onset; at 30 % the OD stays under ~2 at 300-600 nm, so the onset and the first
#: excitonic peak (blue of the PL peak, by the Stokes shift and the exciton's binding) are read, not clipped
ABSORBANCE_SCALE = 0.3


def ligand_series(antisolvent: str, pair: str, acid_per_pbbr2: int, ratios=PAPER_RATIOS, scale: float = 1.0,
                  replicate: int = 1) -> pd.DataFrame:
    """Rows (without wells) for one antisolvent, ligand pair and acid:PbBr2 v/v (30 -> 1:30) across ratios.

    pair: a key of PAIRS or any "<acid>:<amine>" of the chemistry's ligand tables (e.g. "DecAc:DDAm")."""
    acid, amine = PAIRS.get(pair) or tuple(pair.split(":"))
    pbbr2 = WELL_96["pbbr2_uL"] * scale
    acid_uL = pbbr2 / acid_per_pbbr2
    rows = []
    for r in ratios:
        rows.append(dict(antisolvent=antisolvent, antisolvent_uL=WELL_96["antisolvent_uL"] * scale,
                         cs_uL=WELL_96["cs_uL"] * scale, pbbr2_uL=pbbr2, acid=acid, acid_uL=round(acid_uL, 6),
                         amine=amine, amine_uL=round(acid_uL * r, 6), amine_per_acid=float(r),
                         acid_to_pbbr2=f"1:{acid_per_pbbr2}", group=f"{antisolvent} {pair} 1:{acid_per_pbbr2}",
                         replicate=replicate))
    return pd.DataFrame(rows)


def blanks(n: int, antisolvent: str = "toluene", scale: float = 1.0) -> pd.DataFrame:
    """Antisolvent + Cs-oleate only: no precursor, a dark reference."""
    return pd.DataFrame([dict(antisolvent=antisolvent, antisolvent_uL=WELL_96["antisolvent_uL"] * scale,
                              cs_uL=WELL_96["cs_uL"] * scale, pbbr2_uL=0.0, acid="OAc", acid_uL=0.0, amine="OLAm",
                              amine_uL=0.0, amine_per_acid=np.nan, acid_to_pbbr2="", group=f"blank {antisolvent}",
                              replicate=1) for _ in range(n)])


def paper_series(antisolvent: str, pair: str, scale: float = 1.0) -> pd.DataFrame:
    """One of the paper's 40-well experiments: 20 ratios at 1:30 then 20 at 1:15, laid out as the lab's plate
    (ten wells a row: 1:30 1:0.1-1:1.0 in A1-A10 and 1:1.1-1:2.0 in B1-B10, real_data/chloroform_1to30_plate.csv;
    the 1:15 set in C1-D10), so well names mean the same compositions as in the lab's files. ``scale``: every
    volume times this (same concentrations, a shorter liquid column: see ``ABSORBANCE_SCALE``)."""
    return place(pd.concat([ligand_series(antisolvent, pair, 30, scale=scale),
                            ligand_series(antisolvent, pair, 15, scale=scale)]), per_row=10)


def full_96() -> pd.DataFrame:
    """A full 96-well plate: both antisolvents x both ligand pairs at 1:30 (80 wells), 1:15 OAc:OLAm in toluene for
    ratios 0.1-1.2 (12 wells) and 4 blanks."""
    parts = [ligand_series(s, p, 30) for s in ("toluene", "chloroform") for p in PAIRS]
    parts.append(ligand_series("toluene", "OAc:OLAm", 15, ratios=PAPER_RATIOS[:12]))
    parts.append(blanks(4))
    return place(pd.concat(parts))


def full_384() -> pd.DataFrame:
    """The paper's 160-condition design (2 antisolvents x 2 pairs x 2 acid:PbBr2 x 20 ratios) twice, plus 64 blanks,
    on a 384-well plate at 30 % of the 96-well volumes."""
    parts = [ligand_series(s, p, a, scale=0.3, replicate=k) for k in (1, 2) for s in ("toluene", "chloroform")
             for p in PAIRS for a in (30, 15)]
    parts += [blanks(32, "toluene", 0.3), blanks(32, "chloroform", 0.3)]
    return place(pd.concat(parts), 384)


#: the SHAP learning table's PbBr2 volumes against OAc 100 (300/200/150 -> 1:30, 1:20, 1:15): uL per 96-type well
SHAP_PBBR2_uL = {30: 15.0, 20: 10.0, 15: 7.5}


def pbbr2_series(antisolvent: str, pair: str, acid_per_pbbr2: int, acid_uL: float = 0.5, ratios=PAPER_RATIOS,
                 scale: float = 1.0) -> pd.DataFrame:
    """Rows with the acid volume fixed and the PbBr2/DMF volume set by acid:PbBr2 (the SHAP table's coding)."""
    rows = ligand_series(antisolvent, pair, 30, ratios=ratios, scale=scale)
    pbbr2 = acid_uL * acid_per_pbbr2 * scale
    rows["pbbr2_uL"] = round(pbbr2, 6)
    rows["acid_uL"] = round(acid_uL * scale, 6)
    rows["amine_uL"] = (rows["acid_uL"] * rows["amine_per_acid"]).round(6)
    rows["acid_to_pbbr2"] = f"1:{acid_per_pbbr2}"
    rows["group"] = f"{antisolvent} {pair} 1:{acid_per_pbbr2}"
    return rows


def shap_160(scale: float = 0.3) -> pd.DataFrame:
    """The 160-condition learning design (Fig. 4, S7), on a 384-well plate at ``scale`` x the 96-well volumes.

    Reconstructed from the paper's table coding (OAc fixed, OLAm 10..200, PbBr2 300/200/150, toluene or chloroform):
    OAc:OLAm x 20 ratios x {1:30, 1:20, 1:15} (PbBr2 varied, acid fixed) x {toluene, chloroform} = 120 wells, plus
    OctAc:OctAm x 20 ratios at 1:30 x {toluene, chloroform} = 40 wells.
    """
    parts = [pbbr2_series(s, "OAc:OLAm", a, scale=scale) for s in ("toluene", "chloroform") for a in (30, 20, 15)]
    parts += [pbbr2_series(s, "OctAc:OctAm", 30, scale=scale) for s in ("toluene", "chloroform")]
    return place(pd.concat(parts), 384)


def replicates(antisolvent: str, pair: str, amine_per_acid: float, n: int, acid_per_pbbr2: int = 30,
               plate_wells: int = 96) -> pd.DataFrame:
    """``n`` identical wells of one condition (replicate = 1..n), for scatter studies."""
    rows = pd.concat([ligand_series(antisolvent, pair, acid_per_pbbr2, ratios=(amine_per_acid,), replicate=k + 1)
                      for k in range(n)])
    return place(rows, plate_wells)
