"""The drawing half of ``twin.analysis.plots``: the figures drawn from plain arrays (matplotlib and numpy only).

Each function takes what the ``*_data`` function of the same name in ``twin.analysis.figure_data`` returns (plus
where to write) and writes PNGs. No pandas here: ``larp-twin run``'s figure worker imports this module, forked
before the run process imports pandas, so the two processes import matplotlib and pandas side by side, each once.
Backend-independent and fast: every figure is a ``matplotlib.figure.Figure`` outside pyplot (no global state, no
``matplotlib.use``: importing this module leaves a notebook's inline plotting alone); each heatmap figure is one
``imshow`` of tiled (read x wavelength) images and each trajectory panel one ``plot`` call per group of wells.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.figure import Figure

DPI = 100
FAST_PNG = {"compress_level": 1}  # PNG deflate level: files ~2x larger, encoding several times faster
#: titles at a fixed height (1.0 + pad, where matplotlib puts them anyway: no tick labels on top) instead of measuring
#: every axis's tick labels at each draw to look for a collision
FAST_RC = {"axes.titley": 1.0}


def _fast_rc(draw):
    """Run a drawing function under ``FAST_RC`` (the caller's rcParams are left as they were)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(FAST_RC):
            return draw(*args, **kwargs)

    return wrapper


def _figure(**kwargs) -> Figure:
    """A new figure outside pyplot (no figure manager to register and close), drawn by Agg when saved."""
    return Figure(**kwargs)


def save_png(fig, out_path) -> Path:
    """Write ``fig`` as the project's PNG (same dpi and compression everywhere), close it, return the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, pil_kwargs=FAST_PNG)
    if fig.canvas.manager is not None:  # a pyplot figure (absorbance_plots): release it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_") or "group"


def _nice_ticks(lo: float, hi: float, target: int = 4) -> np.ndarray:
    """About ``target`` round tick values inside [lo, hi]."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.array([])
    raw = (hi - lo) / target
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


def _mosaic_figure(label, chunk, index, grid, times, cube, cmap, tile_labels):
    """One figure for up to a dozen wells: their heatmaps tiled into a single image (one imshow, shared axes).

    Tiling into one image instead of one Axes per well keeps the figure at one set of tick labels, which is what
    makes 96 wells plot in about a second. Each tile is normalised to its well's maximum; rows are reads; each tile
    is labelled with its composition (``tile_labels``) and its maximum counts.
    """
    n_reads, n_wl = cube.shape[1], cube.shape[2]
    ncols = min(4, len(chunk))
    nrows = -(-len(chunk) // ncols)
    gap_r, gap_c = max(2, n_reads // 12), max(2, n_wl // 20)
    mosaic = np.full((nrows * (n_reads + gap_r) - gap_r, ncols * (n_wl + gap_c) - gap_c), np.nan)
    width, height = 2.6 * ncols + 2.0, 2.0 * nrows + 1.0
    fig = _figure(figsize=(width, height))
    ax = fig.subplots()
    bottom, top = 0.55 / height, 1 - 0.35 / height
    # the colour bar in its own axes at a fixed place, with room for its tick labels and label inside the canvas
    fig.subplots_adjust(left=0.7 / width, right=1 - 1.05 / width, bottom=bottom, top=top)
    cax = fig.add_axes((1 - 0.95 / width, bottom, 0.14 / width, top - bottom))
    rows_h = np.nanmedian(times[[index[w] for w in chunk]], axis=0) / 60.0  # read -> typical time (h)
    for k, well in enumerate(chunk):
        img = cube[index[well]]
        peak = np.nanmax(img) if np.isfinite(img).any() else np.nan
        r, c = divmod(k, ncols)
        y0, x0 = (nrows - 1 - r) * (n_reads + gap_r), c * (n_wl + gap_c)
        mosaic[y0 : y0 + n_reads, x0 : x0 + n_wl] = img / peak if np.isfinite(peak) and peak > 0 else img
        ax.text(x0 + 2, y0 + n_reads - 2, f"{tile_labels[well]}\nmax {peak:.3g}", color="white", fontsize=7,
                va="top", linespacing=1.1)
    im = ax.imshow(mosaic, origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    wl_ticks = _nice_ticks(grid[0], grid[-1], 3)
    wl_pos = np.interp(wl_ticks, grid, np.arange(n_wl))
    ax.set_xticks(wl_pos, [f"{v:g}" for v in wl_ticks], fontsize=7)  # first column; all tiles share the scale
    valid = np.isfinite(rows_h)
    t_ticks = _nice_ticks(np.nanmin(rows_h), np.nanmax(rows_h), 3) if valid.sum() > 1 else np.array([])
    t_pos = np.interp(t_ticks, rows_h[valid], np.flatnonzero(valid)) if t_ticks.size else t_ticks
    ax.set_yticks(t_pos, [f"{v:g}" for v in t_ticks], fontsize=7)  # bottom row; all tiles share the scale
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("time since injection (h)")
    ax.set_title(label, fontsize=10)
    bar = fig.colorbar(im, cax=cax, ticks=[0.0, 0.5, 1.0])
    bar.ax.set_yticklabels(["0", "0.5", "1"], fontsize=7)
    bar.set_label("intensity / well max", fontsize=8)
    return fig


@_fast_rc
def heatmaps(wells: list, grid: np.ndarray, times: np.ndarray, cube: np.ndarray, groups: dict[str, list], out_dir,
             *, labels: list | None = None, wells_per_figure: int = 12) -> list[Path]:
    """One PNG per group of up to ``wells_per_figure`` wells (``heatmaps_<group>_<k>.png`` in ``out_dir``).

    ``wells``, ``grid``, ``times``, ``cube`` as ``figure_data.spectra_cube`` returns them; ``groups``: label ->
    wells; ``labels``: each well's tile label (its composition; default: the well). Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = {w: i for i, w in enumerate(wells)}
    tile_labels = dict(zip(wells, labels if labels is not None else [str(w) for w in wells]))
    cmap = colormaps["inferno"].with_extremes(bad="white")
    paths = []
    for label, members in groups.items():
        for k in range(0, len(members), wells_per_figure):
            fig = _mosaic_figure(label, members[k : k + wells_per_figure], index, grid, times, cube, cmap, tile_labels)
            paths.append(save_png(fig, out / f"heatmaps_{_slug(label)}_{k // wells_per_figure + 1}.png"))
    return paths


LINESTYLES = ("-", "--", ":", "-.")  # one per well group in a feature-trajectory column


@_fast_rc
def feature_trajectories(groups: dict[str, list], panels: list[tuple], out_path, *, colour_by: dict | None = None,
                         colour_label: str = "amine per acid") -> Path:
    """Three panels of one line per well vs time; ``panels``: (y label, wells, time h, values).

    With ``colour_by`` (well -> amine:acid ratio) each line is coloured by its ratio (colour bar) and the groups
    differ by line style, up to four groups per column of panels (more groups: more columns); without it, lines
    are coloured by group.
    """
    labels = list(groups)
    per_col = len(LINESTYLES) if colour_by is not None else max(1, len(labels))
    columns = [labels[k : k + per_col] for k in range(0, len(labels), per_col)] or [[]]
    ncols = len(columns)
    width = 6.6 * ncols + (1.3 if colour_by is not None else 0.9)
    fig = _figure(figsize=(width, 8.5))
    axes = fig.subplots(3, ncols, sharex=True, sharey="row", squeeze=False)
    right = 1 - (1.25 if colour_by is not None else 0.15) / width
    # fixed margins instead of constrained layout: same look, no layout solver (a third of this figure's time)
    fig.subplots_adjust(left=0.8 / width, right=right, bottom=0.06, top=0.985, hspace=0.06, wspace=0.06)
    if colour_by is not None:
        finite = np.array([v for v in colour_by.values() if np.isfinite(v)])
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        norm = Normalize(lo, hi if hi > lo else lo + 1.0)
        cmap = colormaps["viridis"]
    else:
        tab = colormaps["tab10" if len(groups) <= 10 else "tab20"]
    for row, (ylabel, wells, t, v) in enumerate(panels):
        where = {w: i for i, w in enumerate(wells)}
        for col, names in enumerate(columns):
            ax = axes[row, col]
            for s, label in enumerate(names):
                members = [w for w in groups[label] if w in where]
                if not members:
                    continue
                idx = [where[w] for w in members]
                if colour_by is None:
                    g = labels.index(label)
                    lines = ax.plot(t[idx].T, v[idx].T, color=tab(g % tab.N), lw=0.9, alpha=0.75)
                else:
                    lines = ax.plot(t[idx].T, v[idx].T, ls=LINESTYLES[s], lw=1.0, alpha=0.85)
                    for line, w in zip(lines, members):
                        r = colour_by.get(w, np.nan)
                        line.set_color(cmap(norm(r)) if np.isfinite(r) else "0.55")
                lines[0].set_label(label)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel)
            if row == len(panels) - 1:
                ax.set_xlabel("time since injection (h)")
    for col, names in enumerate(columns):
        if colour_by is not None and names:  # legend of line styles, in black: the colour is the ratio
            handles = [Line2D([], [], color="k", ls=LINESTYLES[s], lw=1.0) for s in range(len(names))]
            axes[0, col].legend(handles, names, fontsize=7, loc="best")
        elif len(groups) > 1:
            axes[0, col].legend(fontsize=7, ncol=2, loc="best")
    if colour_by is not None:
        cax = fig.add_axes((1 - 1.1 / width, 0.06, 0.14 / width, 0.925))
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
        bar.set_label(colour_label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return save_png(fig, out_path)


@_fast_rc
def ratio_summary(columns: list[tuple], out_path) -> Path:
    """One column of panels per group, one row per feature: each well a point (circle: first read, square: last
    read), lines through the per-ratio means; a well whose first or last read has no usable fit is a hollow marker
    on the panel's bottom edge. ``columns``: (label, amine per acid, rows[, x label]) as
    ``figure_data.ratio_summary_data`` returns them."""
    width = 3.4 * len(columns) + 0.5
    n_rows = len(columns[0][2])
    fig = _figure(figsize=(width, 8))
    axes = fig.subplots(n_rows, len(columns), squeeze=False)
    # fixed margins instead of constrained layout (same panels, no layout solver)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.12 / width, bottom=0.065, top=0.96, wspace=0.28,
                        hspace=0.12)
    styles = (("o", "tab:blue", "first read"), ("s", "tab:red", "last read"))
    for j, column in enumerate(columns):
        label, x, rows = column[:3]
        xlabel = column[3] if len(column) > 3 else "amine per acid (acid = 1)"
        for i, (ylabel, reads) in enumerate(rows):
            ax = axes[i, j]
            for (marker, colour, name), (y, mean_x, mean_y) in zip(styles, reads):
                # markers of a Line2D: one path drawn many times, lighter than a scatter PathCollection
                ax.plot(x, y, ls="none", marker=marker, ms=3.7, color=colour, alpha=0.6, label=name)
                ax.plot(mean_x, mean_y, color=colour, lw=1.0)
                gone = ~np.isfinite(np.asarray(y, float))
                if gone.any():  # that read has no usable fit: shown as such, at the bottom edge
                    ax.plot(np.asarray(x)[gone], np.full(gone.sum(), 0.02), ls="none", marker=marker, ms=5,
                            mfc="none", color=colour, transform=ax.get_xaxis_transform(), clip_on=False,
                            label=f"{name}: no usable fit")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == 0:
                ax.set_title(label, fontsize=9)
            if i == n_rows - 1:
                ax.set_xlabel(xlabel)
    handles, names = [], []
    for ax in axes.ravel():  # one legend: first/last read, and the no-fit markers wherever they appear
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    axes[0, 0].legend(handles, names, fontsize=7)
    return save_png(fig, out_path)
