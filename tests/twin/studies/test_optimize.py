from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from twin.config import Schedule
from twin.studies.optimize import (BayesianOptimizer, EmissionObjective, GridSearch, PlateRunner, RandomSearch, SearchSpace,
                           compare_strategies, make_strategy, optimize, run_loops, summarize_loops)
from twin.studies.spec import PARAMETERS, Range

SPACE = SearchSpace(parameters={"pair": ["OAc:OLAm", "OctAc:OctAm"], "amine_per_acid": Range(low=0.1, high=2.0),
                                "acid_per_pbbr2": Range(low=10, high=40, log=True)})


def synthetic_runner(conditions, seed, plate=0):
    """A stand-in for the twin: a smooth, noisy landscape peaking at OAc:OLAm, amine_per_acid 0.6, 1:20 acid."""
    rng = np.random.default_rng(seed)
    a = conditions["amine_per_acid"].to_numpy(float)
    r = np.log(conditions["acid_per_pbbr2"].to_numpy(float) / 20)
    good = (conditions["pair"] == "OAc:OLAm").to_numpy()
    height = 4e4 * np.exp(-((a - 0.6) / 0.35) ** 2 - (r / 0.4) ** 2) * np.where(good, 1.0, 0.3)
    height *= 1 + 0.02 * rng.standard_normal(len(a))
    return conditions.reset_index(drop=True).assign(
        condition=np.arange(len(a)), peak_nm_end=520.0, fwhm_nm_end=22.0, intensity_retention=0.95, height_end=height)


