"""docs/optimize.md's examples run as written: an Optuna study driving the twin, single- and multi-objective."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "optimize.md"


def test_the_optuna_examples_run_and_find_feasible_wells(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0], f"{DOC}:python-1", "exec"), namespace)
    study = namespace["study"]
    assert len(study.trials) == 24 and study.best_value > 0  # a feasible well (every limit met) among 24
    assert set(study.best_params) == {"antisolvent", "pair", "amine_per_acid", "acid_per_pbbr2"}
    exec(compile(blocks[1], f"{DOC}:python-2", "exec"), namespace)
    front = namespace["study"].best_trials
    assert 1 <= len(front) <= 24 and all(len(t.values) == 4 for t in front)
    assert "wells on the Pareto front" in capsys.readouterr().out
