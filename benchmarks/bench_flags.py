"""Forecast flags: false alarms on fault-free twin plates and detection of faulted wells, over seeds.

    python benchmarks/bench_flags.py [--seeds 0-4] [--plates paper-toluene,plate-96] [--draws 48]

Per plate and seed: the twin runs the plate without faults and the records layer's flag step
(``twin.records.flags.flags_for_result``) judges its reads. A flagged well is a *false alarm* unless the twin's
chemistry failed it (``manifest.json`` ``failed_wells``: a missed or clogged injection the twin drew, which a flag
should catch; counted as a detection). Then ``scenarios/data/forecast_faults.yaml`` on paper-toluene: every well a
fault hit (a ``well_skipped`` event) must be flagged. Prints one line per run and the totals.
"""
from __future__ import annotations

import argparse
import time


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def run_one(name: str, seed: int, draws: int, faults=None) -> dict:
    from scenarios import build_campaign
    from twin.campaign import run_campaign
    from twin.forecast import flagged_wells
    from twin.records.flags import flags_for_result

    campaign = build_campaign(name)
    if faults is not None:
        from twin.faults import FaultPlan

        campaign = campaign.model_copy(update={"faults": FaultPlan.load(faults)})
    result = run_campaign(campaign, seed=seed, progress=False)
    t0 = time.perf_counter()
    flags = flags_for_result(result, draws=draws)
    wall = time.perf_counter() - t0
    plate = result.plate
    judged = [w for w, pb in zip(plate["well"], plate["pbbr2_uL"]) if pb > 0]
    failed = set(result.manifest.get("failed_wells", []))
    hit = {e["well"] for e in result.events if e.get("kind") == "well_skipped" and e.get("well")}
    flagged = set(flagged_wells(flags))
    return {"plate": name, "seed": seed, "wells": len(judged), "flagged": sorted(flagged),
            "false": sorted(flagged - failed - hit), "failed": sorted(failed), "failed_flagged": sorted(failed & flagged),
            "hit": sorted(hit), "hit_flagged": sorted(hit & flagged), "flag_s": wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--plates", default="paper-toluene,plate-96")
    ap.add_argument("--draws", type=int, default=None, help="Monte Carlo draws (default: twin.forecast.DRAWS)")
    ap.add_argument("--faults", default="scenarios/data/forecast_faults.yaml")
    args = ap.parse_args(argv)
    from twin.forecast import DRAWS

    draws = args.draws or DRAWS
    total = {"wells": 0, "false": 0, "failed": 0, "failed_flagged": 0, "hit": 0, "hit_flagged": 0}
    for name in args.plates.split(","):
        for seed in _seeds(args.seeds):
            r = run_one(name, seed, draws)
            for k in total:
                total[k] += r[k] if k == "wells" else len(r[k])
            print(f"{name:14s} seed {seed}: {len(r['false'])}/{r['wells']} false alarms {r['false']}; failed wells "
                  f"flagged {len(r['failed_flagged'])}/{len(r['failed'])} {r['failed']}; flags {r['flag_s']:.1f} s",
                  flush=True)
    for seed in _seeds(args.seeds):
        r = run_one("paper-toluene", seed, draws, faults=args.faults)
        total["hit"] += len(r["hit"])
        total["hit_flagged"] += len(r["hit_flagged"])
        print(f"paper-toluene + {args.faults} seed {seed}: faulted wells flagged {len(r['hit_flagged'])}/"
              f"{len(r['hit'])} {r['hit']}; other false alarms {r['false']}", flush=True)
    pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "n/a"  # noqa: E731
    print(f"false alarms: {total['false']} of {total['wells']} fault-free wells ({pct(total['false'], total['wells'])}"
          f"; target <= 2 %); the twin's failed wells flagged: {total['failed_flagged']} of {total['failed']}; "
          f"faulted wells flagged: {total['hit_flagged']} of {total['hit']} ({pct(total['hit_flagged'], total['hit'])}"
          f"; target 100 %); draws {draws}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
