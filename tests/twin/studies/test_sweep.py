import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from twin.cli.sweep import add_cli
import pyarrow.dataset as ds

from twin.studies.sweep import (IN_FLIGHT_PER_SLOT, SweepRunError, done_campaigns, plan_campaigns, read_dataset,
                                run_sweep)
from twin.studies.spec import PARAMETERS, SweepSpecError, condition_rows, load_spec

# 2 antisolvents x 4 ratios = 8 conditions, 2 per plate -> 4 campaigns of 1 h: a couple of seconds in all
SMALL = {
    "name": "small",
    "parameters": {"antisolvent": ["toluene", "chloroform"],
                   "amine_per_acid": {"low": 0.1, "high": 1.9, "num": 4}},
    "wells_per_plate": 2,
    "schedule": {"hours": 1, "every_min": 20},
}


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "pool"
    return run_sweep(SMALL, out, max_workers=2, progress=False)


def test_grid_expands_to_the_product_of_levels_and_seeds():
    spec = load_spec(dict(SMALL, parameters=dict(SMALL["parameters"], seed=[0, 1])))
    conditions = spec.conditions()
    assert len(conditions) == 8 and list(conditions.columns) == ["condition", *PARAMETERS]
    assert spec.seeds == [0, 1]
    tasks = plan_campaigns(spec)
    assert len(tasks) == 8  # 4 plates x 2 seeds
    assert len({t.campaign_id for t in tasks}) == 8


def test_recipe_follows_the_papers_standard_well():
    spec = load_spec({"parameters": {"acid_per_pbbr2": [30], "amine_per_acid": [0.5], "pair": ["octac:octam"]}})
    row = condition_rows(spec.conditions()).iloc[0]
    assert (row["acid"], row["amine"]) == ("OctAc", "OctAm")
    assert row["acid_uL"] == pytest.approx(0.5) and row["amine_uL"] == pytest.approx(0.25)


def test_latin_hypercube_is_reproducible_and_stratified():
    spec = {"design": "lhs", "n": 10, "design_seed": 4,
            "parameters": {"amine_per_acid": {"low": 0.0, "high": 2.0}, "antisolvent": ["toluene", "hexane"]}}
    a, b = load_spec(spec).conditions(), load_spec(spec).conditions()
    pd.testing.assert_frame_equal(a, b)
    bins = (a["amine_per_acid"] / 0.2).astype(int).clip(upper=9)
    assert sorted(bins) == list(range(10))  # one sample per stratum
    assert a["antisolvent"].value_counts().to_dict() == {"toluene": 5, "hexane": 5}


@pytest.mark.parametrize("spec, words", [
    ({"parameters": {"antisolvnt": ["toluene"]}}, ["antisolvnt", "allowed", "antisolvent", "amine_per_acid"]),
    ({"parameters": {"antisolvent": ["water"]}}, ["parameters.antisolvent", "water", "chloroform", "toluene"]),
    ({"parameters": {"pair": ["OAc-OLAm"]}}, ["parameters.pair", "OctAm", "OAc"]),
    ({"parameters": {"amine_per_acid": [-1]}}, ["parameters.amine_per_acid", "[0, 10]"]),
    ({"parameters": {"amine_per_acid": {"low": 0.1, "high": 2}}}, ["parameters.amine_per_acid", "num"]),
    ({"design": "lhs", "parameters": {}}, ["n:", "lhs"]),
    ({"design": "sobol"}, ["design", "grid", "random", "lhs"]),
    ({"desgin": "grid"}, ["desgin", "allowed", "design", "wells_per_plate"]),
    ({"schedule": {"hourz": 1}}, ["schedule.hourz"]),
    ({"wells_per_plate": 200}, ["wells_per_plate", "1..96"]),
])
def test_bad_spec_names_the_field_and_the_allowed_values(spec, words):
    with pytest.raises(SweepSpecError) as e:
        load_spec(spec)
    for w in words:
        assert w in str(e.value)


def test_a_plate_that_does_not_fit_the_deck_fails_before_running():
    spec = load_spec({"parameters": {"antisolvent": ["toluene", "chloroform", "hexane", "octane", "xylene",
                                                     "cyclohexane", "chlorobenzene"],
                                     "amine_per_acid": {"low": 0.1, "high": 2, "num": 13}}})
    with pytest.raises(SweepSpecError, match="wells_per_plate"):
        plan_campaigns(spec)


def test_spec_loads_from_json_file_and_yaml(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(SMALL))
    assert load_spec(p).conditions().shape[0] == 8
    yaml = pytest.importorskip("yaml")
    q = tmp_path / "s.yaml"
    q.write_text(yaml.safe_dump(SMALL))
    assert load_spec(q).model_dump() == load_spec(p).model_dump()


def test_process_pool_sweep_writes_tidy_tables_with_provenance(pool_run):
    out = pool_run.out
    for name in ("features", "summary", "campaigns", "manifest.json", "spec.json", "summary.png"):
        assert (out / name).exists(), name
    f = pd.read_parquet(out / "features")  # a dataset: one fragment per campaign, read as one table
    s = pd.read_parquet(out / "summary")
    assert {"campaign_id", "seed", "condition", "larp_twin_version", "spec_fingerprint", *PARAMETERS,
            "peak_nm", "fwhm_nm", "height", "time_min", "status"} <= set(f.columns)
    assert len(s) == 8 and sorted(s["condition"]) == list(range(8))
    assert {"peak_nm_end", "height_end", "intensity_retention", "stability"} <= set(s.columns)
    assert pool_run.manifest["campaigns"] == pool_run.manifest["finished"] == 4
    assert set(s.groupby("campaign_id").size()) == {2}


