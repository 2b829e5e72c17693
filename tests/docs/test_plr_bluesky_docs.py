"""The Python examples of docs/pylabrobot.md and docs/bluesky.md run as written (real pylabrobot, bluesky,
event-model), and say what the docs say they print."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.S)


@pytest.mark.parametrize("doc, index, says", [
    ("pylabrobot.md", 0, ["'OLAm': 0.509", "126 wavelengths, brightest at", "[0.04, 1.04, 2.04] h"]),
    ("bluesky.md", 0, ["generator larp_twin_campaign", "A1 peak per read (nm): [5"]),
    ("bluesky.md", 1, ["all valid: ['absorbance_spectrum', 'pl_spectrum', 'plate']"]),
])
def test_doc_example_runs_and_prints_what_the_doc_says(tmp_path, doc, index, says):
    code = blocks(doc)[index]
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    for text in says:
        assert text in r.stdout, (text, r.stdout[-1500:])
