"""A sweep's driver memory and wall time as the study grows, and campaigns per second on 1 and 2 workers.

Default (memory): for each ``--campaigns`` N (default 100 and 1,000), ``larp-twin sweep`` of N random 40-well
chloroform/toluene campaigns (12 h, reads every 10 min) on the local process pool, each N in a fresh driver process
(``--workers``, default the CPU count).  Printed side by side: the driver's peak RSS (its own ``ru_maxrss``, not the
workers'), the wall time from start to exit of the sweep, the part of it after the last campaign was written
(manifest and figure: what a merge used to cost) and the ratio of N's figures to the first N's.

    target: peak RSS(1,000) <= 1.3 x peak RSS(100); after-last-campaign time < 5 % of the wall

``--scaling``: campaigns per second on 1 and 2 workers (process pool and Dask LocalCluster), scaling efficiency and
the executor's overhead per campaign (worker start-up excluded and reported):

    efficiency  = rate(2 workers) / (2 x rate(1 worker))            target >= 0.8
    overhead    = (workers x wall - sum of campaigns' own wall) / campaigns, as % of a campaign's own wall  (< 10 %)

    python benchmarks/bench_sweep.py [--campaigns 100 1000] [--wells 40] [--hours 12]
    python benchmarks/bench_sweep.py --scaling [--campaigns 16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from twin.studies.sweep import _single_thread, run_sweep
from twin.studies.spec import load_spec


def _noop():
    return os.getpid()


def study(campaigns: int, wells: int, hours: float) -> dict:
    """The issue's study: random chloroform/toluene wells across amine_per_acid, ``wells`` per campaign."""
    return {"name": f"bench-{campaigns}", "design": "random", "n": campaigns * wells, "design_seed": 1,
            "wells_per_plate": wells, "schedule": {"hours": hours, "every_min": 10},
            "parameters": {"antisolvent": ["chloroform", "toluene"],
                           "amine_per_acid": {"low": 0.05, "high": 2.0}}}


def drive(spec_path: str, out: str, workers: int) -> None:
    """One sweep through the CLI in this (fresh) process; print its figures as JSON on the last line."""
    from twin.cli.main import main as cli

    t0 = time.perf_counter()
    code = cli(["sweep", spec_path, "--out", out, "--workers", str(workers), "--quiet"])
    total = time.perf_counter() - t0
    m = json.loads((Path(out) / "manifest.json").read_text())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"code": code, "total_s": total, "wall_s": m["wall_s"], "campaigns": m["finished"],
                      "rss_mb": rss_mb, "collect_s": m.get("collect_s", 0), "figure_s": m.get("figure_s", 0),
                      "after_s": total - m["wall_s"],
                      "plan_s": m.get("plan_s", 0)}))


def memory(counts: list[int], wells: int, hours: float, workers: int) -> None:
    rows = []
    load = os.getloadavg()
    for n in counts:
        with tempfile.TemporaryDirectory() as d:
            spec_path = Path(d) / "spec.json"
            spec_path.write_text(json.dumps(study(n, wells, hours)))
            proc = subprocess.run([sys.executable, __file__, "--drive", str(spec_path), f"{d}/out", str(workers)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"bench_sweep: the {n}-campaign driver failed:\n{proc.stderr[-2000:]}")
            rows.append(dict(json.loads(proc.stdout.strip().splitlines()[-1]), n=n))
            print(f"  {n} campaigns: {rows[-1]['rss_mb']:.0f} MB, {rows[-1]['total_s']:.1f} s", file=sys.stderr)
    print(f"driver peak RSS and wall of `larp-twin sweep`: random {wells}-well chloroform/toluene campaigns, "
          f"{hours:g} h every 10 min, {workers} workers on {os.cpu_count()} CPUs (load average before: {load[0]:.2f}, "
          f"after: {os.getloadavg()[0]:.2f})")
    print("wall: the CLI call; after last: wall minus dispatch-to-last-campaign-written (plan, manifest/merge, figure)")
    print(f"{'campaigns':>9} {'peak RSS MB':>11} {'x first':>7} {'wall s':>8} {'s/campaign':>10} "
          f"{'after last s':>12} {'merge s':>7} {'figure s':>8} {'after %':>7}")
    for r in rows:
        print(f"{r['n']:>9} {r['rss_mb']:>11.0f} {r['rss_mb'] / rows[0]['rss_mb']:>7.2f} {r['total_s']:>8.1f} "
              f"{r['total_s'] / r['n']:>10.3f} {r['after_s']:>12.2f} {r['collect_s']:>7.2f} {r['figure_s']:>8.2f} "
              f"{100 * r['after_s'] / r['total_s']:>7.1f}")


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
    ap.add_argument("--campaigns", type=int, nargs="+", default=None, help="study sizes (default 100 1000; "
                    "--scaling: 16)")
    ap.add_argument("--wells", type=int, default=40)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="memory mode: process-pool size")
    ap.add_argument("--scaling", action="store_true", help="campaigns/s on 1 and 2 workers instead")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--drive", nargs=3, metavar=("SPEC", "OUT", "WORKERS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        return drive(args.drive[0], args.drive[1], int(args.drive[2]))
    if not args.scaling:
        return memory(args.campaigns or [100, 1000], args.wells, args.hours, args.workers)
    args.campaigns = (args.campaigns or [16])[0]
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
