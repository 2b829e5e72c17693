"""Campaign sweeps: expand a SweepSpec into plates and campaigns, run them on any Executor, stream results to disk.

One campaign is one plate of up to ``wells_per_plate`` conditions, run once per campaign seed.  A plate is the unit
the lab runs, and the twin's per-campaign costs (dispatch, deck planning, result transfer, a parquet part) and its
batched Gaussian fits amortise over the plate's wells: a 96-well, 12 h campaign costs about as much wall time as
eight 1-well ones.  Parallelism comes from many plates x seeds; lower ``wells_per_plate`` to get more, smaller tasks.

Layout of ``out``::

    spec.json                          the spec as run (with its fingerprint)
    parts/<campaign_id>.features.parquet, .summary.parquet, .json   one set per finished campaign (json = done)
    features.parquet                   one row per well and read: condition, provenance, peak_nm, fwhm_nm, ...
    summary.parquet                    one row per well: condition, provenance, t0/end values, retention, stability
    manifest.json                      campaigns, timings, failures, versions
    summary.png                        end-of-run peak and intensity over two parameters

A crash keeps the finished parts; rerunning the same spec into the same directory skips them (campaign ids carry
the spec's fingerprint, so a changed spec never reuses stale parts).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.config import LabConfig, Schedule
from twin.messages import UserError
from twin.platemap import place
from twin.studies.spec import (PARAMETERS, SweepSpec, SweepSpecError, condition_rows, load_spec)

__all__ = ["CampaignTask", "SweepResult", "SweepRunError", "SweepSpec", "SweepSpecError", "load_spec",
           "plan_campaigns", "plot_sweep", "run_sweep", "run_task"]

PROVENANCE_COLUMNS = ["campaign_id", "plate", "seed", "condition", "larp_twin_version", "spec_fingerprint"]


class SweepRunError(RuntimeError):
    """Some campaigns of a sweep failed; the finished ones are on disk and a rerun retries only the failed ones."""


@dataclass
class CampaignTask:
    """One campaign of a sweep: a plate of conditions, the seed, schedule and lab (picklable, small)."""

    campaign_id: str
    plate: int
    seed: int
    conditions: pd.DataFrame
    schedule: Schedule
    lab: LabConfig
    plate_wells: int = 96
    sweep: str = "sweep"
    fingerprint: str = ""

    def plate_map(self) -> pd.DataFrame:
        return place(condition_rows(self.conditions), self.plate_wells)


def plan_campaigns(spec: SweepSpec) -> list[CampaignTask]:
    """Conditions packed into plates (in order), each plate once per campaign seed; plate maps validated up front."""
    from twin.platemap import PlateMapError, validate_plate_map

    from twin.prep import plan_deck

    # sorted by antisolvent and ligand pair, so that each plate needs as few stocks on the deck as possible
    conditions = spec.conditions().sort_values(["antisolvent", "pair"], kind="stable")
    fp = spec.fingerprint()
    tasks = []
    n_plates = -(-len(conditions) // spec.wells_per_plate)
    for p in range(n_plates):
        chunk = conditions.iloc[p * spec.wells_per_plate:(p + 1) * spec.wells_per_plate].reset_index(drop=True)
        for seed in spec.seeds:
            task = CampaignTask(f"p{p:04d}-s{seed}-{fp}", p, int(seed), chunk, spec.schedule, spec.lab,
                                spec.plate_wells, spec.name, fp)
            if seed == spec.seeds[0]:
                try:
                    pm = validate_plate_map(task.plate_map(), spec.plate_wells, source=f"plate {p}")
                    plan_deck(pm, spec.plate_wells)
                except PlateMapError as e:
                    raise SweepSpecError(f"parameters (plate {p}: conditions {chunk['condition'].min()}.."
                                         f"{chunk['condition'].max()}): {e}; lower wells_per_plate or vary fewer "
                                         f"antisolvents / pairs") from None
            tasks.append(task)
    return tasks


def _single_thread():
    """Process-pool initializer: one BLAS/OpenMP thread per worker (workers, not threads, give the parallelism)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


