"""Hostile input files (issue 20): small files that once hung the CLI or blew up its memory or stack.

Fixture ``hostile_dir``: a directory of them (made once).  Each must get a one-line ``larp-twin: error:`` (exit 2)
within seconds: ``test_input_limits`` runs each in a subprocess, ``test_property`` copies them into its world.  A
named pipe cannot be copied (opening it blocks), so each test makes its own (``os.mkfifo``) where it needs one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

HEADER = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL"
GOOD_ROW = "A1,toluene,150,100,15,OAc,0.5,OLAm,0.05"


def alias_bomb(key: str) -> str:
    """A "billion laughs" YAML document (~350 bytes): nine levels of nine aliases, 9**9 values once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, name in zip(names, names[1:]):
        lines.append(f"{key if name == 'i' else name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_procedure(levels: int = 300) -> str:
    """A procedure of kinetic loops nested ``levels`` deep (block YAML)."""
    out, pad = ["steps:"], "  "
    for _ in range(levels):
        out += [pad + "- type: kinetic", pad + "  interval_min: 5", pad + "  duration_min: 60", pad + "  steps:"]
        pad += "    "
    return "\n".join(out + [pad + "- type: pl_spectrum"]) + "\n"


def make_hostile_files(root: Path) -> dict[str, str]:
    """Write the hostile files into ``root``; returns name -> what it is."""
    root = Path(root)
    (root / "bomb.yaml").write_text(alias_bomb("faults"))
    (root / "bomb_procedure.yaml").write_text(alias_bomb("steps"))
    extra = ",".join(f"x{i}" for i in range(200_000))
    (root / "wide.csv").write_text(f"{HEADER},{extra}\n{GOOD_ROW}\n")  # 1.7 MB, 200,009 header columns
    (root / "longcell.csv").write_text(f"{HEADER},group\n{GOOD_ROW},{'x' * 140_000}\n")
    (root / "deep_procedure.yaml").write_text(deep_procedure(300))
    (root / "fine_step.yaml").write_text("steps:\n  - type: pl_spectrum\n    emission_step_nm: 0.0001\n")
    deep = root / "deep_campaign"
    deep.mkdir()
    (deep / "campaign.json").write_text("[" * 100_000 + "]" * 100_000)
    (deep / "journal.jsonl").write_text("")
    rng = np.random.default_rng(20)
    (root / "garbage.txt").write_bytes(rng.integers(0, 256, 5_000_000, dtype=np.uint8).tobytes())
    return {"bomb.yaml": "YAML alias bomb (fault plan)", "bomb_procedure.yaml": "YAML alias bomb (procedure)",
            "wide.csv": "200,000 header columns", "longcell.csv": "a 140,000-character label cell",
            "deep_procedure.yaml": "a procedure nested 300 deep", "fine_step.yaml": "a 0.0001 nm emission step",
            "deep_campaign": "campaign.json nested 100,000 deep", "garbage.txt": "5 MB of random bytes"}


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    make_hostile_files(root)
    return root
