"""Figures a chemist reads: panels and legends by composition, labels inside the canvas, reads as they were."""
import numpy as np
import pandas as pd
import pytest

from twin.analysis import draw
from twin.analysis.figure_data import (composition_groups, composition_labels, feature_trajectories_data,
                                       heatmaps_data, ratio_summary_data)
from twin.analysis.errors import TableError

from .test_analysis_plots import campaign


def three_pbbr2_levels():
    """A custom plate map (no 'group' column): one ligand series at three PbBr2 levels."""
    rows = []
    for k, pb in enumerate((7.5, 10.0, 15.0)):
        for j, ratio in enumerate((0.1, 0.5, 1.0, 2.0)):
            rows.append({"well": f"{'ABC'[k]}{j + 1}", "antisolvent": "toluene", "pbbr2_uL": pb, "acid": "OAc",
                         "acid_uL": 0.5, "amine": "OLAm", "amine_uL": 0.5 * ratio, "batch": f"day {j % 2 + 1}"})
    rows.append({"well": "H12", "antisolvent": "toluene", "pbbr2_uL": 0.0, "acid": "OAc", "acid_uL": 0.0,
                 "amine": "OLAm", "amine_uL": 0.0, "batch": "day 1"})
    return pd.DataFrame(rows)


def test_default_groups_keep_each_pbbr2_level_apart():
    groups = composition_groups(three_pbbr2_levels())
    assert groups["A1"] == "toluene OAc:OLAm 1:15" and groups["B1"] == "toluene OAc:OLAm 1:20"
    assert groups["C4"] == "toluene OAc:OLAm 1:30" and groups["H12"] == "blank toluene"
    assert groups.nunique() == 4


def test_group_by_a_column_and_a_missing_column_is_named():
    plate = three_pbbr2_levels()
    assert set(composition_groups(plate, "batch")) == {"day 1", "day 2"}
    with pytest.raises(TableError, match="no column 'btch'"):
        composition_groups(plate, "btch")


def test_ratio_summary_of_a_custom_plate_has_one_column_per_pbbr2_level():
    _, features, _ = campaign(n_wells=12, n_reads=3)
    plate = three_pbbr2_levels().iloc[:12].assign(well=features["well"].unique())
    labels = [c[0] for c in ratio_summary_data(features, plate)["columns"]]
    assert labels == ["toluene OAc:OLAm 1:15", "toluene OAc:OLAm 1:20", "toluene OAc:OLAm 1:30"]


def test_last_read_is_the_last_read_not_the_last_usable_value():
    _, features, plate = campaign(n_wells=4, n_reads=4)
    last = features["read"] == 3
    features.loc[last & (features["well"] == "A2"), "status"] = "did_not_converge"
    columns = ratio_summary_data(features, plate, group_by=plate.set_index("well")["acid"])["columns"]
    label, x, rows, _ = columns[0]
    (_, (first, last_read)), = [r for r in rows if r[0] == "peak (nm)"]
    by_well = dict(zip(plate.sort_values("amine_uL", kind="stable")["well"], last_read[0]))
    assert np.isnan(by_well["A2"])  # shown as no fit, not the read before
    assert np.isfinite(by_well["A1"]) and np.isfinite(first[0]).all()


def test_heatmap_tiles_are_labelled_by_composition_and_the_colour_bar_fits(tmp_path, monkeypatch):
    long, _, plate = campaign(n_wells=4, n_reads=3)
    data = heatmaps_data(long, labels=composition_labels(plate))
    assert data["labels"][1] == "OAc:OLAm 1:0.5 \u00b7 A2"
    figures = []
    monkeypatch.setattr(draw, "save_png", lambda fig, path: figures.append(fig) or path)
    draw.heatmaps(**data, out_dir=tmp_path)
    fig, = figures
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # as savefig draws it
    canvas = fig.bbox
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[1].startswith("OAc:OLAm 1:0.5 \u00b7 A2")
    bar = fig.axes[1]
    assert [t.get_text() for t in bar.get_yticklabels()] == ["0", "0.5", "1"]
    box = bar.get_tightbbox(renderer)  # ticks and the label "intensity / well max" included
    assert bar.get_ylabel() == "intensity / well max"
    assert box.x0 >= canvas.x0 and box.x1 <= canvas.x1 and box.y0 >= canvas.y0 and box.y1 <= canvas.y1


def test_trajectories_are_coloured_by_ratio_and_groups_differ_by_line_style(tmp_path, monkeypatch):
    _, features, plate = campaign(n_wells=8, n_reads=3)
    groups = plate.set_index("well")["antisolvent"]
    data = feature_trajectories_data(features, groups, plate)
    assert data["colour_by"]["A1"] == pytest.approx(0.1) and data["colour_by"]["A4"] == pytest.approx(2.0)
    figures = []
    monkeypatch.setattr(draw, "save_png", lambda fig, path: figures.append(fig) or path)
    draw.feature_trajectories(**data, out_path=tmp_path / "t.png")
    fig, = figures
    lines = fig.axes[0].get_lines()
    colour = {tuple(line.get_color()) for line in lines}
    styles = {line.get_linestyle() for line in lines}
    assert len(colour) == 4  # four ratios, same colour in both antisolvents
    assert styles == {"-", "--"}  # two groups
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["toluene", "chloroform"]
    assert "amine per acid" in fig.axes[-1].get_ylabel()  # the colour bar says what the colour is


def test_the_figure_modules_leave_the_callers_matplotlib_backend_alone(tmp_path):
    """No ``matplotlib.use`` in library code: a notebook's inline backend survives importing and drawing."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg')\n"
            "import twin.analysis.draw, twin.analysis.learn, twin.analysis.absorbance_plots, twin.compare\n"
            "import twin.records.export\n"
            "from tests.twin.analysis.test_analysis_plots import campaign\n"
            "from twin.analysis import plot_heatmaps, plot_feature_trajectories\n"
            "long, features, plate = campaign(n_wells=4, n_reads=2)\n"
            f"plot_heatmaps(long, {str(tmp_path)!r})\n"
            f"plot_feature_trajectories(features, {str(tmp_path / 't.png')!r})\n"
            "print(matplotlib.get_backend())")
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "svg"
