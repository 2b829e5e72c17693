import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from twin.cli import main

SMALL = """well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL,group
A1,toluene,150,100,15,OAc,0.5,OLAm,0.05,acid-rich
A2,toluene,150,100,15,OAc,0.5,OLAm,1.0,amine-rich
A3,chloroform,150,100,15,OAc,0.5,OLAm,0.25,cf
A4,toluene,150,100,0,OAc,0,OLAm,0,blank
"""


@pytest.fixture(scope="module")
def plate_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("pm") / "small.csv"
    p.write_text(SMALL)
    return p


@pytest.fixture(scope="module")
def run_dir(plate_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "run"
    assert main(["run", str(plate_csv), "--out", str(out), "--seed", "3", "--hours", "1", "--quiet"]) == 0
    return out


def _digest(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_run_writes_every_output(run_dir):
    for name in ["plate.csv", "spectra.parquet", "features.csv", "manifest.json", "log.jsonl", "deck.txt"]:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "figures").glob("*.png"))
    spectra = pd.read_parquet(run_dir / "spectra.parquet")
    assert list(spectra.columns)[:1] == ["well"] and {"time_min", "wavelength_nm", "intensity"} <= set(spectra.columns)
    features = pd.read_csv(run_dir / "features.csv")
    assert {"well", "time_min", "peak_nm", "fwhm_nm", "height", "area", "r2"} <= set(features.columns)
    plate = pd.read_csv(run_dir / "plate.csv")
    assert {"injected_at_min", "dispensed_acid_uL", "group"} <= set(plate.columns)
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["seed"] == 3 and m["scenario"] == "small" and m["backends"]["pipettor"] == "sim"
    assert m["virtual_s"] > 3600 and m["wall_s"] > 0
    assert m["reads"] == 7 and m["schedule"]["hours"] == 1  # --hours 1 at every 10 min: reads at 0, 10, ... 60


def test_every_min_changes_the_schedule(plate_csv, tmp_path):
    out = tmp_path / "r"
    assert main(["run", str(plate_csv), "--out", str(out), "--hours", "1", "--every-min", "20", "--quiet",
                 "--no-figures"]) == 0
    assert json.loads((out / "manifest.json").read_text())["reads"] == 4


def test_blank_well_is_dark_and_flagged(run_dir):
    f = pd.read_csv(run_dir / "features.csv")
    assert (f[f.well == "A4"].status == "no_peak").all()


def test_same_seed_same_bytes(run_dir, plate_csv, tmp_path):
    again = tmp_path / "again"
    assert main(["run", str(plate_csv), "--out", str(again), "--seed", "3", "--hours", "1", "--quiet"]) == 0
    assert _digest(again) == _digest(run_dir)
    m1 = json.loads((run_dir / "manifest.json").read_text())
    m2 = json.loads((again / "manifest.json").read_text())
    for m in (m1, m2):  # wall seconds: the whole run's, and the simulation's
        assert 0 < m.pop("sim_wall_s") <= m.pop("wall_s")
    assert m1 == m2


