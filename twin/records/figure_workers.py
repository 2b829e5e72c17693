"""The figure worker of ``larp-twin run``: a process forked early that draws the figures beside the run.

Kept apart from ``twin.records.export`` (which imports pandas) so that the run can fork the worker before it imports
pandas, the lab or the chemistry: the worker imports only matplotlib and ``twin.analysis.draw`` (numpy is already
in) while the run process imports the rest and runs the campaign (each library imported once, on two CPUs).
Jobs are ``(function name, args, kwargs)`` of ``twin.analysis.draw`` holding plain arrays (``twin.analysis.
figure_data``), so they unpickle in the worker without pandas.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

_PARENT_PID: int | None = None  # the run process, recorded before it forks its figure workers


def _end_with_parent(parent: int | None) -> None:
    """Make this forked worker end when ``parent`` (the run) dies, even by SIGKILL (a hard crash): on Linux the
    kernel sends SIGKILL (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread checks the parent once a second.
    A worker whose parent died before this ran ends at once."""
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no libc prctl: the thread below does it
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _draw(job: tuple) -> list[Path]:
    from twin.analysis import draw

    name, args, kwargs = job
    out = getattr(draw, name)(*args, **kwargs)
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
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the fork: draw, report, leave without running the worker's clean-up
        os.close(r)
        try:
            _end_with_parent(parent)
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
    """Worker initializer: import matplotlib and the drawing module (not pandas: the jobs are arrays) while the run
    process imports the lab and runs the campaign."""
    _end_with_parent(_PARENT_PID)
    import twin.analysis.draw  # noqa: F401

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

    global _POOL, _PARENT_PID
    size = _pool_size(workers or _workers())
    if _POOL is not None or size < 1 or "fork" not in mp.get_all_start_methods():
        return
    _PARENT_PID = os.getpid()
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


def start(jobs: list[tuple], workers: int | None = None):
    """Start drawing ``jobs``; a handle whose ``result()`` waits for them and lists the PNGs (see
    ``twin.records.export.start_figures``). Workers prepared by ``prepare_figure_workers`` are used as they are."""
    import multiprocessing as mp

    global _POOL, _PARENT_PID
    pool, _POOL = _POOL, None
    if pool is None or workers is not None:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        size = _pool_size(_workers(len(jobs)) if workers is None else workers)
        if size < 1 or "fork" not in mp.get_all_start_methods():
            return _Drawn([p for job in jobs for p in _draw(job)])
        from concurrent.futures import ProcessPoolExecutor

        _PARENT_PID = os.getpid()
        pool = ProcessPoolExecutor(max_workers=size, mp_context=mp.get_context("fork"), initializer=_end_with_parent,
                                   initargs=(_PARENT_PID,))
    # longest first: the trajectory and ratio figures, then the heatmaps
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0] == "heatmaps")
    return _Drawing(pool, [jobs[i] for i in order], side_by_side=pool._max_workers == 1)  # noqa: SLF001
