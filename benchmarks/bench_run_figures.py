"""Whole-process ``larp-twin run paper-toluene --out D`` (figures included): this tree vs a base commit, side by side.

    python benchmarks/bench_run_figures.py                # base = 2afcb19 (before issue 14), 5 rounds
    python benchmarks/bench_run_figures.py --base HEAD~3 --rounds 7

The base commit is unpacked with ``git archive`` into a temp dir; both trees are byte-compiled first (as ``pip
install`` leaves a package: otherwise, with ``PYTHONDONTWRITEBYTECODE`` set, every run compiles the project's
sources again, about 0.2 s each; ``--no-compile`` measures that way, on fresh copies of both) and run once to warm
the file cache. Each round runs the base and this tree one after the other (alternating which goes first), so both
see the same machine load. Reported: median wall seconds and median CPU seconds (user + sys of the process and its
children) per tree, and their ratios.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


PACKAGES = ("chemistry", "instruments", "twin", "scenarios")


def _compile(tree: Path) -> None:
    """Byte-compile the project's packages in ``tree`` (``__pycache__``, ignored by git)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *[str(tree / p) for p in PACKAGES]], check=True,
                   stdout=subprocess.DEVNULL)


def _once(tree: Path, out: Path, scenario: str) -> tuple[float, float]:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "twin.cli", "run", scenario, "--out", str(out), "--quiet"], cwd=tree,
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="2afcb19", help="git revision to compare against (default: before issue 14)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scenario", default="paper-toluene")
    ap.add_argument("--no-compile", action="store_true", help="do not byte-compile the trees first (with "
                    "PYTHONDONTWRITEBYTECODE set, every run then compiles the project's sources)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-run-figures-") as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        this = ROOT
        if args.no_compile:  # a copy without the __pycache__ this tree may hold, as fresh as the base's
            import shutil

            this = tmp / "this"
            for pkg in PACKAGES:
                shutil.copytree(ROOT / pkg, this / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        trees = {f"base {args.base}": base, "this tree": this}
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
        for name, tree in trees.items():  # compiled and run once: warm file cache, no source compiled in a round
            if not args.no_compile:
                _compile(tree)
            _once(tree, tmp / f"warm-{name[:4]}", args.scenario)
        for r in range(args.rounds):
            names = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in names:
                results[name].append(_once(trees[name], tmp / f"out-{r}-{name[:4]}", args.scenario))
        print(f"`larp-twin run {args.scenario} --out D` (figures included), {args.rounds} rounds, "
              f"{os.cpu_count()} CPUs, {'sources not byte-compiled' if args.no_compile else 'byte-compiled'}")
        print(f"{'tree':<18} {'wall s (median)':>16} {'cpu s (median)':>15}")
        med = {}
        for name, rows in results.items():
            med[name] = (statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows))
            print(f"{name:<18} {med[name][0]:>16.2f} {med[name][1]:>15.2f}")
        (bw, bc), (nw, nc) = med[f"base {args.base}"], med["this tree"]
        print(f"speed-up: wall {bw / nw:.2f}x, cpu {bc / nc:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