def test_bad_plate_map_leaves_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(SMALL.replace("A3,chloroform", "A3,water"))
    out = tmp_path / "out"
    assert main(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "row 3 (A3), column 'antisolvent': unknown value 'water'" in err and "allowed" in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_scenarios_lists_one_line_each(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("paper-toluene") for line in lines) and len(lines) >= 4


def test_unknown_target(tmp_path, capsys):
    assert main(["run", "no-such-thing", "--out", str(tmp_path / "x")]) == 2
    assert "neither a built-in scenario" in capsys.readouterr().err


def test_console_script_installed():
    r = subprocess.run([sys.executable, "-m", "twin.cli", "scenarios"], capture_output=True, text=True)
    assert r.returncode == 0 and "paper-toluene" in r.stdout


def test_gen5_export_fits_back_to_the_same_features(run_dir, tmp_path, capsys):
    export = run_dir / "gen5_export.txt"
    assert export.read_bytes().startswith(b"\r\n\r\nSoftware Version")
    assert main(["fit", str(export), "--out", str(tmp_path / "fit")]) == 0
    refit = pd.read_csv(tmp_path / "fit" / "features.csv")
    orig = pd.read_csv(run_dir / "features.csv")
    merged = orig.merge(refit, on=["well", "read"], suffixes=("", "_gen5"))
    assert len(merged) == len(orig)
    ok = merged.status == "ok"
    assert (merged.loc[ok, "peak_nm"] - merged.loc[ok, "peak_nm_gen5"]).abs().max() < 1e-6
    assert main(["inspect", str(export)]) == 0
    assert "Simulation" in capsys.readouterr().out


def test_fit_flags_a_well_far_below_zero_and_fits_the_rest(tmp_path, capsys):
    """Real exports hold wells with counts far below zero (a bad blank subtraction): flagged, not fatal."""
    import numpy as np

    from instruments.cytation import write_gen5_spectra

    wl = np.arange(400.0, 652.0, 2.0)
    peak = 12000 * np.exp(-0.5 * ((wl - 510.0) / 13.0) ** 2) + 10
    counts = np.stack([np.stack([peak, peak - 4000.0, peak])] * 2)  # 2 reads x 3 wells; B1 is corrupt
    export = write_gen5_spectra(tmp_path / "lab.txt", ["A1", "B1", "C1"], wl, counts)
    assert main(["fit", str(export), "--out", str(tmp_path / "fit")]) == 0
    f = pd.read_csv(tmp_path / "fit" / "features.csv")
    assert set(f[f.well == "B1"].status) == {"negative_counts"} and f[f.well == "B1"].peak_nm.isna().all()
    assert set(f[f.well != "B1"].status) == {"ok"}
    assert (f[f.well != "B1"].peak_nm - 510.0).abs().max() < 0.1
    assert "negative_counts: 2" in capsys.readouterr().out


def test_fit_of_a_missing_or_wrong_file_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o")]) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("not a gen5 file\n")
    assert main(["fit", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err


def test_deck_sheet_lists_the_plate_and_stocks(run_dir):
    sheet = (run_dir / "deck.txt").read_text()
    assert "plate (corning_96_wellplate_360ul_flat)" in sheet and "PbBr2/DMF" in sheet


def test_shap_on_a_table(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    t = pd.DataFrame({"OLAm_uL": rng.uniform(0, 1, 40), "PbBr2_uL": rng.uniform(10, 20, 40)})
    t["peak_nm"] = 520 - 8 * t.OLAm_uL + 0.1 * t.PbBr2_uL + rng.normal(0, 0.1, 40)
    t.to_csv(tmp_path / "table.csv", index=False)
    assert main(["shap", str(tmp_path / "table.csv"), "--target", "peak_nm", "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "random_forest" in out and "most important for peak_nm: OLAm_uL" in out
    assert (tmp_path / "s" / "shap_importance_peak_nm.csv").is_file()


def test_shap_on_too_small_a_run_is_a_clear_error(run_dir, capsys):
    assert main(["shap", str(run_dir), "--target", "height", "--out", str(run_dir.parent / "shap")]) == 2
    assert "error" in capsys.readouterr().err


def test_example_fault_plan_runs_and_logs_events(tmp_path, capsys):
    root = Path(__file__).resolve().parents[3]
    out = tmp_path / "f"
    assert main(["run", "paper-toluene", "--out", str(out), "--hours", "2", "--quiet", "--no-figures",
                 "--faults", str(root / "scenarios" / "data" / "example_faults.yaml")]) == 0
    assert "injected" in capsys.readouterr().out
    assert (out / "events.jsonl").read_text().count("\n") > 5


def test_example_sweep_spec_is_valid():
    from twin.studies.spec import load_spec

    root = Path(__file__).resolve().parents[3]
    spec = load_spec(root / "scenarios" / "data" / "example_sweep.yaml")
    assert len(spec.conditions()) == 40
