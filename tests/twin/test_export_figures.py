"""Figures drawn in worker processes are the same PNGs as drawn in this process."""
from __future__ import annotations

import warnings

import pytest


@pytest.fixture(scope="module")
def result():
    from scenarios import build_campaign
    from twin.campaign import run_campaign
    from twin.config import Schedule

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_campaign(build_campaign("paper-toluene", schedule=Schedule(hours=1)), seed=2, progress=False)


def test_forked_figure_workers_draw_the_same_bytes(result, tmp_path):
    from twin.records.export import write_figures

    spectra, features = result.spectra_long(), result.features()
    here = write_figures(result, spectra, features, tmp_path / "here", workers=1)
    forked = write_figures(result, spectra, features, tmp_path / "forked", workers=2)
    assert sorted(p.name for p in here) == sorted(p.name for p in forked)
    assert {p.name for p in here} >= {"features_vs_time.png", "ratio_summary.png"}
    for p in here:
        assert (tmp_path / "forked" / p.name).read_bytes() == p.read_bytes(), p.name


def test_prepared_workers_are_used_once_and_released(result, tmp_path, monkeypatch):
    import twin.records.figure_workers as fw
    from twin.records.export import write_results

    monkeypatch.setenv("LARP_TWIN_FIGURE_WORKERS", "2")
    fw.prepare_figure_workers()
    assert fw._POOL is not None
    out = write_results(result, tmp_path / "out")
    assert fw._POOL is None
    assert len(list((out / "figures").glob("heatmaps_*.png"))) >= 1


def test_one_background_worker_draws_side_by_side_the_same_bytes(result, tmp_path):
    from twin.records.export import write_figures
    from twin.records.figure_workers import _ONE_BACKGROUND

    spectra, features = result.spectra_long(), result.features()
    here = write_figures(result, spectra, features, tmp_path / "here", workers=1)
    side = write_figures(result, spectra, features, tmp_path / "side", workers=_ONE_BACKGROUND)
    assert sorted(p.name for p in here) == sorted(p.name for p in side)
    for p in here:
        assert (tmp_path / "side" / p.name).read_bytes() == p.read_bytes(), p.name


def test_an_error_in_the_forked_half_reaches_the_caller(tmp_path):
    from twin.records.figure_workers import _draw_side_by_side

    bad = ("feature_trajectories", (), {"groups": {"all wells": ["A1"]}, "panels": "not panels",
                                         "out_path": tmp_path / "x.png"})
    with pytest.raises(ValueError):
        _draw_side_by_side([bad, bad])


def test_figure_jobs_unpickle_without_pandas(result, tmp_path):
    """The worker is forked before pandas is imported: its jobs must be plain arrays, lists and dicts."""
    import pickle
    import subprocess
    import sys

    from twin.records.export import _figure_jobs

    jobs = _figure_jobs(result, result.spectra_long(), result.features(), tmp_path)
    assert {name for name, _, _ in jobs} >= {"heatmaps", "feature_trajectories", "ratio_summary"}
    probe = ("import pickle, sys; pickle.loads(sys.stdin.buffer.read()); import twin.analysis.draw; "
             "print(sorted(m for m in ('pandas', 'xarray', 'pydantic', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], input=pickle.dumps(jobs), capture_output=True, check=True)
    assert out.stdout.decode().strip() == "[]"


def test_the_heatmaps_of_a_result_are_the_same_arrays_without_the_long_table(result, tmp_path):
    import numpy as np

    from twin.records.export import _figure_jobs

    fast = [job for job in _figure_jobs(result, None, None, tmp_path) if job[0] == "heatmaps"]
    slow = [job for job in _figure_jobs(result, result.spectra_long(), None, tmp_path) if job[0] == "heatmaps"]
    assert len(fast) == len(slow) >= 2
    for (_, _, a), (_, _, b) in zip(fast, slow):
        assert a["wells"] == b["wells"] and a["groups"] == b["groups"]
        for key in ("grid", "times", "cube"):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key], equal_nan=True), key
