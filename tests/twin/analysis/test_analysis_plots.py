"""Specification of twin.analysis plots: PNG files per well group (speed: benchmarks/bench_plots.py)."""

import numpy as np
import pandas as pd
import pytest

from twin.analysis import TableError, fit_gaussians, plot_feature_trajectories, plot_heatmaps, plot_ratio_summary

GRID = np.arange(400.0, 651.0, 2.0)


def campaign(n_wells=16, n_reads=6, seed=0):
    """Long spectra + features + plate map for a small synthetic campaign."""
    rng = np.random.default_rng(seed)
    wells = [f"{'ABCDEFGH'[i // 12]}{i % 12 + 1}" for i in range(n_wells)]
    times = np.arange(n_reads) * 10.0 + rng.uniform(0, 5, (n_wells, 1))
    amine = np.tile([10.0, 50.0, 100.0, 200.0], n_wells // 4 + 1)[:n_wells]
    peak = 522.0 - 0.1 * amine[:, None] - 0.01 * times
    height = 3e4 * (1.0 - amine[:, None] / 250.0) * np.exp(-times / 300.0)
    sigma = 26.0 / 2.3548
    counts = rng.poisson(height[..., None] * np.exp(-0.5 * ((GRID - peak[..., None]) / sigma) ** 2) + 10.0)
    counts = counts.astype(float)
    counts[0, 0, 50:60] = np.nan  # one overflow
    long = pd.DataFrame({
        "well": np.repeat(wells, n_reads * GRID.size),
        "read": np.tile(np.repeat(np.arange(n_reads), GRID.size), n_wells),
        "time_min": np.repeat(times.ravel(), GRID.size),
        "wavelength_nm": np.tile(GRID, n_wells * n_reads),
        "intensity": counts.ravel(),
    })
    fit = fit_gaussians(counts, GRID)
    features = pd.DataFrame({
        "well": np.repeat(wells, n_reads), "read": np.tile(np.arange(n_reads), n_wells),
        "time_min": times.ravel(), **{k: getattr(fit, k).ravel() for k in ("peak_nm", "fwhm_nm", "height",
                                                                             "area", "r2")},
        "status": fit.status.ravel(),
    })
    plate = pd.DataFrame({
        "well": wells, "antisolvent": np.where(np.arange(n_wells) < n_wells // 2, "toluene", "chloroform"),
        "antisolvent_uL": 100.0, "cs_uL": 100.0, "pbbr2_uL": 300.0, "acid": "OAc", "acid_uL": 10.0,
        "amine": "OLAm", "amine_uL": amine / 10.0,
    })
    return long, features, plate


def test_heatmaps_write_one_png_per_group_of_up_to_twelve_wells(tmp_path):
    long, _, plate = campaign(n_wells=16)
    groups = plate.set_index("well")["antisolvent"]
    paths = plot_heatmaps(long, tmp_path, group_by=groups)
    assert len(paths) == 2 and all(p.exists() and p.suffix == ".png" for p in paths)
    assert {p.name for p in paths} == {"heatmaps_toluene_1.png", "heatmaps_chloroform_1.png"}
    assert len(plot_heatmaps(long, tmp_path / "all", group_by=None)) == 2  # 16 wells -> 12 + 4


def test_trajectories_and_ratio_summary_write_pngs(tmp_path):
    _, features, plate = campaign()
    groups = plate.set_index("well")["antisolvent"]
    p = plot_feature_trajectories(features, tmp_path / "traj.png", group_by=groups)
    assert p.exists() and p.stat().st_size > 1000
    q = plot_ratio_summary(features, plate, tmp_path / "ratio.png")
    assert q.exists() and q.stat().st_size > 1000


def test_plots_name_missing_columns():
    long, features, plate = campaign(n_wells=4, n_reads=2)
    with pytest.raises(TableError, match="intensity"):
        plot_heatmaps(long.drop(columns=["intensity"]), "unused")
    with pytest.raises(TableError, match="acid_uL"):
        plot_ratio_summary(features, plate.drop(columns=["acid_uL"]), "unused.png")


def test_a_96_well_campaign_plots_one_heatmap_per_group(tmp_path):
    # its speed is a figure of benchmarks/bench_plots.py, not an assertion here
    long, features, plate = campaign(n_wells=96, n_reads=73, seed=1)
    groups = plate.set_index("well")["antisolvent"] + " " + (plate["amine_uL"] > 5).map({True: "amine", False: "acid"}).to_numpy()
    paths = plot_heatmaps(long, tmp_path, group_by=groups)
    # 4 groups of 24 wells, two pages each
    assert sorted(p.name for p in paths) == sorted(f"heatmaps_{g.replace(' ', '_')}_{page}.png"
                                                   for g in set(groups) for page in (1, 2))
    assert all(p.stat().st_size > 1000 for p in paths)
    traj = plot_feature_trajectories(features, tmp_path / "traj.png", group_by=groups)
    assert traj.stat().st_size > 1000