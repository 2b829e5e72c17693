"""Specification of twin.analysis.design_table and run_shap: the paper's learning table, models and SHAP ranking."""
import numpy as np
import pandas as pd
import pytest

from twin.analysis import ShapReport, TableError, TooFewRowsError, design_table, run_shap


def paper_table(seed=0):
    """The paper's 160-row coding: OAc or OctAc 100, amine 10..200, PbBr2 300/150, Cs 100, toluene or chloroform."""
    rng = np.random.default_rng(seed)
    rows = []
    for pair in (("OAc", "OLAm"), ("OctAc", "OctAm")):
        for solvent in ("Toluene", "Chloroform"):
            for pbbr2 in (300.0, 150.0):
                for amine in np.arange(10.0, 201.0, 10.0):
                    row = dict.fromkeys(["OAc", "OLAm", "OctAc", "OctAm", "Toluene", "Chloroform"], 0.0)
                    row[pair[0]], row[pair[1]] = 100.0, amine
                    row.update(PbBr2=pbbr2, Cs=100.0, **{solvent: 100.0}, **{"Ligand Ratio": (100.0 + amine) / 10})
                    rows.append(row)
    table = pd.DataFrame(rows)
    table["peak_nm"] = (522.0 - 0.05 * (table["OLAm"] + table["OctAm"]) - 0.15 * table["Chloroform"]
                        + 0.01 * table["PbBr2"] + rng.normal(0, 0.5, len(table)))
    return table


def test_shap_on_the_papers_160_row_design_ranks_the_drivers(tmp_path):
    table = paper_table()
    assert len(table) == 160
    features = ["OAc", "OLAm", "OctAc", "OctAm", "PbBr2", "Cs", "Toluene", "Chloroform", "Ligand Ratio"]
    report = run_shap(table, "peak_nm", features, tmp_path, seed=0, n_estimators=60)
    assert isinstance(report, ShapReport)
    assert list(report.rmse["model"].sort_values()) == ["linear_regression", "mlp", "random_forest", "svr"]
    assert report.rmse["rmse_mean"].min() < 2.0
    assert report.shap_values.shape == (160, 9)
    imp = report.importance.set_index("feature")
    assert imp.loc["Chloroform", "rank"] <= 3 and imp.loc["Chloroform", "direction"] < -0.9  # blue shift
    assert imp.loc["Cs", "mean_abs_shap"] == 0.0  # constant input explains nothing
    for key in ("importance_csv", "rmse_csv", "beeswarm_png", "bar_png", "rmse_png"):
        assert report.files[key].exists() and report.files[key].stat().st_size > 0
    csv = pd.read_csv(report.files["importance_csv"])
    assert list(csv.columns) == ["rank", "feature", "mean_abs_shap", "direction"] and list(csv["rank"]) == list(
        range(1, 10))


def test_same_seed_same_numbers_and_no_files_without_out_dir():
    table = paper_table().iloc[::4].reset_index(drop=True)  # 40 rows keep this quick
    first = run_shap(table, "peak_nm", ["OLAm", "OctAm", "PbBr2", "Chloroform"], None, seed=3, n_estimators=20)
    again = run_shap(table, "peak_nm", ["OLAm", "OctAm", "PbBr2", "Chloroform"], None, seed=3, n_estimators=20)
    pd.testing.assert_frame_equal(first.rmse, again.rmse)
    np.testing.assert_array_equal(first.shap_values, again.shap_values)
    assert first.files == {} and first.n_rows == 40


def test_design_table_pivots_identities_into_volume_columns():
    plate = pd.DataFrame({
        "well": ["A1", "A2", "A3"], "antisolvent": ["toluene", "chloroform", "toluene"],
        "antisolvent_uL": [200.0, 200.0, 200.0], "cs_uL": [20.0, 20.0, 20.0], "pbbr2_uL": [30.0, 30.0, 15.0],
        "acid": ["OAc", "OAc", "OctAc"], "acid_uL": [1.0, 1.0, 1.0], "amine": ["OLAm", "OLAm", "OctAm"],
        "amine_uL": [0.1, 2.0, 1.0],
    })
    features = pd.DataFrame({
        "well": ["A1", "A1", "A2", "A2", "A3", "A3"], "time_min": [1.0, 700.0, 2.0, 702.0, 3.0, 703.0],
        "peak_nm": [521.0, 520.0, 505.0, 503.0, np.nan, 512.0], "fwhm_nm": [26.0, 26.5, 30.0, 31.0, np.nan, 35.0],
        "height": [3e4, 2.9e4, 1e4, 2e4, np.nan, 5e3], "status": ["ok", "ok", "ok", "saturated", "no_peak", "ok"],
    })
    table = design_table(plate, features)
    assert table.attrs["feature_columns"] == ["OAc_uL", "OctAc_uL", "OLAm_uL", "OctAm_uL", "PbBr2_uL", "Cs_uL",
                                              "toluene_uL", "chloroform_uL", "ligand_ratio"]
    row = table.set_index("well")
    assert row.loc["A2", "OLAm_uL"] == 2.0 and row.loc["A2", "OctAm_uL"] == 0.0
    assert row.loc["A3", "OctAc_uL"] == 1.0 and row.loc["A3", "toluene_uL"] == 200.0
    assert row.loc["A2", "ligand_ratio"] == pytest.approx(0.3)
    assert row.loc["A1", "peak_nm"] == 521.0  # first read by default
    assert np.isnan(row.loc["A3", "peak_nm"]) and row.loc["A3", "height"] == 0.0  # dark: no peak, zero intensity
    late = design_table(plate, features, time_min=720).set_index("well")
    assert late.loc["A2", "height"] == 2e4 and late.loc["A3", "peak_nm"] == 512.0


def test_too_few_rows_and_bad_tables_raise_clear_errors():
    table = paper_table().iloc[:8]
    with pytest.raises(TooFewRowsError, match="needs at least 10"):
        run_shap(table, "peak_nm", ["OLAm", "Chloroform"])
    full = paper_table()
    with pytest.raises(TableError, match="not a column"):
        run_shap(full, "intensity")
    bad = full.copy()
    bad.loc[3, "OLAm"] = np.nan
    with pytest.raises(TableError, match="OLAm"):
        run_shap(bad, "peak_nm", ["OLAm", "Chloroform"])
    with pytest.raises(TableError, match="acid_uL"):
        design_table(pd.DataFrame({"well": ["A1"]}))
