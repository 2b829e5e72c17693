"""Closed-loop optimisation on the twin: propose a plate of conditions, run it, score it, update, repeat.

Strategies share one ask/tell interface (``ask(n) -> conditions``, ``tell(conditions, scores)``): ``OptunaTPE``
("tpe", the default: Optuna's TPE sampler through Optuna's ask/tell), ``BayesianOptimizer`` ("bo": our scikit-learn
Gaussian process + expected improvement), ``RandomSearch`` and ``GridSearch`` (twin.studies.strategies).
``EmissionObjective`` scores a well by a desirability of peak position, FWHM, 12 h retention and brightness;
``pareto_front`` lists the trade-offs.  ``PlateRunner`` turns a plate of conditions into a campaign and runs it with
``run_campaign`` on the lab its ``LabConfig`` names, so the loop rehearsed on the twin drives real backends
unchanged.  ``optimize`` runs one loop; ``run_loops`` runs every strategy over several seeds on the same plate budget
and ``summarize_loops`` reports plates needed to reach an absolute target score (``compare_strategies`` does both).
The ``larp-twin optimize`` command is in ``twin.cli.optimize``; docs/optimize.md drives the twin from an Optuna
study."""

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
from twin.studies.strategies import (_ALIASES, STRATEGIES, BayesianOptimizer, GridSearch, OptunaTPE,  # noqa: F401
                                     RandomSearch, make_strategy)


