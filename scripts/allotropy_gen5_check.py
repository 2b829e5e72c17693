#!/usr/bin/env python
"""Run allotropy's Gen5 parser over Gen5 TXT exports and say, per file, what it made of them.

Evidence for ``docs/gen5_compatibility.md``. allotropy is **not** a dependency of larp-twin: run this with a separate
environment's Python, never the project's (allotropy pins its own pandas/numpy)::

    python -m venv /work/venv-allo && /work/venv-allo/bin/pip install allotropy
    /work/venv-allo/bin/python scripts/allotropy_gen5_check.py FILE.txt [FILE.txt ...]

Per file it prints ``OK`` with the number of measurement documents, the well count, the distinct spectra and the
calculated-data names, or ``FAIL`` with the exception and the allotropy source line that raised it. "distinct data
cubes" counts different data cubes (spectra, kinetic curves): a two-read spectrum export of 40 wells whose ASM holds
80 measurement documents but 40 distinct data cubes has lost a read.
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings


def _walk(obj, found: list[dict]) -> list[dict]:
    """Every dict in the ASM tree that is a measurement document (has a ``measurement identifier``)."""
    if isinstance(obj, dict):
        if "measurement identifier" in obj:
            found.append(obj)
        for v in obj.values():
            _walk(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, found)
    return found


def _calculated_names(obj, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        if "calculated data name" in obj:
            out.add(obj["calculated data name"])
        for v in obj.values():
            _calculated_names(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _calculated_names(v, out)
    return out


def check(path: str) -> str:
    from allotropy.parser_factory import Vendor
    from allotropy.to_allotrope import allotrope_from_file

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asm = allotrope_from_file(path, Vendor.AGILENT_GEN5)
    except Exception as exc:  # noqa: BLE001 - the point is to report whatever allotropy raises
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = frame.filename.split("site-packages/")[-1]
        return f"FAIL {path}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]} ({where}:{frame.lineno})"
    docs = _walk(asm, [])
    wells = {d.get("sample document", {}).get("location identifier") for d in docs}
    cubes = {json.dumps(v["data"]["measures"]) for d in docs for k, v in d.items() if k.endswith("data cube")}
    names = sorted(_calculated_names(asm, set()))
    return (f"OK   {path}: {len(docs)} measurement documents, {len(wells)} wells, {len(cubes)} distinct data cubes, "
            f"calculated data {names[:4]}{' ...' if len(names) > 4 else ''}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    try:
        import allotropy
    except ImportError:
        print("allotropy is not installed in this Python; see the docstring (use a separate venv)", file=sys.stderr)
        return 2
    from importlib.metadata import version

    print(f"allotropy {version('allotropy')} (module {allotropy.__file__})")
    lines = [check(p) for p in argv]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
