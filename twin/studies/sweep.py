"""Campaign sweeps: expand a SweepSpec into plates and campaigns, run them on any Executor, stream results to disk.

One campaign is one plate of up to ``wells_per_plate`` conditions, run once per campaign seed.  A plate is the unit
the lab runs, and the twin's per-campaign costs (dispatch, deck planning, result transfer, a parquet part) and its
batched Gaussian fits amortise over the plate's wells: a 96-well, 12 h campaign costs about as much wall time as
eight 1-well ones.  Parallelism comes from many plates x seeds; lower ``wells_per_plate`` to get more, smaller tasks.

Layout of ``out`` (three Parquet datasets, one fragment per campaign, written as each campaign finishes)::

    spec.json                          the spec as run (with its fingerprint)
    features/<campaign_id>.parquet     one row per well and read: condition, provenance, peak_nm, fwhm_nm, ...
    summary/<campaign_id>.parquet      one row per well: condition, provenance, t0/end values, retention, stability
    campaigns/<campaign_id>.parquet    one row: reads, wall and CPU seconds, warnings, the campaign's manifest (JSON);
                                       written last, so it is the campaign's 'done' marker
    manifest.json                      counts, timings, failures, versions (sums over ``campaigns/``)
    summary.png                        end-of-run peak and intensity over two parameters

Read a dataset whole or in part with ``read_dataset(out, "summary", columns=..., filter=...)``, or
``pandas.read_parquet(out / "summary")`` / ``pyarrow.dataset.dataset(out / "summary")``: a dataset needs no merge,
so a sweep's end reads three numbers per campaign (for the manifest) and the figure's columns, never the tables.  Workers serialise
their fragments; the driver writes the bytes and keeps only ids (skip-if-done) and counts (progress), with at most
``IN_FLIGHT_PER_SLOT`` campaigns per worker submitted and unwritten, so its memory does not grow with the study.

A crash keeps the finished campaigns; rerunning the same spec into the same directory skips them (campaign ids carry
the spec's fingerprint, so a changed spec never reuses stale parts).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.config import LabConfig, Schedule
from twin.messages import UserError
from twin.platemap import place
from twin.studies.spec import (PARAMETERS, SweepSpec, SweepSpecError, condition_rows, load_spec)

__all__ = ["CampaignTask", "SweepResult", "SweepRunError", "SweepSpec", "SweepSpecError", "done_campaigns",
           "load_spec", "plan_campaigns", "plot_sweep", "read_dataset", "run_part", "run_sweep", "run_task"]

PROVENANCE_COLUMNS = ["campaign_id", "plate", "seed", "condition", "larp_twin_version", "spec_fingerprint"]
#: the columns of a campaign's row in ``campaigns/`` (warnings and the full manifest as JSON text)
CAMPAIGN_COLUMNS = ["campaign_id", "plate", "seed", "conditions", "reads", "wells_read", "task_wall_s", "task_cpu_s",
                    "worker_pid", "warnings", "manifest_json"]
#: a sweep's datasets, in the order a campaign's fragments are written (its ``campaigns/`` row last: the done marker)
DATASETS = ("features", "summary", "campaigns")
#: campaigns submitted per worker slot and not yet written: enough to keep workers busy, few enough to bound memory
IN_FLIGHT_PER_SLOT = 2


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


def run_part(task: CampaignTask) -> dict:
    """Run one campaign (in a worker) and return its three Parquet fragments as bytes, ready to be written as is.

    Serialising in the worker keeps the driver's share of a campaign to a few hundred kB of bytes that it writes and
    drops: it never builds a table.
    """
    out = run_task(task)
    m = out["manifest"]
    row = pd.DataFrame([{**{k: m.get(k) for k in CAMPAIGN_COLUMNS if k not in ("warnings", "manifest_json")},
                         "warnings": json.dumps(m.get("warnings", [])),
                         "manifest_json": json.dumps(m, default=str, sort_keys=True)}])
    tables = {"features": out["features"], "summary": out["summary"], "campaigns": row}
    return {"campaign_id": task.campaign_id, **{kind: _parquet_bytes(t) for kind, t in tables.items()}}


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    """``table`` as the bytes of a Parquet file (no index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def _write_part(out: Path, part: dict) -> None:
    """Write one campaign's fragments of the features and summary datasets, then its row of ``campaigns/`` (the
    'done' marker), each atomically."""
    cid = part["campaign_id"]
    for kind in DATASETS:  # "campaigns" last
        final = out / kind / f"{cid}.parquet"
        tmp = final.with_name(f".{cid}.parquet.tmp")
        tmp.write_bytes(part[kind])
        os.replace(tmp, final)


def done_campaigns(out: str | Path) -> set[str]:
    """Ids of the campaigns whose parts are all on disk in sweep directory ``out`` (one directory listing)."""
    directory = Path(out) / "campaigns"
    if not directory.is_dir():
        return set()
    return {e.name[:-len(".parquet")] for e in os.scandir(directory)
            if e.name.endswith(".parquet") and not e.name.startswith(".")}


def read_dataset(out: str | Path, kind: str = "summary", columns: list[str] | None = None,
                 filter=None) -> pd.DataFrame:
    """One of a sweep's datasets (``summary``, ``features``, ``campaigns``) as a table, optionally only ``columns``
    and the rows matching a pyarrow ``filter`` (e.g. ``pyarrow.dataset.field("seed") == 0``); rows in campaign order.

    The same table as ``pandas.read_parquet(out / kind)`` or ``pyarrow.dataset.dataset(out / kind)``, read one
    fragment at a time: a ``pyarrow.dataset`` scan of 1,000 campaign fragments held ~65 MB more than the data
    (fragment objects and read-ahead), this ~15 MB, for ~1.6x its time (``docs/architecture.md``, sweeps).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind not in DATASETS:
        raise ValueError(f"dataset {kind!r}; allowed: {list(DATASETS)}")
    directory = Path(out) / kind
    paths = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not paths:
        return pd.DataFrame(columns=columns or [])
    tables = [pq.read_table(p, columns=columns, filters=filter, use_threads=False) for p in paths]
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _resolve_executor(executor, scheduler, max_workers):
    """(executor, slots, cleanup) for an Executor, a Dask scheduler address / Client, or a new local process pool;
    ``slots`` is how many campaigns it runs at once (what bounds the campaigns in flight)."""
    if executor is not None and scheduler is not None:
        raise UserError("pass either executor or scheduler, not both")
    if executor is not None:
        if not isinstance(executor, Executor):
            raise TypeError(f"executor: expected a concurrent.futures.Executor, got {type(executor).__name__}")
        return executor, getattr(executor, "_max_workers", None) or os.cpu_count() or 1, lambda: None
    if scheduler is not None:
        from distributed import Client

        own = not isinstance(scheduler, Client)
        client = Client(scheduler) if own else scheduler
        ex = client.get_executor(pure=False)
        slots = sum(client.nthreads().values()) or 1
        return ex, slots, (client.close if own else (lambda: None))
    pool = ProcessPoolExecutor(max_workers=max_workers, initializer=_single_thread)
    return pool, pool._max_workers, lambda: pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class SweepResult:
    """What a sweep left in ``out``: the manifest, the campaigns that failed, and its datasets, read on demand."""

    out: Path
    manifest: dict
    failed: dict = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per well of every finished campaign (read from ``out/summary/``)."""
        return read_dataset(self.out, "summary")

    @property
    def features(self) -> pd.DataFrame:
        """One row per well and read of every finished campaign (read from ``out/features/``: can be large)."""
        return read_dataset(self.out, "features")

    @property
    def campaigns(self) -> pd.DataFrame:
        """One row per finished campaign: ids, reads, wall and CPU seconds, warnings, its full manifest (JSON)."""
        return read_dataset(self.out, "campaigns")


def run_sweep(spec: SweepSpec | str | Path | dict, out: str | Path, *, executor: Executor | None = None,
              scheduler=None, max_workers: int | None = None, progress: bool | None = None,
              figure: bool = True, x: str | None = None, y: str | None = None) -> SweepResult:
    """Run every campaign of ``spec`` not already finished in ``out``, each written to the datasets as it finishes.

    Parameters
    ----------
    spec : a SweepSpec, or a JSON/YAML path, JSON text or dict (see ``load_spec``).
    out : output directory (created; finished campaigns in it are skipped).
    executor : any ``concurrent.futures.Executor`` (kept open); default a local ProcessPoolExecutor.
    scheduler : a Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``: run on that cluster.
    max_workers : size of the default process pool (default: CPU count).
    progress : tqdm bar over campaigns; default on when stderr is a terminal.
    figure, x, y : write ``summary.png`` over parameters ``x`` and ``y`` (default: the two that vary most).

    The driver keeps at most a few campaigns per worker in flight and holds nothing of a written campaign but its id,
    so its memory does not grow with the study.  Raises SweepSpecError for a bad spec (before anything runs) and
    SweepRunError, after the finished campaigns are on disk, when some failed.
    """
    t_plan = time.perf_counter()
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    tasks = plan_campaigns(spec)
    plan_s = time.perf_counter() - t_plan
    out = Path(out)
    for kind in DATASETS:
        (out / kind).mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(dict(spec.model_dump(mode="json"), fingerprint=spec.fingerprint()),
                                              indent=1))
    done = done_campaigns(out)
    todo = [t for t in tasks if t.campaign_id not in done]
    skipped = len(tasks) - len(todo)
    failed: dict[str, str] = {}
    wall0 = time.perf_counter()
    if todo:
        ex, slots, cleanup = _resolve_executor(executor, scheduler, max_workers)
        bar = _bar(len(tasks), skipped, progress)
        try:
            for cid, part, error in _stream(ex, todo, IN_FLIGHT_PER_SLOT * slots):
                if error is None:
                    try:
                        _write_part(out, part)
                    except Exception as e:  # a full disk fails this campaign, not the study
                        error = e
                if error is not None:  # a failed campaign must not lose the others
                    failed[cid] = "".join(traceback.format_exception_only(type(error), error)).strip()
                del part
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            cleanup()
    wall_s = time.perf_counter() - wall0
    manifest = _manifest(spec, out, len(tasks), failed, wall_s, skipped)
    manifest.update(plan_s=round(plan_s, 3), collect_s=round(time.perf_counter() - wall0 - wall_s, 3))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    if figure and manifest["finished"]:
        t_fig = time.perf_counter()
        metrics = ("peak_nm_end", "height_end")
        plot_sweep(read_dataset(out, "summary", columns=[*PARAMETERS, "seed", *metrics]), out / "summary.png",
                   x=x, y=y, metrics=metrics, title=spec.name)
        manifest["figure_s"] = round(time.perf_counter() - t_fig, 3)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    if failed:
        first = next(iter(failed.items()))
        raise SweepRunError(f"{len(failed)} of {len(tasks)} campaigns failed (first: {first[0]}: {first[1]}); "
                            f"finished ones are in {out}; rerun to retry the failed ones")
    return SweepResult(out, manifest, failed)