class EmissionObjective(BaseModel):
    """Default objective: a desirability (Derringer & Suich) of the four things a chemist asks of a well.

    Each end-of-run feature gets a desirability d in [0, 1]: the peak ``d = 1 - |peak - peak_target_nm| /
    peak_tolerance_nm`` (colour on target); the FWHM 1 at ``fwhm_goal_nm`` or narrower, falling linearly to 0 at
    ``max_fwhm_nm``; the 12 h intensity retention 1 at ``retention_goal`` or more, 0 at ``min_retention``; the
    brightness (``height_end``, RFU) log-linear from 0 at ``min_height`` to 1 at ``height_goal``.  The score of a
    well meeting every limit (``feasible``: every d > 0) is their geometric mean, in (0, 1]: a well is only as good
    as its worst feature.  A well missing a limit scores minus its ``shortfall`` (how far past the limits, -1 per
    missed limit at most; dark or failed wells about -4), so a sampler can still climb toward the limits.
    ``target`` is the absolute score a loop must reach (plates to target count the plates until one well has it).
    A feature whose limit (or ``peak_target_nm``) is None drops out of the mean; docs/optimize.md has the table.
    The defaults are limits real wells meet: the 9 of the lab's chloroform 1:30 wells still emitting after ~11 h
    (scenarios/data/real/) end at 25.8-26.8 nm FWHM and the twin's brightest at ~26.5 nm, so ``max_fwhm_nm`` is 32
    (no well of either reaches 25).
    """

    model_config = ConfigDict(extra="forbid")
    peak_target_nm: float | None = Field(520.0, gt=300, lt=800, allow_inf_nan=False,
                                         description="end-of-run emission peak wanted (nm)")
    peak_tolerance_nm: float = Field(6.0, gt=0, allow_inf_nan=False,
                                     description="peak this far from the target (nm) scores 0")
    fwhm_goal_nm: float = Field(24.0, gt=0, allow_inf_nan=False, description="FWHM this narrow or narrower scores 1")
    max_fwhm_nm: float | None = Field(32.0, gt=0, allow_inf_nan=False, description="FWHM limit: this wide scores 0")
    retention_goal: float = Field(1.0, gt=0, allow_inf_nan=False, description="end/start intensity scoring 1")
    min_retention: float | None = Field(0.8, ge=0, allow_inf_nan=False,
                                        description="retention limit over the run: this or lower scores 0")
    height_goal: float = Field(50_000.0, gt=0, allow_inf_nan=False, description="end-of-run height scoring 1 (RFU)")
    min_height: float | None = Field(1_000.0, gt=0, allow_inf_nan=False,
                                     description="brightness limit: this or dimmer scores 0 (RFU)")
    target: float = Field(0.8, gt=0, le=1, allow_inf_nan=False,
                          description="score a loop must reach (plates to target)")

    @model_validator(mode="after")
    def _ordered(self):
        for goal, limit, better in (("fwhm_goal_nm", "max_fwhm_nm", "<"), ("retention_goal", "min_retention", ">"),
                                    ("height_goal", "min_height", ">")):
            g, lim = getattr(self, goal), getattr(self, limit)
            if lim is not None and not (g < lim if better == "<" else g > lim):
                raise ValueError(f"{goal} {g:g} must be {'below' if better == '<' else 'above'} {limit} {lim:g}")
        return self

    def _ramps(self, summary: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per applied feature, its unclipped linear desirability per well: >= 1 at the goal, <= 0 past the limit
        (NaN where the feature is missing)."""
        def col(name):
            return summary[name].to_numpy(float)

        def ramp(x, zero, one):  # 0 at ``zero``, 1 at ``one`` (either direction)
            return (x - zero) / (one - zero)

        u = {}
        if self.peak_target_nm is not None:
            u["peak"] = 1.0 - np.abs(col("peak_nm_end") - self.peak_target_nm) / self.peak_tolerance_nm
        if self.max_fwhm_nm is not None:
            u["fwhm"] = ramp(col("fwhm_nm_end"), self.max_fwhm_nm, self.fwhm_goal_nm)
        if self.min_retention is not None:
            u["retention"] = ramp(col("intensity_retention"), self.min_retention, self.retention_goal)
        if self.min_height is not None:
            h = col("height_end")
            with np.errstate(divide="ignore", invalid="ignore"):
                u["height"] = np.where(h > 0, ramp(np.log(np.where(h > 0, h, 1.0)), np.log(self.min_height),
                                                   np.log(self.height_goal)), np.where(np.isnan(h), np.nan, -np.inf))
        return u

    def desirabilities(self, summary: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per applied feature, its desirability per well (0..1; 0 where the feature is missing)."""
        return {k: np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0) for k, v in self._ramps(summary).items()}

    def _limits(self) -> dict[str, str]:
        """Feature -> the limit a well must meet for its desirability to be > 0, in words."""
        out = {}
        if self.peak_target_nm is not None:
            out["peak"] = (f"peak_nm_end within {self.peak_target_nm:g} +- {self.peak_tolerance_nm:g}")
        if self.max_fwhm_nm is not None:
            out["fwhm"] = f"fwhm_nm_end < {self.max_fwhm_nm:g}"
        if self.min_retention is not None:
            out["retention"] = f"intensity_retention > {self.min_retention:g}"
        if self.min_height is not None:
            out["height"] = f"height_end > {self.min_height:g} RFU"
        return out

    def feasible(self, summary: pd.DataFrame) -> np.ndarray:
        """Wells meeting every limit (every desirability > 0)."""
        d = self.desirabilities(summary)
        return np.logical_and.reduce([v > 0 for v in d.values()]) if d else np.ones(len(summary), bool)

    def shortfall(self, summary: pd.DataFrame) -> np.ndarray:
        """Per well, how far it misses its limits: per missed limit the distance past it in units of that
        feature's goal-to-limit span, at most 1 (a missing feature counts 1); 0 for a feasible well."""
        u = self._ramps(summary)
        miss = [np.minimum(np.nan_to_num(np.maximum(-v, 0.0), nan=1.0, posinf=1.0), 1.0) for v in u.values()]
        return np.sum(miss, axis=0) if miss else np.zeros(len(summary))

    def limit_report(self, summary: pd.DataFrame) -> pd.DataFrame:
        """One row per applied limit: the fraction of wells meeting it, alone and with every other limit met."""
        met = {self._limits()[k]: v > 0 for k, v in self.desirabilities(summary).items()}
        rows = []
        for name in met:
            others = np.logical_and.reduce([m for k, m in met.items() if k != name] or [np.ones(len(summary), bool)])
            rows.append(dict(limit=name, met_fraction=float(np.mean(met[name])) if len(summary) else np.nan,
                             wells_meeting_others=int(others.sum()),
                             met_fraction_given_others=float(np.mean(met[name][others])) if others.any() else np.nan))
        return pd.DataFrame(rows, columns=["limit", "met_fraction", "wells_meeting_others",
                                           "met_fraction_given_others"])

    def __call__(self, summary: pd.DataFrame) -> np.ndarray:
        """Score per well: the geometric mean of the desirabilities (0..1] if it meets every limit, else minus its
        ``shortfall`` (-k..0, so a sampler still climbs toward the limits when no well meets them)."""
        d = self.desirabilities(summary)
        if not d:
            raise UserError("objective: every feature is switched off; allowed: at least one of peak_target_nm, "
                            "max_fwhm_nm, min_retention, min_height set")
        mean = np.prod(np.vstack(list(d.values())), axis=0) ** (1.0 / len(d))
        return np.where(self.feasible(summary), mean, -self.shortfall(summary))