def run_task(task: CampaignTask) -> dict:
    """Run one campaign on the twin (or the lab ``task.lab`` names); return its tables and manifest (in a worker)."""
    from twin import __version__
    from twin.analysis import summarize_trajectories
    from twin.campaign import Campaign, run_campaign

    t0, cpu0 = time.perf_counter(), time.process_time()
    campaign = Campaign(name=f"{task.sweep}-{task.campaign_id}", plate_map=task.plate_map(),
                        plate_wells=task.plate_wells, schedule=task.schedule, lab=task.lab)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_campaign(campaign, seed=task.seed, progress=False)
    features = result.features()
    summary = summarize_trajectories(features)
    labels = result.plate[["well", "condition", *PARAMETERS]]
    prov = {"campaign_id": task.campaign_id, "plate": task.plate, "seed": task.seed,
            "larp_twin_version": __version__, "spec_fingerprint": task.fingerprint}

    def tidy(table):
        out = labels.merge(table, on="well", how="right")
        for k, v in prov.items():
            out[k] = v
        return out[PROVENANCE_COLUMNS + ["well", *PARAMETERS] + [c for c in table.columns if c != "well"]]

    manifest = dict(result.manifest, campaign_id=task.campaign_id, plate=task.plate, conditions=len(task.conditions),
                    warnings=sorted({str(w.message) for w in caught}), task_wall_s=time.perf_counter() - t0,
                    task_cpu_s=time.process_time() - cpu0,
                    worker_pid=os.getpid())
    return {"campaign_id": task.campaign_id, "features": tidy(features), "summary": tidy(summary),
            "manifest": manifest}


def _write_part(parts: Path, out: dict) -> None:
    """Write one campaign's parquet parts, then its json (the 'done' marker), each atomically."""
    cid = out["campaign_id"]
    for kind in ("features", "summary"):
        tmp = parts / f".{cid}.{kind}.parquet.tmp"
        out[kind].to_parquet(tmp, index=False)
        os.replace(tmp, parts / f"{cid}.{kind}.parquet")
    tmp = parts / f".{cid}.json.tmp"
    tmp.write_text(json.dumps(out["manifest"], indent=1, default=str))
    os.replace(tmp, parts / f"{cid}.json")


def _done(parts: Path, cid: str) -> bool:
    return all((parts / f"{cid}{suffix}").exists() for suffix in (".json", ".features.parquet", ".summary.parquet"))


def _resolve_executor(executor, scheduler, max_workers):
    """(executor, cleanup) for an Executor, a Dask scheduler address / Client, or a new local process pool."""
    if executor is not None and scheduler is not None:
        raise UserError("pass either executor or scheduler, not both")
    if executor is not None:
        if not isinstance(executor, Executor):
            raise TypeError(f"executor: expected a concurrent.futures.Executor, got {type(executor).__name__}")
        return executor, lambda: None
    if scheduler is not None:
        from distributed import Client

        own = not isinstance(scheduler, Client)
        client = Client(scheduler) if own else scheduler
        ex = client.get_executor(pure=False)
        return ex, (client.close if own else (lambda: None))
    pool = ProcessPoolExecutor(max_workers=max_workers, initializer=_single_thread)
    return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class SweepResult:
    """What a sweep left in ``out``: the tidy tables, the manifest and the campaigns that failed."""

    out: Path
    features: pd.DataFrame
    summary: pd.DataFrame
    manifest: dict
    failed: dict = field(default_factory=dict)


def run_sweep(spec: SweepSpec | str | Path | dict, out: str | Path, *, executor: Executor | None = None,
              scheduler=None, max_workers: int | None = None, progress: bool | None = None,
              figure: bool = True, x: str | None = None, y: str | None = None) -> SweepResult:
    """Run every campaign of ``spec`` not already finished in ``out`` and collect the tidy tables.

    Parameters
    ----------
    spec : a SweepSpec, or a JSON/YAML path, JSON text or dict (see ``load_spec``).
    out : output directory (created; finished campaigns in it are skipped).
    executor : any ``concurrent.futures.Executor`` (kept open); default a local ProcessPoolExecutor.
    scheduler : a Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``: run on that cluster.
    max_workers : size of the default process pool (default: CPU count).
    progress : tqdm bar over campaigns; default on when stderr is a terminal.
    figure, x, y : write ``summary.png`` over parameters ``x`` and ``y`` (default: the two that vary most).

    Raises SweepSpecError for a bad spec (before anything runs) and SweepRunError, after collecting the finished
    campaigns, when some failed.
    """
    t_plan = time.perf_counter()
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    tasks = plan_campaigns(spec)
    plan_s = time.perf_counter() - t_plan
    out = Path(out)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(dict(spec.model_dump(mode="json"), fingerprint=spec.fingerprint()),
                                              indent=1))
    todo = [t for t in tasks if not _done(parts, t.campaign_id)]
    failed: dict[str, str] = {}
    wall0 = time.perf_counter()
    if todo:
        ex, cleanup = _resolve_executor(executor, scheduler, max_workers)
        bar = _bar(len(tasks), len(tasks) - len(todo), progress)
        try:
            futures = {ex.submit(run_task, t): t.campaign_id for t in todo}
            for fut in as_completed(futures):
                cid = futures[fut]
                try:
                    _write_part(parts, fut.result())
                except Exception as e:  # a failed campaign must not lose the others
                    failed[cid] = "".join(traceback.format_exception_only(type(e), e)).strip()
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            cleanup()
    wall_s = time.perf_counter() - wall0
    result = _collect(spec, tasks, out, failed, wall_s, len(tasks) - len(todo))
    result.manifest.update(plan_s=round(plan_s, 3), collect_s=round(time.perf_counter() - wall0 - wall_s, 3))
    (out / "manifest.json").write_text(json.dumps(result.manifest, indent=1, default=str))
    if figure and not result.summary.empty:
        plot_sweep(result.summary, out / "summary.png", x=x, y=y, title=spec.name)
    if failed:
        first = next(iter(failed.items()))
        raise SweepRunError(f"{len(failed)} of {len(tasks)} campaigns failed (first: {first[0]}: {first[1]}); "
                            f"finished ones are in {out}; rerun to retry the failed ones")
    return result


