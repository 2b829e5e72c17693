"""Wall time of the paper's toluene plate through PyLabRobot (``scenarios.pylabrobot_demo``) beside ``larp-twin run``
of the same plate map (the demo includes writing reads.csv, dispenses.csv and the figure).

    python benchmarks/bench_pylabrobot.py [--repeat 2]

The issue's target: the demo in under a minute for 12 virtual hours.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from scenarios import build_campaign
    from scenarios.pylabrobot_demo import campaign
    from twin.campaign import run_campaign

    demo, twin = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            figures = asyncio.run(campaign(Path(tmp) / "plr", seed=0, hours=12.0))
            demo.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_campaign(build_campaign("paper-toluene"), seed=0, progress=False)
        twin.append(time.perf_counter() - t0)
    print(f"pylabrobot_demo: {figures['reads']} reads, {figures['virtual_h']:.2f} virtual h in "
          f"{min(demo):.1f} wall s (best of {args.repeat}; reads.csv, dispenses.csv and the figure included)")
    print(f"larp-twin run's campaign (no export): {min(twin):.1f} wall s")


if __name__ == "__main__":
    main()
