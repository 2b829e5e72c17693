"""Wall time of the refusal of each hostile input (issue 20), in-process (the CLI's start-up not counted).

Each was a hang, a MemoryError or a RecursionError before; now each is a one-line ``larp-twin: error:``.  Prints the
seconds from the call to the error line, and the error.

    python benchmarks/bench_input_limits.py
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.cli import main

HEADER = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL"
ROW = "A1,toluene,150,100,15,OAc,0.5,OLAm,0.05"


def bomb(key: str) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghi"):
        lines.append(f"{key if name == 'i' else name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def files(root: Path) -> None:
    (root / "good.csv").write_text(f"{HEADER}\n{ROW}\n")
    (root / "bomb.yaml").write_text(bomb("faults"))
    (root / "wide.csv").write_text(HEADER + "," + ",".join(f"x{i}" for i in range(200_000)) + f"\n{ROW}\n")
    (root / "long.csv").write_text(f"{HEADER},group\n{ROW},{'x' * 140_000}\n")
    (root / "step.yaml").write_text("steps:\n  - type: pl_spectrum\n    emission_step_nm: 0.0001\n")
    pad, lines = "  ", ["steps:"]
    for _ in range(300):
        lines += [pad + "- type: kinetic", pad + "  interval_min: 5", pad + "  duration_min: 60", pad + "  steps:"]
        pad += "    "
    (root / "deep.yaml").write_text("\n".join(lines + [pad + "- type: pl_spectrum"]) + "\n")
    (root / "deep_run").mkdir()
    (root / "deep_run" / "campaign.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "garbage.txt").write_bytes(np.random.default_rng(0).integers(0, 256, 5_000_000, np.uint8).tobytes())
    os.mkfifo(root / "pipe.csv")


CASES = [
    ("YAML alias bomb as --faults", ["run", "good.csv", "--out", "o", "--hours", "0.5", "--faults", "bomb.yaml"]),
    ("plate map, 200,000 columns", ["run", "wide.csv", "--out", "o", "--hours", "0.5"]),
    ("plate map, a named pipe", ["run", "pipe.csv", "--out", "o", "--hours", "0.5"]),
    ("plate map, a 140,000-char cell", ["run", "long.csv", "--out", "o", "--hours", "0.5"]),
    ("procedure, 0.0001 nm step", ["run", "good.csv", "--out", "o", "--procedure", "step.yaml"]),
    ("procedure nested 300 deep", ["run", "good.csv", "--out", "o", "--procedure", "deep.yaml"]),
    ("campaign.json nested 100,000 deep", ["resume", "deep_run"]),
    ("inspect /dev/zero", ["inspect", "/dev/zero"]),
    ("fit /dev/urandom", ["fit", "/dev/urandom", "--out", "o"]),
    ("fit 5 MB of random bytes", ["fit", "garbage.txt", "--out", "o"]),
]


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files(root)
        old = os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                main(["scenarios"])  # imports warmed up, so the figures are the refusals themselves
            print(f"{'input':36s} {'exit':>4s} {'wall s':>7s}  error")
            for name, argv in CASES:
                err = io.StringIO()
                t0 = time.perf_counter()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main([*argv, "--quiet", "--no-figures"] if argv[0] in ("run", "resume") else argv)
                wall = time.perf_counter() - t0
                line = err.getvalue().strip().splitlines()[-1]
                print(f"{name:36s} {code:4d} {wall:7.3f}  {line[:110]}")
        finally:
            os.chdir(old)


if __name__ == "__main__":
    main_()
