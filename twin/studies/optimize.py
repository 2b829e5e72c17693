"""Closed-loop optimisation on the twin: propose a plate of conditions, run it, score it, update, repeat.

Strategies share one ask/tell interface (``ask(n) -> conditions``, ``tell(conditions, scores)``):
``BayesianOptimizer`` ("bo": scikit-learn Gaussian process + expected improvement, a batch per plate by the kriging
believer), ``RandomSearch`` and ``GridSearch``.  ``PlateRunner`` turns a plate of conditions into a campaign and runs
it with ``run_campaign`` on the lab its ``LabConfig`` names, so the loop rehearsed on the twin drives real backends
unchanged.  ``optimize`` runs one loop; ``run_loops`` runs every strategy over several seeds on the same plate budget
and ``summarize_loops`` reports plates needed to reach a target score (``compare_strategies`` does both).
The ``larp-twin optimize`` command is in ``twin.cli.optimize``."""

from __future__ import annotations

import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.config import LabConfig, Schedule
from twin.messages import UserError
from twin.studies.space import SearchSpace  # noqa: F401  (re-exported for the loop's users)
from twin.studies.spec import PARAMETERS
from twin.studies.strategies import (_ALIASES, STRATEGIES, BayesianOptimizer, GridSearch, RandomSearch,  # noqa: F401
                                     make_strategy)


class EmissionObjective(BaseModel):
    """Default objective: brightest end-of-run emission with peak in ``peak_nm``, retention and FWHM limits.

    Score (higher is better, RFU) = ``height_end`` x exp(-violation), where violation adds the peak's distance outside
    ``peak_nm`` / 5 nm, the retention shortfall below ``min_retention`` / 0.05 and the FWHM excess over ``max_fwhm_nm``
    / 2.5 nm.  A well meeting every limit (``feasible``) scores its brightness; dark or failed wells score 0.  A limit
    set to None is not applied.  The limits are soft: when no well meets them all, the loop still climbs toward the
    least-violating bright wells; ``limit_report`` says how often each limit was met.
    """

    model_config = ConfigDict(extra="forbid")
    peak_nm: tuple[float, float] | None = Field((515.0, 525.0), description="end-of-run peak window (nm)")
    min_retention: float | None = Field(0.9, ge=0, allow_inf_nan=False,
                                        description="minimum end/start intensity ratio over the run")
    max_fwhm_nm: float | None = Field(25.0, gt=0, allow_inf_nan=False, description="maximum end-of-run FWHM (nm)")

    @model_validator(mode="after")
    def _window(self):
        if self.peak_nm is not None and not (np.all(np.isfinite(self.peak_nm)) and self.peak_nm[1] > self.peak_nm[0]):
            raise ValueError(f"peak_nm {list(self.peak_nm)}: needs [low, high] with high > low (nm)")
        return self

    def _limits(self):
        """(name, column, violation-per-well function) for each applied limit."""
        out = []
        if self.peak_nm is not None:
            lo, hi = self.peak_nm
            out.append((f"peak_nm_end in [{lo:g}, {hi:g}]", "peak_nm_end",
                        lambda x: (np.maximum(0, lo - x) + np.maximum(0, x - hi)) / 5.0))
        if self.min_retention is not None:
            out.append((f"intensity_retention >= {self.min_retention:g}", "intensity_retention",
                        lambda x: np.maximum(0, self.min_retention - x) / 0.05))
        if self.max_fwhm_nm is not None:
            out.append((f"fwhm_nm_end <= {self.max_fwhm_nm:g}", "fwhm_nm_end",
                        lambda x: np.maximum(0, x - self.max_fwhm_nm) / 2.5))
        return out

    def violation(self, summary: pd.DataFrame) -> np.ndarray:
        """Summed scaled violation per well (0 = every limit met, inf = a feature is missing)."""
        v = np.zeros(len(summary))
        for _, col, fn in self._limits():
            v = v + fn(summary[col].to_numpy(float))
        return np.where(np.isfinite(v), v, np.inf)

    def feasible(self, summary: pd.DataFrame) -> np.ndarray:
        return self.violation(summary) == 0

    def limit_report(self, summary: pd.DataFrame) -> pd.DataFrame:
        """One row per applied limit: the fraction of wells meeting it, alone and with every other limit met."""
        met = {name: fn(summary[col].to_numpy(float)) == 0 for name, col, fn in self._limits()}
        rows = []
        for name in met:
            others = np.logical_and.reduce([m for k, m in met.items() if k != name] or [np.ones(len(summary), bool)])
            rows.append(dict(limit=name, met_fraction=float(np.mean(met[name])) if len(summary) else np.nan,
                             wells_meeting_others=int(others.sum()),
                             met_fraction_given_others=float(np.mean(met[name][others])) if others.any() else np.nan))
        return pd.DataFrame(rows, columns=["limit", "met_fraction", "wells_meeting_others",
                                           "met_fraction_given_others"])

    def __call__(self, summary: pd.DataFrame) -> np.ndarray:
        height = np.nan_to_num(summary["height_end"].to_numpy(float), nan=0.0)
        return np.maximum(height, 0.0) * np.exp(-self.violation(summary))


