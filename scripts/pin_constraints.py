"""Rewrite constraints.txt / constraints-np2.txt: pin every package pip resolves for the README's install commands.

Run after changing a dependency in pyproject.toml, with a current pip (its resolver takes seconds on the open
ranges; the pip Python 3.11.7 bundles took over 30 min), then run the tests on the new set before committing:

    python -m pip install -U pip && python scripts/pin_constraints.py [--only dev|np2]

Each file keeps its header comment; the pins are pip's own ``--dry-run --report`` resolution (``install`` entries)
for a fresh environment (``--ignore-installed``), so what is installed here does not leak in.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"dev": ("constraints.txt", ".[dev]"), "np2": ("constraints-np2.txt", ".[sweep,monitor,test]")}


def resolve(spec: str) -> dict[str, str]:
    """name -> version of every package pip would install for ``-e spec`` into an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), "-e", spec], cwd=ROOT, check=True)
        items = json.loads(report.read_text())["install"]
    pins = {re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(): i["metadata"]["version"] for i in items}
    pins.pop("larp-twin", None)
    return dict(sorted(pins.items()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(TARGETS))
    a = ap.parse_args(argv)
    for key, (name, spec) in TARGETS.items():
        if a.only and key != a.only:
            continue
        path = ROOT / name
        header = [line for line in path.read_text().splitlines() if line.startswith("#")] if path.exists() else []
        pins = resolve(spec)
        path.write_text("\n".join(header + [f"{n}=={v}" for n, v in pins.items()]) + "\n")
        print(f"{name}: {len(pins)} pins for -e '{spec}' (numpy {pins.get('numpy', '-')})")


if __name__ == "__main__":
    main()
