"""larp-twin compare: twin against lab on the same wells and run times."""

import json

import numpy as np
import pandas as pd
import pytest

from twin.cli import main
from twin.compare import compare, load_run, twin_run_minutes

PLATE = """well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL,amine_per_acid
A1,chloroform,150,100,15,OAc,0.5,OLAm,0.0500,0.1
A2,chloroform,150,100,15,OAc,0.5,OLAm,0.1000,0.2
B1,chloroform,150,100,15,OAc,0.5,OLAm,0.5500,1.1
B2,chloroform,150,100,15,OAc,0.5,OLAm,0.6000,1.2
"""
#: the lab's own fits of these wells (scenarios/data/real/chloroform_1to30_measured.csv), run_min 21 and 100
LAB = """well,read,run_min,peak_nm,fwhm_nm,height
A1,3,21,504.591,31.897,12896.5
A2,3,21,504.578,36.326,9766.5
B1,3,21,491.235,32.599,13525.8
B2,3,21,490.431,28.431,10443.7
A1,15,100,506.0,31.0,300.0
A2,15,100,505.0,30.0,800.0
B1,15,100,500.0,28.0,21306.1
B2,15,100,499.0,27.0,22340.7
C7,3,21,500.0,30.0,1000.0
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    (d / "plate.csv").write_text(PLATE)
    out = d / "run"
    assert main(["run", str(d / "plate.csv"), "--out", str(out), "--hours", "2", "--every-min", "0", "--quiet",
                 "--no-figures"]) == 0
    return out


@pytest.fixture()
def lab_csv(tmp_path):
    p = tmp_path / "lab.csv"
    p.write_text(LAB)
    return p


def test_cli_writes_csv_summary_and_a_png_that_opens(run_dir, lab_csv, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "cmp"
    assert main(["compare", str(run_dir), str(lab_csv), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 wells, 8 reads compared on run_min" in text and "missing in the twin: 1" in text
    assert "peak RMSE" in text and "12 h intensity direction agrees" in text
    assert sorted(p.name for p in out.iterdir() if p.name != ".larp-twin.json") == ["comparison.csv", "comparison.png",
                                                                                 "summary.json"]
    with Image.open(out / "comparison.png") as im:
        im.verify()
    with Image.open(out / "comparison.png") as im:
        assert im.size[0] > 600 and im.size[1] > 300
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 8 and set(table.well) == {"A1", "A2", "B1", "B2"}
    for col in ("measured_peak_nm", "twin_peak_nm", "peak_residual_nm", "measured_fwhm_nm", "twin_fwhm_nm",
                "fwhm_residual_nm", "measured_height", "twin_height", "log10_height_ratio", "run_min", "age_min"):
        assert col in table.columns
    collapsed = table[(table.well == "A1") & (table.run_min == 100)].iloc[0]
    assert not collapsed.lab_emitting and np.isnan(collapsed.peak_residual_nm)  # 300 RFU: a fit of noise
    s = json.loads((out / "summary.json").read_text())
    assert s["wells_compared"] == 4 and s["wells_missing_in_twin"] == ["C7"] and s["rows_compared"] == 8
    assert s["rows_emitting"] == 6 and s["time_axis"] == "run_min"
    for key in ("peak_rmse_nm", "fwhm_rmse_nm", "log10_height_rmse", "intensity_direction_agreement"):
        assert isinstance(s[key], float)
    assert [r["read"] for r in s["per_read"]] == [3, 15]


def test_twin_run_minutes_put_every_well_of_a_read_on_one_clock(run_dir):
    features, plate, manifest, _ = load_run(run_dir)
    run_min = twin_run_minutes(features, plate, manifest)
    per_read = pd.Series(run_min).groupby(features["read"].to_numpy())
    assert per_read.std().max() < 1e-3  # ages differ by the injection times, run times do not
    assert features.groupby("read").time_min.std().max() > 0.5
    first = per_read.mean().iloc[0]
    scan_min = np.diff(per_read.mean().to_numpy()).mean()
    assert abs(first - scan_min / 2) < 1e-3  # the first read's middle, half a scan into the run


def test_the_twins_own_export_and_features_compare_to_zero(run_dir, tmp_path):
    """Round trips through both time axes: a Gen5 export (run_min from the reader timing) and time_min (age)."""
    c = compare(run_dir, run_dir / "gen5_export.txt", tmp_path / "g", figure=False)
    assert c.summary["peak_rmse_nm"] < 1e-3 and c.summary["log10_height_rmse"] < 1e-3
    assert c.summary["intensity_direction_agreement"] == 1.0 and c.summary["rows_outside_twin_run"] == 0
    f = pd.read_csv(run_dir / "features.csv")
    own = f[f.status == "ok"][["well", "read", "time_min", "peak_nm", "fwhm_nm", "height"]]
    p = tmp_path / "own.csv"
    own.to_csv(p, index=False)
    c = compare(run_dir, p, tmp_path / "t", figure=False)
    assert c.summary["time_axis"] == "time_min" and c.summary["peak_rmse_nm"] < 1e-3
    by_read = c.table.groupby("read")["run_min"]
    assert by_read.std().max() < 1e-3  # ages converted to run time: one clock per read across wells


def test_times_beyond_the_twin_run_are_counted_not_guessed(run_dir, tmp_path):
    p = tmp_path / "late.csv"
    p.write_text("well,run_min,peak_nm,fwhm_nm,height\nA1,30,505,30,1e4\nA1,600,505,30,1e4\n")
    c = compare(run_dir, p, tmp_path / "o", figure=False)  # the twin ran 2 h
    assert c.summary["rows_outside_twin_run"] == 1 and c.summary["rows_compared"] == 1


def test_errors_are_clear_and_leave_no_output(run_dir, lab_csv, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("well,run_min,peak_nm,fwhm_nm,height\nH12,21,500,30,1e4\n")
    assert main(["compare", str(run_dir), str(other), "--out", str(tmp_path / "o1")]) == 2
    assert "no well of the measured data (H12...) is in the twin run" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not list(tmp_path.glob(".o1.partial-*"))
    assert main(["compare", str(tmp_path / "nope"), str(lab_csv), "--out", str(tmp_path / "o2")]) == 2
    assert "nope: no such directory" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    assert main(["compare", str(run_dir), str(lab_csv), "--out", str(busy)]) == 2
    assert "is not a finished `larp-twin compare` output" in capsys.readouterr().err and (busy / "keep.txt").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("well,run_min,peak_nm,fwhm_nm,height\nA1,soon,500,30,1e4\n")
    assert main(["compare", str(run_dir), str(bad), "--out", str(tmp_path / "o3")]) == 2
    assert "bad.csv row 1 (line 2), column 'run_min': 'soon'" in capsys.readouterr().err


def test_the_figure_has_one_panel_per_metric_twin_as_band_and_line_lab_as_small_points(run_dir, lab_csv, tmp_path,
                                                                                       monkeypatch):
    from matplotlib.figure import Figure

    import twin.compare as cmp

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: drawn.append(fig))
    features, plate, manifest, _ = load_run(run_dir)
    run_min = twin_run_minutes(features, plate, manifest)
    band = pd.concat([pd.DataFrame({"well": features.well, "run_min": run_min, "metric": metric,
                                    "lo": features[metric] * 0.98, "hi": features[metric] * 1.02})
                      for metric in ("peak_nm", "fwhm_nm", "height")])
    cmp.compare(run_dir, lab_csv, tmp_path / "cmp", band=band)
    fig, = drawn
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4 * 3  # 4 wells x (peak, FWHM, height): no shared twin axes
    assert [ax.get_ylabel() for ax in axes[:3]] == ["peak (nm)", "FWHM (nm)", "height (RFU)"]
    assert axes[2].get_yscale() == "log"
    assert axes[0].get_title() == "OAc:OLAm 1:0.1 \u00b7 A1"  # by composition
    for ax in axes:
        lab = [line for line in ax.get_lines() if line.get_label() == "lab"]
        twin_line = [line for line in ax.get_lines() if line.get_label() == "twin"]
        assert len(lab) == 1 and lab[0].get_markersize() <= 4 and lab[0].get_linestyle() == "None"
        assert len(twin_line) == 1 and twin_line[0].get_zorder() < lab[0].get_zorder()
        assert len(ax.collections) == 1  # the band
