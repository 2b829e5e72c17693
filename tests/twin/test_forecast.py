"""The twin's forecast band (``twin.forecast``): the forecast command's table, flags that catch a faulted well and
leave its neighbours alone, the run's flags written by the records layer, ``--nominal`` and the low-signal status."""

import json

import numpy as np
import pandas as pd

from scenarios import plates
from twin.analysis import fit_gaussians
from twin.campaign import Campaign, run_campaign
from twin.cli import main
from twin.config import Schedule
from twin.faults import FaultPlan
from twin.forecast import METRICS, flagged_wells
from twin.records.flags import flags_for_result

SHORT = Schedule(hours=1.0, every_min=10)


def _plate(n=6):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[:n].copy()
    pm["well"] = [f"A{i + 1}" for i in range(n)]
    return pm


def test_forecast_writes_the_long_band_table(tmp_path, capsys):
    plate = tmp_path / "plate.csv"
    _plate(3).to_csv(plate, index=False)
    out = tmp_path / "fc"
    assert main(["forecast", str(plate), "--out", str(out), "--hours", "0.5", "--draws", "12",
                 "--no-figures"]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["well", "run_min", "metric", "lo", "median", "hi"]
    assert set(table["metric"]) == set(METRICS) and set(table["well"]) == {"A1", "A2", "A3"}
    peak = table[table["metric"] == "peak_nm"]
    assert (peak["lo"] <= peak["median"]).all() and (peak["median"] <= peak["hi"]).all()
    assert peak["median"].between(505, 530).all()  # toluene OAc:OLAm: green emission
    assert (peak["hi"] - peak["lo"]).min() > 1.0  # an interval, not a line
    assert table["run_min"].min() >= 0
    summary = json.loads((out / "forecast.json").read_text())
    assert summary["draws"] == 12 and summary["level"] == 0.9
    assert "forecast.csv" in capsys.readouterr().out or (out / "forecast.csv").exists()


def test_a_skipped_dispense_is_flagged_and_its_neighbours_are_not():
    faults = FaultPlan.model_validate({"faults": [{"kind": "well_skipped", "well": "A5", "nth": 1}]})
    result = run_campaign(Campaign(name="f", plate_map=_plate(), schedule=SHORT, faults=faults), seed=0,
                          progress=False)
    hit = {e["well"] for e in result.events if e["kind"] == "well_skipped" and e.get("well")}
    assert hit == {"A5"}
    flags = flags_for_result(result, draws=24)
    failed = set(result.manifest["failed_wells"])
    assert "A5" in flagged_wells(flags) and "A5" not in failed
    assert set(flagged_wells(flags)) <= failed | {"A5"}, flags  # no false alarm among the working wells


def test_the_records_layer_writes_the_flags_once_into_events_jsonl(tmp_path):
    from twin.records.export import write_results

    faults = FaultPlan.model_validate({"faults": [{"kind": "well_skipped", "well": "A5", "nth": 1}]})
    result = run_campaign(Campaign(name="f", plate_map=_plate(), schedule=SHORT, faults=faults), seed=0,
                          progress=False)
    assert not [e for e in result.events if e.get("kind") == "forecast"]  # the campaign does not flag
    out = write_results(result, tmp_path / "run", figures=False)
    lines = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    flags = [e for e in lines if e.get("kind") == "forecast"]
    assert "A5" in {f["well"] for f in flags}
    assert "events.jsonl" in json.loads((out / "manifest.json").read_text())["files"]


def test_nominal_runs_have_no_failed_wells_and_no_scatter(tmp_path):
    pm = pd.concat([_plate(1)] * 12, ignore_index=True)
    pm["well"] = [f"{r}{c}" for r in "AB" for c in range(1, 7)]
    plate = tmp_path / "same.csv"
    pm.to_csv(plate, index=False)
    assert main(["run", str(plate), "--out", str(tmp_path / "nom"), "--hours", "0.2", "--nominal",
                 "--no-figures", "--quiet"]) == 0
    manifest = json.loads((tmp_path / "nom" / "manifest.json").read_text())
    assert manifest["failed_wells"] == []
    f = pd.read_csv(tmp_path / "nom" / "features.csv")
    first = f[f["read"] == 0]
    assert first["peak_nm"].std() < 0.3  # the same recipe: only pipetting and reader noise remain
    assert main(["run", str(plate), "--out", str(tmp_path / "var"), "--hours", "0.2", "--no-figures",
                 "--quiet"]) == 0
    g = pd.read_csv(tmp_path / "var" / "features.csv")
    assert g[g["read"] == 0]["peak_nm"].std() > 2 * first["peak_nm"].std()


def test_a_dim_peak_is_low_signal_with_nan_features_and_a_bright_one_is_ok():
    wl = np.arange(400.0, 651.0, 2.0)
    rng = np.random.default_rng(3)
    shape = np.exp(-0.5 * ((wl - 515.0) / 12.0) ** 2)
    spectra = np.stack([h * shape + 8.0 + np.sqrt(2.0 * h * shape + 9.0) * rng.standard_normal(wl.size)
                        for h in (100.0, 3000.0)])
    fit = fit_gaussians(spectra, wl)
    assert list(fit.status) == ["low_signal", "ok"]
    assert np.isnan(fit.peak_nm[0]) and np.isnan(fit.fwhm_nm[0]) and np.isnan(fit.height[0])
    assert not fit.usable[0] and fit.usable[1]
    # the threshold is the reader's noise at the read's gain: the same counts at gain 60 are far above its noise
    assert fit_gaussians(spectra[:1], wl, gain=60).status[0] == "ok"


def test_compare_reports_the_share_of_measured_points_inside_the_band(tmp_path):
    from twin.compare import compare, twin_run_minutes
    from twin.records.export import write_results

    result = run_campaign(Campaign(name="c", plate_map=_plate(4), schedule=SHORT), seed=2, progress=False)
    run = write_results(result, tmp_path / "run", figures=False)
    feats = pd.read_csv(run / "features.csv")
    plate = pd.read_csv(run / "plate.csv")
    manifest = json.loads((run / "manifest.json").read_text())
    lab = feats.assign(run_min=twin_run_minutes(feats, plate, manifest))[["well", "read", "run_min", "peak_nm",
                                                                          "fwhm_nm", "height"]]
    lab = lab[lab["well"].isin(set(lab["well"]) - set(manifest["failed_wells"]))]
    same = compare(run, lab, tmp_path / "same", figure=False, draws=24).summary["band_coverage"]
    assert same["points"] > 30 and same["all"] >= 0.8  # the twin's own plate sits inside its band
    shifted = compare(run, lab.assign(peak_nm=lab["peak_nm"] + 25.0), tmp_path / "shifted", figure=False,
                      draws=24).summary["band_coverage"]
    assert shifted["peak_nm"] == 0.0 and shifted["height"] == same["height"]
    table = pd.read_csv(tmp_path / "shifted" / "comparison.csv")
    assert {"band_lo_peak_nm", "band_hi_peak_nm", "inside_peak_nm"} <= set(table.columns)


def test_a_journaled_run_gives_the_monitor_the_dispensed_volumes_plate_csv_has(tmp_path):
    from twin.monitor.source import RunSource
    from twin.records.resume import run_durable

    run_durable(Campaign(name="j", plate_map=_plate(3), schedule=Schedule(hours=0.3, every_min=10)), tmp_path / "r",
                seed=0, figures=False, progress=False)
    view = RunSource(tmp_path / "r").view()
    assert view.kind == "journal"
    written = pd.read_csv(tmp_path / "r" / "results" / "plate.csv")
    cols = [c for c in written.columns if c.startswith("dispensed_")]
    assert len(cols) == 5
    got = view.plate.set_index("well").loc[written["well"], cols].to_numpy(float)
    assert np.allclose(got, written[cols].to_numpy(float), atol=1e-3)
    assert (written["dispensed_acid_uL"] != written["acid_uL"]).any()  # the twin robot's own volumes, not the map


def test_a_reads_band_does_not_depend_on_which_reads_are_computed_with_it():
    from twin.forecast import Ensemble

    pm = _plate(3)
    ages = np.array([[5.0, 15.0, 25.0, 35.0]] * 3) + np.arange(3)[:, None]
    together = Ensemble(pm, list(pm["well"]), draws=6, seed=4).features(ages)
    alone = Ensemble(pm, list(pm["well"]), draws=6, seed=4)
    for j in (2, 0, 3, 1):  # the monitor's order: one read at a time
        col = alone.features(ages[:, [j]], [j])
        for m in METRICS:
            assert np.array_equal(col[m][:, :, 0], together[m][:, :, j], equal_nan=True)
    other = Ensemble(pm, list(pm["well"]), draws=6, seed=5).features(ages)
    assert not np.array_equal(other["peak_nm"], together["peak_nm"], equal_nan=True)  # the seed matters
