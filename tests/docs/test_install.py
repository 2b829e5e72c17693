"""The README's install is what CI runs, and the constraints files pin a set pyproject.toml allows.

The slow path a new user hit (pip 23.2.1 backtracking for over 30 min) hides when CI upgrades pip first or installs
another way, so .ci/run must run the README's own commands, and the pins must cover every requirement."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _readme_setup_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(n): v.strip() for n, v in pins}


def _requirements(extras: set[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs, todo, seen = [Requirement(r) for r in project["dependencies"]], set(extras), set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for r in map(Requirement, project["optional-dependencies"][extra]):
            if canonicalize_name(r.name) == "larp-twin":
                todo |= set(r.extras) - seen
            else:
                reqs.append(r)
    return reqs


def test_readme_first_screen_has_two_setup_commands_and_ci_runs_them_verbatim():
    commands = _readme_setup_commands()
    assert commands == ["python -m pip install -c constraints.txt -e '.[dev]' && larp-twin run paper-toluene "
                        "--out results/paper-toluene", "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in commands:
        assert command in ci
    np2 = re.search(r"`(python -m pip install -c constraints-np2\.txt [^`]+)`",
                    (ROOT / "README.md").read_text(encoding="utf-8")).group(1)
    assert ".venv-np2/bin/" + np2 in ci
    commands_ci = [line for line in ci if not line.lstrip().startswith("#")]
    assert not [line for line in commands_ci if "pip install" in line and ("--upgrade" in line or " -U " in line)]


def test_constraints_pin_every_requirement_inside_its_range():
    for name, extras in (("constraints.txt", {"dev"}), ("constraints-np2.txt", {"sweep", "monitor", "test"})):
        pins = _pins(name)
        for req in _requirements(extras):
            key = canonicalize_name(req.name)
            assert key in pins, f"{name}: {req.name} is required but not pinned"
            assert req.specifier.contains(pins[key], prereleases=True), f"{name}: {req.name}=={pins[key]} vs {req}"
    assert _pins("constraints.txt")["numpy"].startswith("1.") and _pins("constraints-np2.txt")["numpy"].startswith("2.")
    assert "opentrons" in _pins("constraints.txt") and "opentrons" not in _pins("constraints-np2.txt")


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["license"] == "MIT"
    floor = [Requirement(r) for r in data["build-system"]["requires"] if r.startswith("setuptools")][0]
    assert not floor.specifier.contains("76.1") and floor.specifier.contains("77.0")
