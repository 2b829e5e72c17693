"""Shared plumbing of the what-if scripts: argument parsing, per-well summaries joined to the plate, output."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scenarios.measure import PaperRun


def parser(doc: str, hours: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--out", default=None, help="directory for the CSV table (and figure); default: print only")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--hours", type=float, default=hours, help=f"kinetic read-out (default {hours:g})")
    return p


def summary(run: PaperRun) -> pd.DataFrame:
    """One row per well: plate-map columns + first/last-read features, retention and stability label."""
    from twin.analysis import summarize_trajectories

    s = summarize_trajectories(run.features)
    return run.plate.merge(s, on="well")


def emit(table: pd.DataFrame, out, name: str) -> pd.DataFrame:
    """Print ``table`` and write ``<out>/<name>.csv`` when ``out`` is given."""
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 60):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(out) / f"{name}.csv", index=False, lineterminator="\n")
    return table