def test_search_space_rejects_unknown_parameters_and_values():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['ratio'\]; allowed: \['antisolvent'"):
        SearchSpace(parameters={"ratio": Range(low=0, high=1)})
    with pytest.raises(ValueError, match="parameters.antisolvent: 'water'.*chloroform"):
        SearchSpace(parameters={"antisolvent": ["water"]})
    with pytest.raises(ValueError, match="Range"):
        SearchSpace(parameters={"amine_per_acid": [0.1, 0.5]})


def test_encoding_is_one_hot_and_unit_scaled():
    cond = pd.DataFrame({"pair": ["OAc:OLAm", "OctAc:OctAm"], "amine_per_acid": [0.1, 2.0],
                         "acid_per_pbbr2": [10.0, 40.0]})
    np.testing.assert_allclose(SPACE.encode(cond), [[1, 0, 0, 0], [0, 1, 1, 1]])


def test_objective_scores_brightness_and_penalises_each_violated_limit():
    s = pd.DataFrame({"peak_nm_end": [520, 530, 520, 520, np.nan], "fwhm_nm_end": [22, 22, 30, 22, np.nan],
                      "intensity_retention": [0.95, 0.95, 0.95, 0.5, np.nan],
                      "height_end": [1000, 1000, 1000, 1000, np.nan]})
    obj = EmissionObjective()
    score = obj(s)
    assert score[0] == 1000 and list(obj.feasible(s)) == [True, False, False, False, False]
    assert score[1] == pytest.approx(1000 * np.exp(-1)) and score[2] == pytest.approx(1000 * np.exp(-2))
    assert score[3] < 1 and score[4] == 0


def test_objective_limits_are_validated_and_can_be_dropped():
    with pytest.raises(ValueError, match="high > low"):
        EmissionObjective(peak_nm=(525, 515))
    with pytest.raises(ValueError, match="max_fwhm_nm"):
        EmissionObjective(max_fwhm_nm=-1)
    with pytest.raises(ValueError, match="extra"):
        EmissionObjective(max_fwhm=25)
    s = pd.DataFrame({"peak_nm_end": [520.0], "fwhm_nm_end": [30.0], "intensity_retention": [0.95],
                      "height_end": [1000.0]})
    assert not EmissionObjective().feasible(s)[0]
    assert EmissionObjective(max_fwhm_nm=None).feasible(s)[0] and EmissionObjective(max_fwhm_nm=None)(s)[0] == 1000


def test_limit_report_says_which_limit_no_well_meets():
    s = pd.DataFrame({"peak_nm_end": [520, 520, 500], "fwhm_nm_end": [27, 26, 22],
                      "intensity_retention": [0.95, 0.95, 0.95], "height_end": [1000, 900, 800]})
    rep = EmissionObjective().limit_report(s).set_index("limit")
    fwhm = rep.loc["fwhm_nm_end <= 25"]
    assert fwhm["met_fraction"] == pytest.approx(1 / 3)
    assert fwhm["wells_meeting_others"] == 2 and fwhm["met_fraction_given_others"] == 0
    assert rep.loc["intensity_retention >= 0.9", "met_fraction"] == 1


def test_strategy_names_and_the_bayes_alias():
    assert isinstance(make_strategy("bo", SPACE, 0, 16), BayesianOptimizer)
    assert isinstance(make_strategy("bayes", SPACE, 0, 16), BayesianOptimizer)
    with pytest.raises(ValueError, match=r"strategy 'sgd'; allowed: \['bo', 'random', 'grid'\]"):
        make_strategy("sgd", SPACE, 0, 16)


def test_loop_records_proposal_and_campaign_time_per_plate():
    res = optimize(BayesianOptimizer(SPACE, seed=0, n_candidates=300), plates=2, plate_size=8,
                   runner=synthetic_runner)
    p = res.plates
    assert list(p["plate"]) == [0, 1] and (p[["ask_s", "run_s", "tell_s"]] >= 0).all().all()
    assert list(p["best_score"]) == res.best_by_plate and res.feasible_fraction == 1.0
    assert p["plate_best_score"].max() == p["best_score"].iloc[-1]


def test_run_loops_in_process_then_summarize_counts_unreached_seeds():
    loops = run_loops(SPACE, plates=2, plate_size=8, seeds=(0, 1), strategies=("random", "grid"),
                      runner=synthetic_runner, max_workers=1)
    assert [(lp.strategy, lp.seed) for lp in loops] == [("random", 0), ("random", 1), ("grid", 0), ("grid", 1)]
    runs, report = summarize_loops(loops, target=1e9)
    assert set(runs["plate"]) == {1, 2} and len(runs) == 8
    assert (report["reached"] == 0).all() and (report["median_plates_to_target"] == 3).all()
    assert all(np.isnan(v).all() for v in report["plates_to_target"])


def test_grid_search_visits_each_grid_point_once_per_pass():
    g = GridSearch(SPACE, budget=32, seed=1)
    seen = pd.concat([g.ask(8) for _ in range(len(g.grid) // 8)])
    assert len(g.grid) >= 32
    assert not seen.duplicated().any()


def test_bayesian_optimizer_beats_random_search_on_a_smooth_landscape():
    finals = {"bayes": [], "random": []}
    for seed in (0, 1):
        for name, strategy in (("bayes", BayesianOptimizer(SPACE, seed=seed, n_candidates=600)),
                               ("random", RandomSearch(SPACE, seed=seed))):
            res = optimize(strategy, plates=4, plate_size=8, runner=synthetic_runner, seed=seed)
            assert len(res.history) == 32 and np.all(np.diff(res.best_by_plate) >= 0)
            finals[name].append(res.best_by_plate[-1])
    assert np.mean(finals["bayes"]) > np.mean(finals["random"])
    assert min(finals["bayes"]) > 0.9 * 4e4


def test_batch_proposals_are_distinct_conditions():
    bo = BayesianOptimizer(SPACE, seed=3, n_candidates=400)
    first = bo.ask(8)
    bo.tell(first, EmissionObjective()(synthetic_runner(first, 0)))
    nxt = bo.ask(8)
    assert len(nxt) == 8 and not nxt.duplicated().any()
    assert list(nxt.columns) == list(PARAMETERS)


def test_a_user_objective_must_return_one_score_per_well():
    with pytest.raises(ValueError, match="one score per well"):
        optimize(RandomSearch(SPACE), plates=1, plate_size=8, runner=synthetic_runner, objective=lambda s: [1.0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # GP fits in threads
def test_compare_reports_plates_to_target_for_every_strategy():
    runs, report = compare_strategies(SPACE, plates=3, plate_size=8, seeds=(0, 1), runner=synthetic_runner,
                                      target=0.8 * 4e4, executor=ThreadPoolExecutor(2))
    assert set(report["strategy"]) == {"bo", "random", "grid"}
    assert len(runs) == 3 * 2 * 3
    assert report["median_plates_to_target"].between(1, 4).all()
    assert (report["seeds"] == 2).all()


def test_loop_drives_real_campaigns_on_the_twin():
    runner = PlateRunner(schedule=Schedule(hours=1, every_min=20))
    space = SearchSpace(parameters={"antisolvent": ["toluene", "chloroform"],
                                    "amine_per_acid": Range(low=0.1, high=2.0)})
    res = optimize(BayesianOptimizer(space, seed=0, n_candidates=300), plates=2, plate_size=8, runner=runner)
    h = res.history
    assert len(h) == 16 and set(h["plate"]) == {0, 1}
    assert {"score", "feasible", "peak_nm_end", "campaign_id", *PARAMETERS} <= set(h.columns)
    assert res.best["score"] == h["score"].max() > 0
    # acid-rich OAc:OLAm in toluene is the bright, stable corner of the paper
    assert res.best["antisolvent"] == "toluene"