@dataclass
class PlateRunner:
    """Runs a plate of conditions as one campaign on the lab ``lab`` names; returns the per-well summary table."""

    schedule: Schedule = field(default_factory=Schedule)
    lab: LabConfig = field(default_factory=LabConfig)
    plate_wells: int = 96
    name: str = "loop"

    def __call__(self, conditions: pd.DataFrame, seed: int, plate: int = 0) -> pd.DataFrame:
        from twin.studies.sweep import CampaignTask, run_task

        cond = conditions.reset_index(drop=True).copy()
        cond["condition"] = np.arange(len(cond))
        task = CampaignTask(f"p{plate:04d}-s{seed}", plate, seed, cond[["condition", *PARAMETERS]], self.schedule,
                            self.lab, self.plate_wells, self.name)
        return run_task(task)["summary"]


@dataclass
class LoopResult:
    """One loop's history and its per-plate record.

    ``history``: one row per well (the campaign summary plus ``plate``, ``score`` and, for objectives that have
    limits, ``feasible``).  ``plates``: one row per plate with ``best_score`` (best so far), ``plate_best_score``,
    ``feasible_fraction`` and wall times ``ask_s`` (the strategy's proposal), ``run_s`` (the campaign) and ``tell_s``.
    """

    history: pd.DataFrame
    plates: pd.DataFrame

    @property
    def best_by_plate(self) -> list[float]:
        return self.plates["best_score"].tolist()

    def plates_to_reach(self, target: float) -> float:
        """1-based number of plates after which the best score first reaches ``target`` (NaN if never)."""
        hits = np.flatnonzero(np.asarray(self.best_by_plate) >= target)
        return float(hits[0] + 1) if hits.size else float("nan")

    @property
    def best(self) -> pd.Series:
        """The highest-scoring well."""
        return self.history.loc[self.history["score"].idxmax()]

    @property
    def feasible_fraction(self) -> float:
        """Fraction of wells meeting every limit of the objective (NaN if it has no limits)."""
        return float(self.history["feasible"].mean()) if "feasible" in self.history else float("nan")


def optimize(strategy, plates: int, plate_size: int = 24, *, objective: Callable | None = None,
             runner: Callable | None = None, seed: int = 0, callback: Callable | None = None) -> LoopResult:
    """Run the closed loop: ``plates`` times ask a plate of ``plate_size`` conditions, run, score, tell.

    Parameters
    ----------
    strategy : object with ``ask(n) -> DataFrame`` and ``tell(conditions, scores)`` (see STRATEGIES).
    plates, plate_size : plate budget and conditions per plate (8-96 on a 96-well plate).
    objective : callable(per-well summary table) -> scores, higher is better (default EmissionObjective()).
    runner : callable(conditions, seed, plate) -> per-well summary (default PlateRunner(): 12 h on the twin).
    seed : campaign seeds are ``seed * 1000 + plate``.
    callback : called with (plate, scored summary) after each plate.
    """
    objective = objective or EmissionObjective()
    runner = runner or PlateRunner()
    parts, records, running = [], [], -np.inf
    for p in range(plates):
        t0 = time.perf_counter()
        conditions = strategy.ask(plate_size)
        t1 = time.perf_counter()
        summary = runner(conditions, seed * 1000 + p, p)
        t2 = time.perf_counter()
        summary = summary.sort_values("condition").reset_index(drop=True)
        scores = np.asarray(objective(summary), float)
        if scores.shape != (len(summary),):
            raise UserError(f"objective returned shape {scores.shape}; allowed: one score per well ({len(summary)})")
        strategy.tell(summary[list(PARAMETERS)], scores)
        t3 = time.perf_counter()
        summary = summary.assign(plate=p, score=scores)
        if hasattr(objective, "feasible"):
            summary["feasible"] = objective.feasible(summary)
        parts.append(summary)
        plate_best = float(np.nanmax(scores)) if np.isfinite(scores).any() else -np.inf
        running = max(running, plate_best)
        records.append(dict(plate=p, best_score=float(running), plate_best_score=plate_best,
                            feasible_fraction=float(summary["feasible"].mean()) if "feasible" in summary else np.nan,
                            ask_s=t1 - t0, run_s=t2 - t1, tell_s=t3 - t2))
        if callback is not None:
            callback(p, summary)
    return LoopResult(pd.concat(parts, ignore_index=True), pd.DataFrame(records))


