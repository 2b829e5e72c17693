"""Write a campaign's results to a directory, atomically: a temp dir beside the target, moved into place at the end.

Files: ``plate.csv``, ``spectra.parquet``, ``features.csv``, ``manifest.json``, ``log.jsonl`` (the command stream
the real instruments would have received), ``deck.txt`` (the operator's set-up sheet), ``gen5_export.txt`` (the spectra as Gen5 would export them) and
``figures/*.png``; a run with absorbance reads adds ``absorbance.parquet`` (``well, read, time_min, wavelength_nm,
od``) and ``absorbance_features.csv`` (band edge, first excitonic peak per spectrum).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.outdir import atomic_dir

if TYPE_CHECKING:  # not imported here: ``larp-twin run`` forks its figure workers before xarray, pyarrow, the lab
    from twin.results import CampaignResult


def _write_parquet(df, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({})  # no pandas/version metadata: same seed, same bytes
    pq.write_table(table, path, compression="zstd")


def _on_instruments(manifest: dict) -> bool:
    """A run on real instruments: its event log (injections, recoveries, forecast flags) is written too."""
    b = manifest.get("backends") or {}
    return b.get("pipettor", "sim") != "sim" or b.get("reader", "sim") != "sim" or b.get("clock") == "realtime"


def write_results(result: CampaignResult, out_dir: str | Path, figures: bool = True) -> Path:
    """Write every output file of ``result`` into ``out_dir`` (replacing a previous run there), atomically.

    The CLI applies the output policy (``twin.outdir.check_target``) before it runs the campaign; this function
    replaces whatever directory is at ``out_dir`` (never the working directory) and marks it as a run's output.
    """
    out = Path(out_dir)
    drawing = None
    with atomic_dir(out, command="run") as tmp:
        try:
            result.plate.to_csv(tmp / "plate.csv", index=False, lineterminator="\n")
            spectra = result.spectra_long()
            # the heatmaps need only the spectra: they draw while the features are fitted and the files written
            drawing = start_figures(result, spectra, None, tmp / "figures") if figures else None
            _write_parquet(spectra, tmp / "spectra.parquet")
            features = result.features()
            if drawing is not None:
                drawing.add(_feature_figure_jobs(result, features, tmp / "figures"))
            features.to_csv(tmp / "features.csv", index=False, lineterminator="\n")
            abs_features = None
            if result.absorbance is not None:
                _write_parquet(result.absorbance, tmp / "absorbance.parquet")
                abs_features = result.absorbance_features()
                abs_features.to_csv(tmp / "absorbance_features.csv", index=False, lineterminator="\n")
            with open(tmp / "log.jsonl", "w") as fh:
                for source, entries in result.logs.items():
                    for e in entries:
                        fh.write(json.dumps({"instrument": source, **e}, default=float) + "\n")
            (tmp / "deck.txt").write_text(result.deck_sheet + "\n")
            write_gen5(result, tmp / "gen5_export.txt")
            if "faults" in result.manifest or _on_instruments(result.manifest):
                with open(tmp / "events.jsonl", "w") as fh:
                    for e in result.events:
                        fh.write(json.dumps(e, default=float) + "\n")
            if drawing is not None:
                drawing.result()
            if figures and abs_features is not None and len(abs_features):
                write_absorbance_figure(result, abs_features, features, tmp / "figures")
            files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
            manifest = {**result.manifest, "files": files + ["manifest.json"]}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=float) + "\n")
        except BaseException:
            if drawing is not None:
                drawing.cancel()
            raise
    return out


def write_gen5(result: CampaignResult, path: Path, layout: str = "tab") -> Path:
    """The spectra as the Gen5 export the lab's Cytation would have written (one ``Read N:EM Spectrum`` per read)."""
    from datetime import datetime

    from instruments.cytation import write_gen5_spectra

    ds = result.dataset
    n = int(ds.attrs.get("plate_wells", 96))
    absorbance = None
    if result.absorbance is not None:  # one (wavelengths, od[well, wl]) per absorbance read, wells as in ds
        wells = list(ds["well"].values)
        absorbance = []
        for _, g in result.absorbance.groupby("read", sort=True):
            cube = g.pivot_table(index="well", columns="wavelength_nm", values="od", dropna=False, observed=True)
            cube = cube.reindex(wells)
            absorbance.append((cube.columns.to_numpy(float), cube.to_numpy(float)))
    rows, cols = (8, 12) if n == 96 else (16, 24)
    return write_gen5_spectra(
        path, list(ds["well"].values), ds["wavelength_nm"].values, ds["intensity"].values.transpose(1, 0, 2),
        layout=layout, excitation_nm=float(ds.attrs["excitation_nm"]), gain=int(ds.attrs["gain"]),
        reading_type=ds.attrs.get("reading_type", "Simulation"), when=datetime.fromisoformat(ds.attrs["start_time"]),
        plate_type=f"{n} WELL PLATE (Use plate lid)", plate_rows=rows, plate_columns=cols,
        absorbance=absorbance, order=result.read_order if absorbance else None,
    )