def _stream(ex: Executor, todo: list[CampaignTask], window: int):
    """Yield (campaign_id, part, error) as campaigns finish, with at most ``window`` submitted and not yet yielded.

    A finished future is dropped as soon as it is yielded, so neither this process nor a Dask scheduler keeps a
    written campaign's result.
    """
    pending: dict = {}
    queue = iter(todo)

    def refill():
        for task in queue:
            pending[ex.submit(run_part, task)] = task.campaign_id
            if len(pending) >= window:
                return

    refill()
    while pending:
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for fut in finished:
            cid = pending.pop(fut)
            try:
                part, error = fut.result(), None
            except Exception as e:
                part, error = None, e
            del fut
            yield cid, part, error
        refill()


def _bar(total: int, initial: int, enabled: bool | None):
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="campaign", desc="sweep", dynamic_ncols=True)


def _manifest(spec: SweepSpec, out: Path, campaigns: int, failed: dict, wall_s: float, skipped: int) -> dict:
    """The sweep's manifest: counts and sums over the ``campaigns/`` dataset (one column each, not the tables)."""
    from twin import __version__

    rows = read_dataset(out, "campaigns", columns=["campaign_id", "task_wall_s", "task_cpu_s"])
    return {"sweep": spec.name, "description": spec.description, "larp_twin_version": __version__,
            "spec_fingerprint": spec.fingerprint(), "design": spec.design, "conditions": int(len(spec.conditions())),
            "seeds": spec.seeds, "campaigns": campaigns, "finished": int(len(rows)), "skipped_as_done": skipped,
            "failed": failed, "wall_s": round(wall_s, 3),  # dispatch to last part on disk
            "campaign_wall_s_sum": round(float(np.nansum(rows["task_wall_s"])), 3) if len(rows) else 0.0,
            "campaign_cpu_s_sum": round(float(np.nansum(rows["task_cpu_s"])), 3) if len(rows) else 0.0,
            "datasets": {kind: f"{kind}/" for kind in DATASETS}}


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