@dataclass
class LoopRun:
    """One strategy x seed loop of a comparison."""

    strategy: str
    seed: int
    result: LoopResult


def _one_loop(args) -> LoopRun:
    name, seed, space, plates, plate_size, objective, runner = args
    strategy = make_strategy(name, space, seed, plates * plate_size)
    return LoopRun(name, seed, optimize(strategy, plates, plate_size, objective=objective, runner=runner, seed=seed))


def run_loops(space: SearchSpace | None = None, plates: int = 6, plate_size: int = 24, seeds=(0, 1, 2),
              strategies=STRATEGIES, *, objective: Callable | None = None, runner: Callable | None = None,
              executor: Executor | None = None, max_workers: int | None = None) -> list[LoopRun]:
    """Every strategy x seed on the same plate budget, in parallel on ``executor``.

    Without an executor the loops run on a process pool of ``max_workers`` (default: one per loop, at most the CPU
    count); ``max_workers=1`` runs them one after another in this process.
    """
    space = space or SearchSpace()
    objective = objective or EmissionObjective()
    runner = runner or PlateRunner()
    strategies = [_ALIASES.get(s, s) for s in strategies]
    for s in strategies:
        if s not in STRATEGIES:
            raise UserError(f"strategy {s!r}; allowed: {list(STRATEGIES)}")
    jobs = [(s, seed, space, plates, plate_size, objective, runner) for s in strategies for seed in seeds]
    workers = max_workers or min(len(jobs), os.cpu_count() or 1)
    if executor is None and workers == 1:
        return [_one_loop(job) for job in jobs]
    own = executor is None
    executor = executor or ProcessPoolExecutor(max_workers=workers)
    try:
        return list(executor.map(_one_loop, jobs))
    finally:
        if own:
            executor.shutdown()


def summarize_loops(loops: list[LoopRun], target: float | None = None,
                    target_fraction: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-plate and per-strategy tables of a comparison.

    ``target`` is the score to reach; by default ``target_fraction`` x the best score any loop found.
    Returns (runs, report): ``runs`` has one row per strategy, seed and plate (``LoopResult.plates`` columns, ``plate``
    1-based); ``report`` one row per strategy with the plates each seed needed (``plates_to_target``: NaN = not
    reached), their median (a seed that never reached it counts as budget + 1), how many seeds reached it, the mean
    final best score, the fraction of feasible wells, and the mean proposal and campaign wall time per plate.
    """
    runs = pd.concat([lp.result.plates.assign(strategy=lp.strategy, seed=lp.seed, plate=lp.result.plates["plate"] + 1)
                      for lp in loops], ignore_index=True)
    runs = runs[["strategy", "seed", *[c for c in runs.columns if c not in ("strategy", "seed")]]]
    if target is None:
        target = target_fraction * runs["best_score"].max()
    report = []
    for s in dict.fromkeys(lp.strategy for lp in loops):
        mine = [lp for lp in loops if lp.strategy == s]
        budget = len(mine[0].result.plates)
        per_seed = [lp.result.plates_to_reach(target) for lp in mine]
        report.append(dict(
            strategy=s, target=float(target), reached=int(np.isfinite(per_seed).sum()), seeds=len(mine),
            plates_to_target=per_seed,
            median_plates_to_target=float(np.median([p if np.isfinite(p) else budget + 1 for p in per_seed])),
            mean_final_best=float(np.mean([lp.result.best_by_plate[-1] for lp in mine])),
            feasible_fraction=float(np.mean([lp.result.feasible_fraction for lp in mine])),
            ask_s_per_plate=float(np.mean([lp.result.plates["ask_s"].mean() for lp in mine])),
            run_s_per_plate=float(np.mean([lp.result.plates["run_s"].mean() for lp in mine]))))
    return runs, pd.DataFrame(report)


def compare_strategies(space: SearchSpace | None = None, plates: int = 6, plate_size: int = 24,
                       seeds=(0, 1, 2), strategies=STRATEGIES, *, objective: Callable | None = None,
                       runner: Callable | None = None, target: float | None = None, target_fraction: float = 0.9,
                       executor: Executor | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every strategy x seed on the same plate budget (``run_loops``), then ``summarize_loops``: (runs, report)."""
    loops = run_loops(space, plates, plate_size, seeds, strategies, objective=objective, runner=runner,
                      executor=executor)
    return summarize_loops(loops, target, target_fraction)
