"""Campaigns per second of a sweep on 1 and 2 workers (process pool and Dask LocalCluster), scaling efficiency and the
executor's overhead per campaign.

Workload: ``--campaigns`` plates of ``--wells`` conditions (OAc:OLAm in toluene across amine_per_acid), ``--hours``
of reads every 10 min, the twin's Gaussian fits and per-well summaries, each campaign's parquet parts written by the
driving process.  Worker start-up is excluded (pools and clusters are warmed before the clock starts) and reported.

    efficiency  = rate(2 workers) / (2 x rate(1 worker))            target >= 0.8
    overhead    = (workers x wall - sum of campaigns' own wall) / campaigns, as % of a campaign's own wall  (< 10 %)

    python benchmarks/bench_sweep.py [--campaigns 16] [--wells 40] [--hours 12]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from twin.studies.sweep import _single_thread, run_sweep
from twin.studies.spec import load_spec


def _noop():
    return os.getpid()


def spec(campaigns: int, wells: int, hours: float):
    return load_spec({"name": "bench", "wells_per_plate": wells, "schedule": {"hours": hours},
                      "parameters": {"amine_per_acid": {"low": 0.05, "high": 2.0, "num": campaigns * wells}}})


def measure(executor, workers: int, s) -> dict:
    for f in [executor.submit(_noop) for _ in range(4 * workers)]:
        f.result()  # warm: every worker started and has imported nothing yet of ours; run one campaign each below
    with tempfile.TemporaryDirectory() as d:
        warm = load_spec(dict(s.model_dump(), parameters={"amine_per_acid": [1.0] * workers}, wells_per_plate=1))
        run_sweep(warm, f"{d}/warm", executor=executor, figure=False, progress=False)
        t0 = time.perf_counter()
        r = run_sweep(s, f"{d}/run", executor=executor, figure=False, progress=False)
        total = time.perf_counter() - t0
    m = r.manifest
    own, n, wall = m["campaign_wall_s_sum"], m["campaigns"], m["wall_s"]
    return dict(workers=workers, n=n, wall=wall, total=total, rate=n / wall, own_mean=own / n,
                overhead=(workers * wall - own) / n, fixed=m["plan_s"] + m["collect_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaigns", type=int, default=16)
    ap.add_argument("--wells", type=int, default=40)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    s = spec(args.campaigns, args.wells, args.hours)
    load = os.getloadavg()
    rows = []
    for workers in (1, 2):
        t0 = time.perf_counter()
        with ProcessPoolExecutor(workers, initializer=_single_thread) as pool:
            start = time.perf_counter() - t0
            rows.append(dict(measure(pool, workers, s), executor="process pool", start=start))
    if not args.no_dask:
        from distributed import Client, LocalCluster

        for workers in (1, 2):
            t0 = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=50) as cluster, Client(cluster) as client:
                start = time.perf_counter() - t0
                rows.append(dict(measure(client.get_executor(pure=False), workers, s), executor="dask LocalCluster",
                                 start=start))
    print(f"{args.campaigns} campaigns x {args.wells} wells x {args.hours:g} h on {os.cpu_count()} CPUs "
          f"(load average before: {load[0]:.2f}, after: {os.getloadavg()[0]:.2f})")
    print("wall s: dispatch to last part on disk; plan+collect s: once per sweep (spec checks, final tables)")
    print(f"{'executor':<18} {'workers':>7} {'start s':>7} {'wall s':>7} {'plan+collect s':>14} {'campaigns/s':>11} "
          f"{'campaign s':>10} {'overhead s':>10} {'overhead %':>10} {'efficiency':>10}")
    for r in rows:
        base = next(b for b in rows if b["executor"] == r["executor"] and b["workers"] == 1)
        eff = r["rate"] / (r["workers"] * base["rate"])
        print(f"{r['executor']:<18} {r['workers']:>7} {r['start']:>7.2f} {r['wall']:>7.2f} {r['fixed']:>14.2f} "
              f"{r['rate']:>11.2f} "
              f"{r['own_mean']:>10.3f} {r['overhead']:>10.3f} {100 * r['overhead'] / r['own_mean']:>10.1f} "
              f"{eff:>10.2f}")


if __name__ == "__main__":
    main()