def pareto_front(history: pd.DataFrame, objective: EmissionObjective | None = None) -> pd.DataFrame:
    """The feasible wells no other feasible well beats on every feature at once (closer to the peak target, narrower,
    better retained and brighter): the trade-offs a chemist chooses from, best score first."""
    objective = objective or EmissionObjective()
    h = history[objective.feasible(history)]
    d = objective.desirabilities(h)
    raw = {"peak": -np.abs(h["peak_nm_end"].to_numpy(float) - (objective.peak_target_nm or 0.0)),
           "fwhm": -h["fwhm_nm_end"].to_numpy(float), "retention": h["intensity_retention"].to_numpy(float),
           "height": h["height_end"].to_numpy(float)}
    F = np.column_stack([raw[k] for k in d]) if d else np.zeros((len(h), 0))
    # i is dominated if some j is >= on every feature and > on one (numpy broadcast: wells x wells x features)
    ge = (F[None, :, :] >= F[:, None, :]).all(axis=2)
    gt = (F[None, :, :] > F[:, None, :]).any(axis=2)
    keep = ~(ge & gt).any(axis=1)
    front = h[keep]
    if "score" in front:
        front = front.sort_values("score", ascending=False)
    return front.reset_index(drop=True)


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
    strategy = make_strategy(name, space, seed, plates * plate_size, plate_size)
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


def summarize_loops(loops: list[LoopRun], target: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-plate and per-strategy tables of a comparison.

    ``target`` is the absolute score to reach (default: the default objective's ``target``, 0.8); the same
    number for every strategy and seed, whatever the loops found.
    Returns (runs, report): ``runs`` has one row per strategy, seed and plate (``LoopResult.plates`` columns, ``plate``
    1-based); ``report`` one row per strategy with the plates each seed needed (``plates_to_target``: NaN = not
    reached), their median (a seed that never reached it counts as budget + 1), how many seeds reached it, the mean
    final best score, the fraction of feasible wells, and the mean proposal and campaign wall time per plate.
    """
    runs = pd.concat([lp.result.plates.assign(strategy=lp.strategy, seed=lp.seed, plate=lp.result.plates["plate"] + 1)
                      for lp in loops], ignore_index=True)
    runs = runs[["strategy", "seed", *[c for c in runs.columns if c not in ("strategy", "seed")]]]
    if target is None:
        target = EmissionObjective().target
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
                       runner: Callable | None = None, target: float | None = None,
                       executor: Executor | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every strategy x seed on the same plate budget (``run_loops``), then ``summarize_loops``: (runs, report)."""
    loops = run_loops(space, plates, plate_size, seeds, strategies, objective=objective, runner=runner,
                      executor=executor)
    if target is None and isinstance(objective, EmissionObjective):
        target = objective.target
    return summarize_loops(loops, target)
