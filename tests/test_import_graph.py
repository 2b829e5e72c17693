"""The import graph flows one way: chemistry <- instruments <- twin <- scenarios <- twin.monitor <- twin.cli, with no
cycles.

Inside ``twin`` the monitor (a web app over a run) and the CLI sit above everything else: the campaign, the records,
the studies and the analysis never import them, so a run, a sweep or a resume works without them (and
``twin/campaign.py`` in particular imports nothing from ``twin.monitor`` or ``twin.cli``).  Every ``import`` of a
project module (top level or inside a function) is an edge; a cycle between two modules, or an edge against the
direction of the layers, fails with the path that closes it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chemistry", "instruments", "twin", "scenarios")
# layer of each node; a module may import only from its own layer or lower ones
LAYERS = {"chemistry": 0, "instruments": 1, "twin": 2, "scenarios": 3, "twin.monitor": 4, "twin.cli": 5}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if parts[-1] != "__main__":
                out[name] = path
    return out


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` is an edge to the submodule when it is one, else to the package
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges[mod].add(t)
    return edges


def _layer(mod: str) -> int:
    """The layer of the longest prefix of ``mod`` that LAYERS names (``twin.cli.run`` -> ``twin.cli``)."""
    parts = mod.split(".")
    return next(LAYERS[p] for p in (".".join(parts[:i]) for i in range(len(parts), 0, -1)) if p in LAYERS)


def _reachable(edges: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or through others, with the path that reaches it."""
    paths, todo = {start: start}, [start]
    while todo:
        m = todo.pop()
        for n in sorted(edges.get(m, ())):
            if n not in paths:
                paths[n] = f"{paths[m]} -> {n}"
                todo.append(n)
    return paths


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_module_imports_a_higher_layer():
    edges = _edges(_modules())
    against = [f"{m} -> {t}" for m, ts in sorted(edges.items()) for t in sorted(ts) if _layer(t) > _layer(m)]
    assert not against, ("imports against chemistry <- instruments <- twin <- scenarios <- twin.monitor <- twin.cli: "
                         + "; ".join(against))


def test_the_campaign_imports_nothing_from_the_monitor_or_the_cli():
    paths = _reachable(_edges(_modules()), "twin.campaign")
    above = [path for mod, path in sorted(paths.items()) if _layer(mod) >= LAYERS["twin.monitor"]]
    assert not above, "twin.campaign reaches the monitor / CLI: " + "; ".join(above)


def test_the_checker_sees_an_import_against_the_layers():
    assert _layer("twin.cli.run") == 5 and _layer("twin.monitor.forecast") == 4 and _layer("twin.campaign") == 2
    assert _layer("scenarios.plates") == 3 and _layer("twin") == 2
    edges = {"twin.campaign": {"twin.records.flags"}, "twin.records.flags": {"twin.monitor.forecast"}}
    assert _reachable(edges, "twin.campaign")["twin.monitor.forecast"] == (
        "twin.campaign -> twin.records.flags -> twin.monitor.forecast")


def test_no_import_cycles_between_modules():
    cycle = _cycle(_edges(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