def _groups(plate):
    """Wells grouped for plotting: by a ``group`` label if the plate map has one, else antisolvent x ligands."""
    if "group" in plate.columns:
        return plate.set_index("well")["group"].astype(str)
    return (plate["antisolvent"] + " " + plate["acid"] + ":" + plate["amine"]).set_axis(plate["well"])


def _figure_jobs(result: CampaignResult, spectra, features, fig_dir: Path) -> list[tuple]:
    """The figures of a run as independent jobs ``(function name, args, kwargs)`` of ``twin.analysis.plots``."""
    groups = _groups(result.plate)
    jobs = []
    # heatmaps: one job per well group (each writes its own files), so they can be drawn side by side
    codes, wells = pd.factorize(spectra["well"])  # on the categorical codes: no per-row string work
    label_of = np.array([str(groups.get(w, "ungrouped")) for w in wells], dtype=object)
    for label in dict.fromkeys(label_of):
        members = [w for w, lab in zip(wells, label_of) if lab == label]
        sub = spectra[(label_of == label)[codes]]
        jobs.append(("plot_heatmaps", (sub, fig_dir), {"group_by": groups[groups.index.isin(members)]}))
    if features is not None:
        jobs += _feature_figure_jobs(result, features, fig_dir)
    return jobs


def _feature_figure_jobs(result: CampaignResult, features, fig_dir: Path) -> list[tuple]:
    """The figures drawn from the fitted features: trajectories and (for a ratio series) the ratio summary."""
    groups = _groups(result.plate)
    jobs = [("plot_feature_trajectories", (features, fig_dir / "features_vs_time.png"), {"group_by": groups})]
    plate = result.plate
    synthesised = plate[(plate["acid_uL"] > 0) & (plate["pbbr2_uL"] > 0)]
    if (synthesised["amine_uL"] / synthesised["acid_uL"]).nunique() > 1:  # a ratio series: the paper's Fig. 2
        jobs.append(("plot_ratio_summary", (features, synthesised, fig_dir / "ratio_summary.png"),
                     {"group_by": groups}))
    return jobs


def _draw(job: tuple) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from twin.analysis import plots

    name, args, kwargs = job
    out = getattr(plots, name)(*args, **kwargs)
    return list(out) if isinstance(out, list) else [out]


def _draw_side_by_side(jobs: list[tuple]) -> list[Path]:
    """Draw ``jobs`` half here and half in a fork of this process, side by side.

    Run in the one background figure worker: matplotlib is already imported there, so the fork starts drawing at
    once (no second import, unlike a second pool worker). The fork's paths (or its error) come back through a pipe.
    """
    if len(jobs) < 2 or not hasattr(os, "fork"):
        return [p for job in jobs for p in _draw(job)]
    import pickle

    mine, theirs = jobs[0::2], jobs[1::2]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fork: draw, report, leave without running the worker's clean-up
        os.close(r)
        try:
            try:
                out = ("ok", [p for job in theirs for p in _draw(job)])
            except BaseException as e:  # noqa: BLE001 - re-raised in the parent
                out = ("error", e)
            try:
                data = pickle.dumps(out)
            except Exception:  # noqa: BLE001 - an unpicklable error: its text
                data = pickle.dumps(("error", RuntimeError(repr(out[1]))))
            with os.fdopen(w, "wb") as fh:
                fh.write(data)
        finally:
            os._exit(0)
    os.close(w)
    try:
        paths = [p for job in mine for p in _draw(job)]
    finally:
        with os.fdopen(r, "rb") as fh:
            data = fh.read()
        os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("a figure process ended without a report")
    status, value = pickle.loads(data)
    if status == "error":
        raise value
    return paths + value


class _Drawn:
    """Figures already drawn in this process (the same ``result()`` as a future)."""

    def __init__(self, paths):
        self.paths = paths

    def add(self, jobs: list[tuple]) -> None:
        """Draw more figures (here, now)."""
        self.paths += [p for job in jobs for p in _draw(job)]

    def result(self):
        return self.paths

    def cancel(self) -> None:
        pass


