"""Every module, function, class and repository file that README.md and docs/*.md name in backticks exists.

A doc that names ``twin.cli.main.cmd_fit`` after it was removed, or ``benchmarks/bench_x.py`` after a rename, sends a
reader to nothing.  Checked, in inline code spans (fenced blocks are commands and outputs, not names):

- dotted names rooted in one of the project's packages (``twin.outdir.check_target``, ``chemistry.LarpModel``,
  ``twin.cli.run_command``): the longest importable module prefix is imported and the rest looked up on it;
- calls such as ``read_gen5_spectra(path)`` or ``Clock(factor=...)``: dotted ones as above, bare ones must be defined
  (``def`` / ``class`` / a module-level assignment) somewhere in the project's packages, scripts or benchmarks;
- ``path/file.py:name``: the file exists and defines ``name``;
- paths whose first part is a top-level entry of the repository (``twin/``, ``docs/``, ``scenarios/data/``, ...).

Not checked: paths rooted elsewhere (outputs such as ``results/study``, other projects' files), bare file names (no
place to resolve them: docs name the repository's files by path), and the ``docs/*_facts.md`` source notes, which
name files of the other repositories they were written from (PyLabRobot, allotropy ...).
"""

from __future__ import annotations

import builtins
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.endswith("_facts.md"))]
PACKAGES = ("chemistry", "instruments", "twin", "scenarios")
#: the repository's own top-level folders and files; what .gitignore lists (``results/``, made by the README's first
#: command, ``.venv-np2/``) is output, not the repository's, whether or not it exists at the moment
IGNORED = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip()}
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") and p.name not in IGNORED} | {".ci"}
SOURCES = [p for d in (*PACKAGES, "scripts", "benchmarks") for p in (ROOT / d).rglob("*.py")]

IDENT = r"[A-Za-z_]\w*"
DOTTED = re.compile(rf"^({IDENT}(?:\.{IDENT})+)$")
CALL = re.compile(rf"^({IDENT}(?:\.{IDENT})*)\(.*\)$", re.S)
FILE_NAME = re.compile(rf"^((?:[\w.-]+/)*[\w.-]+\.py):({IDENT})$")
PATH = re.compile(r"^\.?[\w.-]+(?:/[\w.*-]*)+$")


def code_spans(text: str) -> list[tuple[int, str]]:
    """(line number, content) of each inline code span outside fenced blocks."""
    spans, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            spans += [(n, m.group(1)) for m in re.finditer(r"`([^`\n]+)`", line)]
    return spans


@cache
def defined_names() -> frozenset[str]:
    """Names defined at any level in the project's sources (def, class, or NAME = at the start of a line)."""
    names = set()
    pattern = re.compile(rf"^\s*(?:async\s+def|def|class)\s+({IDENT})|^({IDENT})\s*[:=]", re.M)
    for p in SOURCES:
        for m in pattern.finditer(p.read_text(encoding="utf-8")):
            names.add(m.group(1) or m.group(2))
    return frozenset(names)


def resolve_dotted(name: str) -> str | None:
    """None if ``name`` resolves to a module or an attribute of one; else what is missing."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for j, attr in enumerate(parts[i:], i):
            if not hasattr(obj, attr):
                return f"{'.'.join(parts[:j])} has no {attr!r}"
            obj = getattr(obj, attr)
        return None
    return f"no module {parts[0]!r}"


def problem(span: str) -> str | None:
    """What is wrong with a name or path in ``span`` (None: it exists, or it is not a name we check)."""
    span = span.strip()
    m = FILE_NAME.match(span)
    if m:
        path = ROOT / m.group(1)
        if not path.is_file():
            return f"no file {m.group(1)}"
        if not re.search(rf"^\s*(?:def|class)\s+{m.group(2)}\b|^{m.group(2)}\s*[:=]", path.read_text(), re.M):
            return f"{m.group(1)} defines no {m.group(2)!r}"
        return None
    m = CALL.match(span)
    if m:
        name = m.group(1)
        if "." in name:
            return resolve_dotted(name) if name.split(".")[0] in PACKAGES else None
        return None if name in defined_names() or name in dir(builtins) else f"nothing defines {name}()"
    m = DOTTED.match(span)
    if m and span.split(".")[0] in PACKAGES:
        return resolve_dotted(span)
    if " " in span:  # a command: its repository paths and its ``python -m`` module
        words = span.split()
        modules = [b for a, b in zip(words, words[1:]) if a == "-m" and b.split(".")[0] in PACKAGES]
        return next((why for why in [*map(resolve_dotted, modules), *map(problem, words)] if why), None)
    if PATH.match(span):
        if span.lstrip("./").split("/")[0] in TOP:
            if "*" in span:
                return None if list(ROOT.glob(span.rstrip("/"))) else f"nothing matches {span}"
            return None if (ROOT / span.rstrip("/")).exists() else f"no {span} in the repository"
    return None


def test_the_checker_finds_what_is_missing_and_accepts_what_exists():
    assert problem("twin.cli.main.cmd_fit") == "twin.cli.main has no 'cmd_fit'"
    assert problem("twin.outdir.check_target") is None and problem("twin.outdir") is None
    assert problem("read_gen5_spectra(path)") is None and problem("no_such_function(x)") is not None
    assert problem("twin/cli/run.py:cmd_run") is None and problem("twin/cli/run.py:gone") is not None
    assert problem("benchmarks/bench_sweep.py") is None and problem("benchmarks/bench_gone.py") is not None
    assert problem("pd.read_csv(path, header=None)") is None  # not ours
    assert problem("results/study") is None  # an output path, not the repository's
    assert problem("python -m scenarios.timing_study") is None and problem("python -m scenarios.gone") is not None
    assert problem("python benchmarks/bench_gone.py --campaigns 100") is not None
    assert code_spans("a `x.y` b\n```\n`not.this`\n```\n`z`") == [(1, "x.y"), (5, "z")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_name_a_doc_gives_exists(doc):
    missing = [f"{doc.name}:{n}: `{span}`: {why}" for n, span in code_spans(doc.read_text(encoding="utf-8"))
               if (why := problem(span))]
    assert not missing, "\n".join(missing)
