#!/usr/bin/env python
"""Wall time of one LarpModel.spectra() call: 384 wells x 73 times x 126 wavelengths (400..650 nm, 2 nm).

A full 384-well plate of mixed recipes (toluene/chloroform, C18/C8, 1:30/1:15, the 13 acid:amine ratios) read every
10 min for 12 h. Prints the best and median of several repeats; target: well under 100 ms on 2 cores.

    python benchmarks/bench_chemistry.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chemistry import AMINE_PER_ACID_SERIES, LarpModel, WellRecipes  # noqa: E402

N_WELLS, N_TIMES = 384, 73
WAVELENGTH_NM = np.arange(400.0, 651.0, 2.0)


def plate() -> WellRecipes:
    """384 wells cycling through solvents, ligand pairs, ligand:PbBr2 ratios and acid:amine ratios."""
    i = np.arange(N_WELLS)
    ratio = np.array(AMINE_PER_ACID_SERIES)[i % len(AMINE_PER_ACID_SERIES)]
    solvent = np.where((i // 13) % 2 == 0, "toluene", "chloroform")
    c8 = (i // 26) % 2 == 1
    acid_uL = np.where((i // 52) % 2 == 0, 0.5, 1.0)
    return WellRecipes.from_volumes(
        antisolvent=list(solvent), antisolvent_uL=np.full(N_WELLS, 150.0), cs_uL=100.0, pbbr2_uL=15.0,
        acid=["OctAc" if c else "OAc" for c in c8], acid_uL=acid_uL,
        amine=["OctAm" if c else "OLAm" for c in c8], amine_uL=acid_uL * ratio)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    model = LarpModel()
    recipes = plate()
    ages = np.arange(N_TIMES) * 10.0 + np.linspace(0.0, 8.0, N_WELLS)[:, None]  # dispensing stagger
    batch = model.sample_batch(N_WELLS, np.random.default_rng(0))
    model.spectra(recipes, ages, WAVELENGTH_NM, batch)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = model.spectra(recipes, ages, WAVELENGTH_NM, batch)
        times.append((time.perf_counter() - t0) * 1e3)
    times = np.array(times)
    print(f"spectra(): {N_WELLS} wells x {N_TIMES} times x {WAVELENGTH_NM.size} wavelengths -> {out.shape} float64")
    print(f"wall ms: best {times.min():.1f}, median {np.median(times):.1f} over {args.repeats} calls")
    t0 = time.perf_counter()
    model.state(recipes, ages, batch)
    print(f"state(): {(time.perf_counter() - t0) * 1e3:.1f} ms")
    t0 = time.perf_counter()
    for seed in range(5):
        model.sample_batch(N_WELLS, np.random.default_rng(seed), recipes=recipes)
    print(f"sample_batch(recipes=...): {(time.perf_counter() - t0) / 5 * 1e3:.1f} ms per plate (one Generator per well, "
          "keyed by its recipe)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
