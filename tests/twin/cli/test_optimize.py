import argparse
import json

import pandas as pd
import pytest

from twin.cli.main import run_command
from twin.cli.optimize import add_cli

FAST = ["--plates", "2", "--plate-size", "8", "--hours", "1", "--every-min", "20", "--workers", "1"]


def larp_twin(argv) -> int:
    """``larp-twin optimize ...`` as ``twin.cli`` wires it: a sub-parser whose handler returns the exit code."""
    parser = argparse.ArgumentParser(prog="larp-twin")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_command(args.func, args)


def test_compare_writes_history_best_and_figure_and_prints_plates_to_target(tmp_path, capsys):
    out = tmp_path / "opt"
    assert larp_twin(["optimize", "--compare", "--seeds", "0", *FAST, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for name in ("tpe", "bo", "random", "grid"):
        assert f"  {name} " in text and "plates to target" in text
    assert "target score 0.8 (the objective's target)" in text
    history = pd.read_csv(out / "history.csv")
    # the default limits are ones twin wells meet, and the summary names the best well's recipe and features
    feasible = int(history["feasible"].sum())
    assert feasible > 0 and f"feasible wells (every limit met): {feasible} of 64" in text
    assert "best well: " in text and "FWHM" in text
    assert len(history) == 4 * 2 * 8 and set(history["plate"]) == {1, 2}
    assert {"strategy", "seed", "score", "feasible", "peak_nm_end", "amine_per_acid"} <= set(history.columns)
    plates = pd.read_csv(out / "plates.csv")
    assert len(plates) == 4 * 2 and (plates.groupby("strategy")["best_score"].diff().dropna() >= 0).all()
    best = pd.read_csv(out / "best.csv")
    assert set(best["strategy"]) == {"tpe", "bo", "random", "grid"}
    pareto = pd.read_csv(out / "pareto.csv")
    assert 0 < len(pareto) <= feasible and pareto["feasible"].all()
    assert best["score"].iloc[0] == history["score"].max()
    assert (out / "convergence.png").read_bytes()[:4] == b"\x89PNG"
    run = json.loads((out / "run.json").read_text())
    assert run["feasible_fraction"] > 0 and run["objective"]["max_fwhm_nm"] == 32 and run["target"] == 0.8
    assert len(pd.read_csv(out / "report.csv")) == 4


def test_objective_json_drops_a_limit_and_a_given_target_is_kept(tmp_path, capsys):
    obj = tmp_path / "objective.json"
    obj.write_text(json.dumps({"peak_target_nm": 515, "max_fwhm_nm": None}))
    out = tmp_path / "opt"
    argv = ["optimize", "--strategy", "random", *FAST, "--plates", "1", "--objective-json", str(obj),
            "--target", "0.5", "--out", str(out)]
    assert larp_twin(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["objective"]["peak_target_nm"] == 515 and run["objective"]["max_fwhm_nm"] is None
    assert run["target"] == 0.5 and run["target_given"] and run["strategies"] == ["random"]
    assert "fwhm" not in capsys.readouterr().out


def test_limits_no_well_meets_are_reported_with_the_closest_well(tmp_path, capsys):
    out = tmp_path / "opt"
    argv = ["optimize", *FAST, "--plates", "1", "--objective-json", '{"peak_target_nm": 600}', "--out", str(out)]
    assert larp_twin(argv) == 0
    text = capsys.readouterr().out
    assert "feasible wells (every limit met): 0 of 8" in text and "every score is negative" in text
    assert "peak_nm_end within 600 +- 6: 0.0 % of wells" in text
    assert (pd.read_csv(out / "history.csv")["score"] < 0).all()


@pytest.mark.parametrize("extra, message", [
    (["--plate-size", "4"], "--plate-size 4; allowed: 8-96"),
    (["--strategy", "sgd"], "--strategy sgd; allowed: tpe, bo, random, grid"),
    (["--target", "2"], "--target 2; allowed: a score in (0, 1]"),
    (["--plates", "0"], "--plates 0; allowed: 1 or more"),
    (["--hours", "0"], "--hours 0; allowed: 0 < hours <= 168"),
    (["--seeds", "-1"], "--seeds -1; allowed: integers >= 0"),
    (["--objective-json", '{"max_fwhm": 25}'], "--objective-json: max_fwhm: Extra inputs are not permitted"),
    (["--objective-json", '{"fwhm_goal_nm": 40}'], "--objective-json: fwhm_goal_nm 40 must be below max_fwhm_nm 32"),
    (["--objective-json", "{not json"], "--objective-json: not valid JSON"),
    (["--objective-json", "missing.json"], "--objective-json 'missing.json': no such file"),
    (["--space-json", '{"ratio": {"low": 0, "high": 1}}'], "unknown parameter(s) ['ratio']; allowed:"),
    (["--lab-json", '{"reader": "magic"}'], "--lab-json: reader='magic'; allowed:"),
])
def test_bad_input_returns_2_and_names_the_option(tmp_path, capsys, extra, message):
    assert larp_twin(["optimize", "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("larp-twin: error: ") and message in err
    assert not (tmp_path / "o").exists()