class _Drawing:
    """Figures being drawn in worker processes; ``result()`` waits for them (and re-raises their errors)."""

    def __init__(self, pool, jobs, *, side_by_side=False):
        self.pool, self.side_by_side, self.futures = pool, side_by_side, []
        self.add(jobs)

    def add(self, jobs: list[tuple]) -> None:
        """Draw more figures in the same workers (one worker: these jobs side by side, in it and a fork of it)."""
        if self.side_by_side:
            self.futures.append(self.pool.submit(_draw_side_by_side, jobs))
        else:
            self.futures += [self.pool.submit(_draw, job) for job in jobs]

    def result(self) -> list[Path]:
        try:
            return [p for f in self.futures for p in f.result()]
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def cancel(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_POOL = None  # figure workers started ahead of time by ``prepare_figure_workers``


def _warm() -> None:
    """Worker initializer: import matplotlib and the plotting module while the campaign is still running."""
    import matplotlib

    matplotlib.use("Agg")
    import twin.analysis.plots  # noqa: F401

    _freeze_imports()


def _freeze_imports() -> None:
    """Move everything allocated so far (imported modules, mostly) out of the garbage collector's sight.

    Drawing allocates many short-lived objects; each full collection would otherwise walk every imported module's
    objects again (a few percent of a run). Frozen objects are never collected, which imports are not anyway.
    """
    import gc

    gc.freeze()


def _workers(n_jobs: int | None = None) -> int:
    """Figure worker processes: ``LARP_TWIN_FIGURE_WORKERS`` (1: draw here), else one background worker.

    One background worker costs no more CPU than drawing here (matplotlib is imported once, in it, instead of
    here); its import overlaps the campaign and the other files, and it draws each batch of figures side by side
    with a fork of itself (``_draw_side_by_side``: no second import). More workers (``LARP_TWIN_FIGURE_WORKERS=N``)
    each import matplotlib. Only with one CPU (or no ``fork``) the figures are drawn here.
    """
    n = int(os.environ.get("LARP_TWIN_FIGURE_WORKERS", 0))
    if not n:
        n = 1 if (os.cpu_count() or 1) < 2 else _ONE_BACKGROUND
    if n_jobs and n != _ONE_BACKGROUND:
        n = min(n, n_jobs)
    return n


_ONE_BACKGROUND = -1  # ``_workers``: one worker process beside this one (1 means: draw in this process)


def _pool_size(workers: int) -> int:
    """Processes of a figure pool for a ``_workers`` answer (0: draw here)."""
    if workers == _ONE_BACKGROUND:
        return 1
    return workers if workers > 1 else 0


def prepare_figure_workers(workers: int | None = None) -> None:
    """Fork the figure workers now (they import matplotlib at once), so that drawing starts warm later.

    ``larp-twin run`` calls this before the campaign: the workers' imports overlap the simulation. A no-op with one
    CPU (or ``LARP_TWIN_FIGURE_WORKERS=1``) or without ``fork``.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    global _POOL
    size = _pool_size(workers or _workers())
    if _POOL is not None or size < 1 or "fork" not in mp.get_all_start_methods():
        return
    _POOL = ProcessPoolExecutor(max_workers=size, mp_context=mp.get_context("fork"), initializer=_warm)
    for _ in range(size):  # start them all now (the executor otherwise forks lazily, one per submit)
        _POOL.submit(int)


def discard_figure_workers() -> None:
    """Stop the workers of ``prepare_figure_workers`` unused (the run failed before its figures)."""
    global _POOL
    pool, _POOL = _POOL, None
    if pool is None:
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):  # ours; they may still be importing
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def start_figures(result: CampaignResult, spectra, features, fig_dir: Path, workers: int | None = None):
    """Start drawing the figures; returns a handle whose ``result()`` waits for them and lists the PNGs.

    With more than one CPU the figures are drawn in a forked worker process (matplotlib imported there; started
    early by ``prepare_figure_workers`` if it was called) and a fork of it, so they draw while the caller writes the
    other files and side by side with each other (``workers=N`` > 1: a pool of N workers); ``workers=1`` (or ``LARP_TWIN_FIGURE_WORKERS=1``, or a platform without ``fork``)
    draws them here, one after the other. The PNGs are the same bytes either way. With ``features=None`` only the
    heatmaps start; the handle's ``add(_feature_figure_jobs(...))`` adds the others once the features are fitted.
    """
    import multiprocessing as mp

    global _POOL
    fig_dir.mkdir(parents=True, exist_ok=True)
    jobs = _figure_jobs(result, spectra, features, fig_dir)
    pool, _POOL = _POOL, None
    if pool is None or workers is not None:  # workers prepared before the campaign are used as they are
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        size = _pool_size(_workers(len(jobs)) if workers is None else workers)
        if size < 1 or "fork" not in mp.get_all_start_methods():
            return _Drawn([p for job in jobs for p in _draw(job)])
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=size, mp_context=mp.get_context("fork"))
    # longest first: the trajectory and ratio figures, then the heatmaps
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0] == "plot_heatmaps")
    return _Drawing(pool, [jobs[i] for i in order], side_by_side=pool._max_workers == 1)  # noqa: SLF001


def write_figures(result: CampaignResult, spectra, features, fig_dir: Path, workers: int | None = None) -> list[Path]:
    """Spectro-temporal heatmaps per well group and peak/FWHM/intensity vs time (the paper's Figs 2 and 3)."""
    return start_figures(result, spectra, features, fig_dir, workers=workers).result()


def write_absorbance_figure(result: CampaignResult, abs_features, features, fig_dir: Path) -> Path:
    """Band edge and OD of the absorbance scans over time, beside the PL peak (``figures/absorbance_vs_time.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    from twin.analysis.absorbance_plots import plot_absorbance

    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / "absorbance_vs_time.png"
    plot_absorbance(result.absorbance, abs_features, features, path, group_by=_groups(result.plate))
    return path
