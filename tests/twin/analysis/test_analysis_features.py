"""Specification of twin.analysis.summarize_trajectories: one row per well that tells its stability story."""
import numpy as np
import pandas as pd
import pytest

from twin.analysis import TableError, summarize_trajectories

TIMES = np.arange(0.0, 721.0, 10.0)  # 12 h, a read every 10 min


def well_rows(well, peak, fwhm, height, status=None):
    n = TIMES.size
    return pd.DataFrame({
        "well": well, "read": np.arange(n), "time_min": TIMES,
        "peak_nm": np.broadcast_to(peak, n), "fwhm_nm": np.broadcast_to(fwhm, n),
        "height": np.broadcast_to(height, n), "area": 1.0, "r2": 0.99,
        "status": np.broadcast_to("ok" if status is None else status, n),
    })


@pytest.fixture
def features():
    hours = TIMES / 60.0
    dark_status = np.array(["no_peak"] * TIMES.size, dtype=object)
    grow_status = np.where(TIMES < 100, "no_peak", "ok").astype(object)
    return pd.concat([
        well_rows("A1", 521.0, 26.0, 3e4),                                   # acid-rich toluene: stable
        well_rows("A2", 515.0, 30.0, 2e4 * np.exp(-TIMES / 200.0)),          # fading
        well_rows("A3", 500.0, 25.0, np.where(TIMES < 100, np.nan, 1e4), grow_status),  # appears later
        well_rows("A4", 510.0 - 2.0 * hours, 27.5, 1e4),                     # blue-shifting 2 nm/h
        well_rows("A5", np.nan, np.nan, np.nan, dark_status),                # dark
    ], ignore_index=True)


def test_each_well_gets_one_row_in_input_order(features):
    summary = summarize_trajectories(features)
    assert list(summary["well"]) == ["A1", "A2", "A3", "A4", "A5"]
    assert set(summary["n_reads"]) == {TIMES.size}


def test_stability_labels_tell_the_story(features):
    labels = summarize_trajectories(features).set_index("well")["stability"]
    assert labels.to_dict() == {"A1": "stable", "A2": "decaying", "A3": "growing", "A4": "drifting", "A5": "dark"}


def test_drift_retention_and_half_time_are_measured(features):
    s = summarize_trajectories(features).set_index("well")
    assert s.loc["A4", "drift_nm_per_h"] == pytest.approx(-2.0)
    assert s.loc["A1", "drift_nm_per_h"] == pytest.approx(0.0)
    assert s.loc["A1", "intensity_retention"] == pytest.approx(1.0)
    assert s.loc["A2", "intensity_retention"] == pytest.approx(np.exp(-720 / 200.0))
    # exp(-t/200) halves at 200 ln 2 = 138.6 min; linear interpolation between reads is within a minute
    assert s.loc["A2", "time_to_half_intensity_min"] == pytest.approx(200 * np.log(2), abs=1.0)
    assert np.isnan(s.loc["A1", "time_to_half_intensity_min"])
    assert s.loc["A3", "height_t0"] == 0.0 and s.loc["A3", "height_end"] == 1e4
    assert s.loc["A3", "peak_nm_t0"] == 500.0  # first usable read
    assert s.loc["A5", "n_usable"] == 0 and np.isnan(s.loc["A5", "peak_nm_end"])


def test_missing_columns_and_unknown_status_raise_table_errors(features):
    with pytest.raises(TableError, match="missing column"):
        summarize_trajectories(features.drop(columns=["status"]))
    bad = features.copy()
    bad.loc[3, "status"] = "weird"
    with pytest.raises(TableError, match="status"):
        summarize_trajectories(bad)
    bad = features.copy()
    bad.loc[5, "time_min"] = np.nan
    with pytest.raises(TableError, match="time_min"):
        summarize_trajectories(bad)
