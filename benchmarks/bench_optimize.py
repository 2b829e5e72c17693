"""Closed-loop strategies side by side: plates to an absolute target and proposal time per plate, over seeds.

Every strategy (Optuna TPE, our GP-EI, random, grid) runs the same loops: ``--plates`` plates x ``--plate-size``
wells over the default search space (antisolvent x ligand pair x log amine_per_acid x log acid_per_pbbr2), ``--hours``
of reads every 10 min, scored by the default EmissionObjective (a desirability of peak, FWHM, retention and
brightness, 0-1).  The target is absolute (the objective's 0.8, or ``--target``), the same for every loop.  Also
printed: where each strategy's best well sits in the space (0 = the range's low end, 1 = its high end, log-scaled),
so a space whose optimum is on its boundary shows.  Loops run one after another in this process by default so
per-plate times are not contended; ``--workers 2`` for a pool.  On 2 shared cores, nice it:

    nice -n 10 python benchmarks/bench_optimize.py [--plates 6] [--plate-size 24] [--hours 12] [--every-min 10]
                                                   [--seeds 0 1 2 3 4] [--strategies tpe bo random grid]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.config import Schedule
from twin.studies.optimize import STRATEGIES, EmissionObjective, PlateRunner, SearchSpace, run_loops, summarize_loops
from twin.studies.spec import Range


def _unit(space: SearchSpace, name: str, x: float) -> float:
    """Position of ``x`` in the range of ``name``: 0 at low, 1 at high (log-scaled if the range is)."""
    v = space.parameters[name]
    f = np.log if v.log else (lambda z: z)
    return float((f(x) - f(v.low)) / (f(v.high) - f(v.low)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=6)
    ap.add_argument("--plate-size", type=int, default=24)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--every-min", type=float, default=10.0, help="minutes between reads (60: same end-of-run "
                    "features from 6x fewer reads, for a shared machine)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    objective, space = EmissionObjective(), SearchSpace()
    runner = PlateRunner(schedule=Schedule(hours=a.hours, every_min=a.every_min), name="bench")
    t0 = time.perf_counter()
    loops = run_loops(space, a.plates, a.plate_size, a.seeds, a.strategies, objective=objective,
                      runner=runner, max_workers=a.workers)
    wall = time.perf_counter() - t0
    target = objective.target if a.target is None else a.target
    runs, report = summarize_loops(loops, target)
    print(f"budget: {a.plates} plates x {a.plate_size} wells, {a.hours:g} h every {a.every_min:g} min, seeds "
          f"{a.seeds}, {a.workers} worker(s); "
          f"target score {target:g} ({'given' if a.target else 'the objective default'}); wall {wall:.0f} s")
    print(f"{'strategy':<8} {'plates to target (per seed)':<28} {'median':>6} {'reached':>7} {'final best':>10} "
          f"{'proposal s/plate':>16} {'campaign s/plate':>16} {'feasible':>8}")
    for r in report.itertuples():
        per_seed = " ".join(f"{p:g}" if np.isfinite(p) else f">{a.plates}" for p in r.plates_to_target)
        median = f"{r.median_plates_to_target:g}" if r.median_plates_to_target <= a.plates else f">{a.plates}"
        print(f"{r.strategy:<8} {per_seed:<28} {median:>6} {r.reached:>4}/{r.seeds:<2} {r.mean_final_best:>10.3f} "
              f"{r.ask_s_per_plate:>16.3f} {r.run_s_per_plate:>16.3f} {100 * r.feasible_fraction:>7.1f}%")
    ranges = [k for k, v in space.parameters.items() if isinstance(v, Range)]
    print("best well per loop, position in the range (0 = low end, 1 = high end): "
          + ", ".join(f"{k} [{space.parameters[k].low:g}, {space.parameters[k].high:g}]" for k in ranges))
    for s in dict.fromkeys(lp.strategy for lp in loops):
        pos = [[_unit(space, k, lp.result.best[k]) for k in ranges] for lp in loops if lp.strategy == s]
        cols = np.array(pos).T  # one row per range
        print(f"  {s:<8} " + "; ".join(f"{k} median {np.median(c):.2f} (min {c.min():.2f}, max {c.max():.2f})"
                                       for k, c in zip(ranges, cols)))


if __name__ == "__main__":
    main()
