"""Closed-loop optimisation on the twin: plates to target and final best per strategy on a fixed budget, and wall time
per plate (the strategy's proposal separately from the campaign).

Workload: every strategy (bo, random, grid) x ``--seeds`` loops of ``--plates`` plates x ``--plate-size`` wells over
the default search space (antisolvent x ligand pair x amine_per_acid x acid_per_pbbr2), ``--hours`` of reads every
10 min, scored by the default EmissionObjective.  The target is 90 % of the best score any loop found (or
``--target``).  Loops run one after another in this process by default so per-plate times are not contended; use
``--workers 2`` for the campaign's wall time on a pool.

    python benchmarks/bench_optimize.py [--plates 6] [--plate-size 24] [--hours 12] [--seeds 0 1 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.config import Schedule
from twin.studies.optimize import STRATEGIES, EmissionObjective, PlateRunner, SearchSpace, run_loops, summarize_loops


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=6)
    ap.add_argument("--plate-size", type=int, default=24)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    objective = EmissionObjective()
    runner = PlateRunner(schedule=Schedule(hours=a.hours), name="bench")
    t0 = time.perf_counter()
    loops = run_loops(SearchSpace(), a.plates, a.plate_size, a.seeds, STRATEGIES, objective=objective,
                      runner=runner, max_workers=a.workers)
    wall = time.perf_counter() - t0
    runs, report = summarize_loops(loops, a.target)
    target = report["target"].iloc[0]
    print(f"budget: {a.plates} plates x {a.plate_size} wells, {a.hours:g} h, seeds {a.seeds}, {a.workers} worker(s); "
          f"target {target:.4g} ({'given' if a.target else '90 % of best found'}); campaign wall {wall:.1f} s")
    print(f"{'strategy':<8} {'plates to target (per seed)':<28} {'median':>6} {'final best (mean)':>18} "
          f"{'proposal s/plate':>17} {'campaign s/plate':>17} {'feasible':>9}")
    for r in report.itertuples():
        per_seed = " ".join(f"{p:g}" if np.isfinite(p) else f">{a.plates}" for p in r.plates_to_target)
        median = f"{r.median_plates_to_target:g}" if r.median_plates_to_target <= a.plates else f">{a.plates}"
        print(f"{r.strategy:<8} {per_seed:<28} {median:>6} {r.mean_final_best:>18.5g} {r.ask_s_per_plate:>17.3f} "
              f"{r.run_s_per_plate:>17.3f} {100 * r.feasible_fraction:>8.1f}%")
    bo = runs[runs["strategy"] == "bo"].groupby("plate")["ask_s"].mean()
    print("bo proposal s by plate (mean over seeds): " + " ".join(f"{v:.2f}" for v in bo))
    per_plate = wall / (len(loops) * a.plates)
    print(f"wall per plate overall: {per_plate:.2f} s (proposal + campaign + scoring, {len(loops)} loops)")


if __name__ == "__main__":
    main()
