"""What-if: every antisolvent of the solvent table and acid/amine pairs by chain length, OAc:OLAm-style series."""

from __future__ import annotations

import pandas as pd

from chemistry import SOLVENTS
from scenarios import plates
from scenarios._whatif import emit, parser, summary
from scenarios.measure import run_plate_map

RATIOS = (0.1, 0.5, 1.0, 1.5, 2.0)
SOLVENTS_PER_DECK = 4  # each antisolvent needs its own reservoir and Cs-oleate stock: one plate per four
CHAIN_PAIRS = ("HexAc:HexAm", "OctAc:OctAm", "DecAc:DDAm", "OAc:OLAm")  # C6, C8, C10/C12, C18


def polarity_plate(solvents=tuple(SOLVENTS), pairs=CHAIN_PAIRS, ratios=RATIOS) -> pd.DataFrame:
    """OAc:OLAm 1:30 in every antisolvent, then every chain-length pair in toluene, each across ``ratios``."""
    parts = [plates.ligand_series(s, "OAc:OLAm", 30, ratios=ratios) for s in solvents]
    parts += [plates.ligand_series("toluene", p, 30, ratios=ratios) for p in pairs if p != "OAc:OLAm"]
    return plates.place(pd.concat(parts))


def polarity_sweep(seed: int = 0, hours: float = 12.0, solvents=tuple(SOLVENTS), pairs=CHAIN_PAIRS) -> pd.DataFrame:
    """Per condition: antisolvent (dielectric), pair, ratio, peak/FWHM/height at t0 and end, intensity retention
    and stability label, from twin campaigns (one plate per four antisolvents; chain-length pairs in toluene)."""
    solvents = list(solvents)
    chunks = [solvents[i : i + SOLVENTS_PER_DECK] for i in range(0, len(solvents), SOLVENTS_PER_DECK)]
    t = pd.concat([summary(run_plate_map(polarity_plate(chunk, pairs if k == 0 else ("OAc:OLAm",)),
                                         f"polarity-sweep-{k + 1}", seed=seed + k, hours=hours))
                   for k, chunk in enumerate(chunks)], ignore_index=True)
    t["dielectric"] = t["antisolvent"].map(lambda s: SOLVENTS[s].dielectric_constant)
    t["pair"] = t["acid"] + ":" + t["amine"]
    cols = ["antisolvent", "dielectric", "pair", "amine_per_acid", "peak_nm_t0", "peak_nm_end", "fwhm_nm_t0",
            "height_t0", "height_end", "intensity_retention", "stability"]
    return t[cols].sort_values(["pair", "dielectric", "amine_per_acid"], kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    args = parser(__doc__, 12.0).parse_args(argv)
    emit(polarity_sweep(args.seed, args.hours), args.out, "polarity_sweep")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
