"""One large study on a Dask ``LocalCluster``: driver peak RSS, wall and campaigns per second.

The issue-24 study (random 40-well chloroform/toluene campaigns, 12 h, reads every 10 min, as in ``bench_sweep.py``)
run by ``run_sweep(..., scheduler=client)`` on a fresh ``LocalCluster`` of ``--workers`` single-threaded worker
processes.  The driver's RSS is its own ``ru_maxrss`` (the workers are separate processes); it is sampled too, after
each tenth of the campaigns, to show it stays flat while the study grows.  A benchmark, not a test: 10,000
campaigns take about half an hour on 2 cores.

    python benchmarks/bench_sweep_dask.py --campaigns 10000 [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

from bench_sweep import study


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaigns", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--wells", type=int, default=40)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--out", default=None, help="output directory (default: a temporary one, removed)")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    from twin.studies.sweep import done_campaigns, run_sweep

    samples: list[tuple[float, int, float]] = []
    stop = threading.Event()

    def sample(out: Path, t0: float) -> None:
        while not stop.wait(30):
            n = sum(1 for _ in (out / "summary").rglob("*.parquet")) if (out / "summary").exists() else 0
            samples.append((time.perf_counter() - t0, n, _current_rss_mb()))

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or Path(tmp) / "out")
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            t0 = time.perf_counter()
            watcher = threading.Thread(target=sample, args=(out, t0), daemon=True)
            watcher.start()
            result = run_sweep(study(args.campaigns, args.wells, args.hours), out, scheduler=client,
                               progress=False, figure=True)
            wall = time.perf_counter() - t0
            stop.set()
        manifest = json.loads((out / "manifest.json").read_text())
        finished = len(done_campaigns(out))
    print(f"Dask LocalCluster, {args.workers} workers x 1 thread: {args.campaigns} random {args.wells}-well campaigns "
          f"({args.hours:g} h, every 10 min)")
    print(f"  finished {finished}, wall {wall:.0f} s ({finished / wall:.2f} campaigns/s), "
          f"sweep wall_s {manifest['wall_s']:.0f} s, after the last campaign {wall - manifest['wall_s']:.1f} s")
    print(f"  driver peak RSS {_rss_mb():.0f} MB")
    for t, n, rss in samples[:: max(1, len(samples) // 10)]:
        print(f"    t={t:6.0f} s  parts on disk {n:6d}  driver RSS {rss:6.0f} MB")
    print(json.dumps({"campaigns": finished, "wall_s": wall, "rss_mb": _rss_mb(), "result": str(type(result))}))


if __name__ == "__main__":
    main()
