"""Figures in the paper's style: spectro-temporal heatmaps (Fig. 3), feature trajectories, ratio summaries (Fig. 2).

Backend-independent (``matplotlib.figure.Figure`` objects, no pyplot state) and fast: each heatmap is one
``imshow`` of a (read x wavelength) image and each trajectory
panel one ``plot`` call per group of wells, so a 96-well, 73-read campaign plots in about a second. Values are taken
from long-format tables as written by the campaign runner, so the same calls serve simulated and real exports.

Each figure is two halves: ``twin.analysis.figure_data`` reduces the tables to arrays (pandas), then
``twin.analysis.draw`` draws them (matplotlib); ``larp-twin run`` does the halves in two processes.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from twin.analysis import draw
# re-exported: the project's PNG settings, and the table helpers other modules take from here
from twin.analysis.draw import DPI, FAST_PNG, FAST_RC, save_png
from twin.analysis.figure_data import (PLATE_COLUMNS, SPECTRA_COLUMNS, _groups, composition_labels,
                                       feature_trajectories_data, heatmaps_data, ratio_summary_data, spectra_cube)


def plot_heatmaps(
    spectra_long: pd.DataFrame, out_dir, group_by: pd.Series | None = None, *, wells_per_figure: int = 12,
    plate_map: pd.DataFrame | None = None,
) -> list[Path]:
    """Spectro-temporal heatmap per well (x: wavelength nm, y: time h, colour: intensity / well maximum).

    One PNG per group of up to ``wells_per_figure`` wells (``heatmaps_<group>_<k>.png`` in ``out_dir``), the wells
    tiled four to a row and labelled with their maximum counts; ``group_by`` maps well -> group label (e.g.
    "toluene OAc:OLAm"); with ``plate_map`` each tile is labelled by its composition ("OAc:OLAm 1:0.5 · A5"), else
    by its well. NaN (overflow, missing) points show white. Returns the paths written.
    """
    labels = composition_labels(plate_map) if plate_map is not None else None
    return draw.heatmaps(**heatmaps_data(spectra_long, group_by, labels), out_dir=out_dir,
                         wells_per_figure=wells_per_figure)


def plot_feature_trajectories(features: pd.DataFrame, out_path, group_by: pd.Series | None = None,
                              plate_map: pd.DataFrame | None = None) -> Path:
    """Peak position, FWHM and intensity (height) vs time, one line per well (Figs 2-3 style): with ``plate_map``
    coloured by amine:acid ratio, groups by line style; without, coloured by group.

    Only ``ok``/``saturated`` fits are drawn for peak and FWHM; dark (``no_peak``) reads are drawn as intensity 0.
    """
    return draw.feature_trajectories(**feature_trajectories_data(features, group_by, plate_map), out_path=out_path)


def plot_ratio_summary(
    features: pd.DataFrame, plate_map: pd.DataFrame, out_path, group_by: pd.Series | None = None
) -> Path:
    """Peak, intensity and FWHM vs amine:acid ratio at the first and last read (the paper's Fig. 2).

    One column of panels per group (default: antisolvent x ligand pair x ligand:PbBr2 ratio), rows peak / intensity /
    FWHM; each well is a point (circle: first read, square: last read: the values of those reads, a read without a
    usable fit marked on the bottom edge) and lines join the per-ratio means.
    """
    return draw.ratio_summary(**ratio_summary_data(features, plate_map, group_by), out_path=out_path)