class FlakyExecutor(ThreadPoolExecutor):
    """Fails the campaigns named in ``fail``; counts what it was asked to run."""

    def __init__(self, fail=()):
        super().__init__(max_workers=2)
        self.fail, self.submitted = set(fail), []

    def submit(self, fn, task):
        self.submitted.append(task.campaign_id)
        if task.campaign_id in self.fail:
            return super().submit(_boom, task.campaign_id)
        return super().submit(fn, task)


def _boom(cid):
    raise RuntimeError(f"robot crashed during {cid}")


def test_a_crash_keeps_finished_campaigns_and_a_rerun_runs_only_the_rest(tmp_path, pool_run):
    ids = sorted(t.campaign_id for t in plan_campaigns(load_spec(SMALL)))
    flaky = FlakyExecutor(fail=ids[:1])
    with pytest.raises(SweepRunError, match="1 of 4 campaigns failed"):
        run_sweep(SMALL, tmp_path, executor=flaky, figure=False)
    for kind in ("features", "summary", "campaigns"):
        assert sorted(p.name for p in (tmp_path / kind).glob("*.parquet")) == [f"{i}.parquet" for i in ids[1:]]
    again = FlakyExecutor()
    result = run_sweep(SMALL, tmp_path, executor=again, figure=False)
    assert again.submitted == ids[:1]
    assert result.manifest["skipped_as_done"] == 3
    # same seeds, same numbers, whichever executor and order ran them
    key = ["condition", "well"]
    pd.testing.assert_frame_equal(result.summary.sort_values(key).reset_index(drop=True),
                                  pool_run.summary.sort_values(key).reset_index(drop=True))


class CountingExecutor(ThreadPoolExecutor):
    """One worker; records, at each submit, how many campaigns were submitted and not yet written to ``out``."""

    def __init__(self, out):
        super().__init__(max_workers=1)
        self.out, self.unwritten = out, []

    def submit(self, fn, task):
        self.unwritten.append(len(getattr(self, "ids", [])) - len(done_campaigns(self.out)))
        self.ids = [*getattr(self, "ids", []), task.campaign_id]
        return super().submit(fn, task)


def test_the_driver_keeps_only_a_few_campaigns_in_flight_and_writes_each_as_it_finishes(tmp_path):
    ex = CountingExecutor(tmp_path)
    result = run_sweep(dict(SMALL, wells_per_plate=1), tmp_path, executor=ex, figure=False)
    assert len(ex.ids) == 8
    # 1 worker slot x IN_FLIGHT_PER_SLOT: never more submitted-and-unwritten campaigns than that
    assert max(ex.unwritten) <= IN_FLIGHT_PER_SLOT and ex.unwritten[-1] >= 1
    assert IN_FLIGHT_PER_SLOT < 8
    # the manifest's sums come from the campaigns dataset; the tables are read from the datasets, not merged
    rows = result.campaigns
    assert sorted(rows["campaign_id"]) == sorted(ex.ids)
    assert result.manifest["campaign_wall_s_sum"] == pytest.approx(rows["task_wall_s"].sum(), abs=1e-3)
    assert not list(tmp_path.glob("*.parquet"))
    seed0 = read_dataset(tmp_path, "summary", columns=["condition", "peak_nm_end"], filter=ds.field("condition") < 3)
    assert sorted(seed0["condition"]) == [0, 1, 2] and list(seed0.columns) == ["condition", "peak_nm_end"]
    pd.testing.assert_frame_equal(result.summary, pd.read_parquet(tmp_path / "summary"))


def test_a_changed_spec_never_reuses_stale_parts(tmp_path):
    changed = dict(SMALL, schedule={"hours": 0.5, "every_min": 20})
    ex = FlakyExecutor()
    run_sweep(changed, tmp_path, executor=ex, figure=False)
    ex2 = FlakyExecutor()
    run_sweep(SMALL, tmp_path, executor=ex2, figure=False)
    assert len(ex2.submitted) == 4


def test_dask_local_cluster_runs_the_same_sweep(tmp_path, pool_run):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        by_client = run_sweep(SMALL, tmp_path / "client", scheduler=client, figure=False)
        by_address = run_sweep(SMALL, tmp_path / "address", scheduler=cluster.scheduler_address, figure=False)
    key = ["condition", "well"]
    a, b = (r.summary.sort_values(key).reset_index(drop=True) for r in (by_client, by_address))
    assert by_client.manifest["finished"] == by_address.manifest["finished"] == 4
    pd.testing.assert_frame_equal(a, b)
    # the same table as the process pool's (values are compared exactly within one worker pool above: the cluster's
    # workers import the chemistry afresh, and its numbers are being recalibrated while this suite runs)
    expected = pool_run.summary.sort_values(key).reset_index(drop=True)
    assert list(a.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(a[["campaign_id", "seed", "condition", "well", *PARAMETERS]],
                                  expected[["campaign_id", "seed", "condition", "well", *PARAMETERS]])


def test_cli_sweep_subcommand(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SMALL))
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet",
                              "--x", "amine_per_acid", "--y", "antisolvent"])
    assert args.func(args) == 0
    assert "8 conditions" in capsys.readouterr().out
    assert (tmp_path / "out" / "summary.png").exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"parameters": {"ratio": [1]}}))
    args = parser.parse_args(["sweep", str(bad), "--out", str(tmp_path / "bad")])
    from twin.cli.main import run_command

    assert run_command(args.func, args) == 2  # the CLI's error policy: one line, exit 2
    err = capsys.readouterr().err
    assert err.startswith("larp-twin: error: ") and "unknown parameter(s) ['ratio']" in err
    assert not (tmp_path / "bad").exists()
