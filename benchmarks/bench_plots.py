"""Seconds to draw a 96-well, 73-read campaign's per-group heatmaps and its feature trajectories (the figures
``larp-twin run`` writes), on the synthetic campaign of ``tests/twin/analysis/test_analysis_plots.py``.

    python benchmarks/bench_plots.py [--rounds 3]

Reported: the median over rounds of each figure set's wall seconds.  (Was a unit test's assertion, ``heatmaps < 8 s,
trajectories < 3 s``; a speed figure belongs here, where the machine's load is printed beside it.)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _synthetic_campaign():
    """The tests' synthetic campaign builder (one definition of it, in the test module)."""
    path = ROOT / "tests" / "twin" / "analysis" / "test_analysis_plots.py"
    spec = importlib.util.spec_from_file_location("_plots_spec", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.campaign


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from twin.analysis import plot_feature_trajectories, plot_heatmaps

    long, features, plate = _synthetic_campaign()(n_wells=96, n_reads=73, seed=1)
    groups = plate.set_index("well")["antisolvent"] + " " + (plate["amine_uL"] > 5).map(
        {True: "amine", False: "acid"}).to_numpy()
    heat, traj = [], []
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            plot_heatmaps(long, Path(d), group_by=groups)
            heat.append(time.perf_counter() - t)
            t = time.perf_counter()
            plot_feature_trajectories(features, Path(d) / "traj.png", group_by=groups)
            traj.append(time.perf_counter() - t)
    print(f"96 wells x 73 reads, {args.rounds} rounds, load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"heatmaps (8 groups)   median {statistics.median(heat):6.2f} s   (was asserted < 8 s)")
    print(f"feature trajectories  median {statistics.median(traj):6.2f} s   (was asserted < 3 s)")


if __name__ == "__main__":
    main()