def _bar(total: int, initial: int, enabled: bool | None):
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="campaign", desc="sweep", dynamic_ncols=True)


def _collect(spec, tasks, out: Path, failed: dict, wall_s: float, skipped: int) -> SweepResult:
    parts = out / "parts"
    done = [t for t in tasks if _done(parts, t.campaign_id)]
    read = lambda kind: (pd.concat([pd.read_parquet(parts / f"{t.campaign_id}.{kind}.parquet") for t in done],
                                   ignore_index=True) if done else pd.DataFrame())
    features, summary = read("features"), read("summary")
    manifests = [json.loads((parts / f"{t.campaign_id}.json").read_text()) for t in done]
    features.to_parquet(out / "features.parquet", index=False)
    summary.to_parquet(out / "summary.parquet", index=False)
    from twin import __version__

    task_s = [m.get("task_wall_s", np.nan) for m in manifests]
    manifest = {"sweep": spec.name, "description": spec.description, "larp_twin_version": __version__,
                "spec_fingerprint": spec.fingerprint(), "design": spec.design, "conditions": int(len(spec.conditions())),
                "seeds": spec.seeds, "campaigns": len(tasks), "finished": len(done), "skipped_as_done": skipped,
                "failed": failed, "wall_s": round(wall_s, 3),  # dispatch to last part on disk
                "campaign_wall_s_sum": round(float(np.nansum(task_s)), 3),
                "campaigns_detail": [{k: m.get(k) for k in ("campaign_id", "plate", "seed", "conditions", "reads",
                                                            "wells_read", "task_wall_s", "warnings")}
                                     for m in manifests]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return SweepResult(out, features, summary, manifest, failed)


def _axis_params(summary: pd.DataFrame) -> list[str]:
    """Parameters that vary, most levels first."""
    counts = {p: summary[p].nunique() for p in PARAMETERS if p in summary}
    return [p for p, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n > 1]


def plot_sweep(summary: pd.DataFrame, path: str | Path, x: str | None = None, y: str | None = None,
               metrics=("peak_nm_end", "height_end"), title: str = "sweep") -> Path:
    """End-of-run ``metrics`` over parameters ``x`` and ``y`` (means over seeds and other parameters).

    A heatmap when both have few levels (<= 24), else a scatter of the wells coloured by the metric.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    varying = _axis_params(summary)
    for name in (x, y):
        if name is not None and name not in PARAMETERS:
            raise SweepSpecError(f"figure axis {name!r}; allowed: {list(PARAMETERS)}")
    x = x or (varying[0] if varying else "amine_per_acid")
    y = y or next((p for p in varying if p != x), "seed")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        few = summary[x].nunique() <= 24 and summary[y].nunique() <= 24
        if few:
            grid = summary.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
            im = ax.imshow(grid.to_numpy(float), aspect="auto", origin="lower", cmap="viridis")
            ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns], rotation=90, fontsize=7)
            ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index], fontsize=7)
        else:
            im = ax.scatter(summary[x], summary[y], c=summary[metric], s=14, cmap="viridis")
        fig.colorbar(im, ax=ax, label=metric)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{metric} (mean over other parameters)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)
