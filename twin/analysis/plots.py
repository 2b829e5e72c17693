"""Figures in the paper's style: spectro-temporal heatmaps (Fig. 3), feature trajectories, ratio summaries (Fig. 2).

Headless (Agg backend) and fast: each heatmap is one ``imshow`` of a (read x wavelength) image and each trajectory
panel one ``plot`` call per group of wells, so a 96-well, 73-read campaign plots in about a second. Values are taken
from long-format tables as written by the campaign runner, so the same calls serve simulated and real exports.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from twin.analysis.errors import TableError  # noqa: E402
from twin.analysis.features import USABLE_STATUS, summarize_trajectories, validate_features  # noqa: E402

SPECTRA_COLUMNS = ["well", "time_min", "wavelength_nm", "intensity"]
PLATE_COLUMNS = ["well", "antisolvent", "pbbr2_uL", "acid", "acid_uL", "amine", "amine_uL"]
DPI = 100
FAST_PNG = {"compress_level": 1}  # PNG deflate level: files ~2x larger, encoding several times faster
#: titles at a fixed height (1.0 + pad, where matplotlib puts them anyway: no tick labels on top) instead of measuring
#: every axis's tick labels at each draw to look for a collision
FAST_RC = {"axes.titley": 1.0}


def _fast_rc(draw):
    """Run a plotting function under ``FAST_RC`` (the caller's rcParams are left as they were)."""
    import functools

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(FAST_RC):
            return draw(*args, **kwargs)

    return wrapper


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TableError(f"{name}: missing column(s) {missing}; required: {columns}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_") or "group"


def _groups(wells: list, group_by) -> dict[str, list]:
    """Group label -> wells (plate order kept); wells missing from ``group_by`` go to 'ungrouped'."""
    if group_by is None:
        return {"all wells": list(wells)}
    if not isinstance(group_by, pd.Series):
        raise TableError(f"group_by: expected a pandas Series indexed by well, got {type(group_by).__name__}")
    labels = group_by.astype(str).to_dict()
    out: dict[str, list] = {}
    for w in wells:
        out.setdefault(labels.get(w, "ungrouped"), []).append(w)
    return out


def spectra_cube(spectra_long: pd.DataFrame) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Long spectra -> (wells, wavelength_nm (L,), time_min (W, R), intensity (W, R, L)); missing points are NaN.

    Reads are indexed by the ``read`` column when present, else by the rank of ``time_min`` within each well.
    """
    _require(spectra_long, SPECTRA_COLUMNS, "spectra_long")
    if spectra_long.empty:
        raise TableError("spectra_long: no rows")
    well_code, wells = pd.factorize(spectra_long["well"])
    wl = spectra_long["wavelength_nm"].to_numpy(float)
    grid = np.unique(wl[np.isfinite(wl)])
    if grid.size == 0:
        raise TableError("spectra_long: column 'wavelength_nm' holds no finite value")
    wl_code = np.searchsorted(grid, wl)
    time = spectra_long["time_min"].to_numpy(float)
    if "read" in spectra_long.columns:
        read_code, _ = pd.factorize(spectra_long["read"], sort=True)
    else:
        ranks = spectra_long.groupby("well", sort=False)["time_min"].rank(method="dense")
        read_code = ranks.to_numpy(int) - 1
    shape = (len(wells), int(read_code.max()) + 1, grid.size)
    cube = np.full(shape, np.nan)
    cube[well_code, read_code, wl_code] = spectra_long["intensity"].to_numpy(float)
    times = np.full(shape[:2], np.nan)
    times[well_code, read_code] = time
    return list(wells), grid, times, cube


def _nice_ticks(lo: float, hi: float, target: int = 4) -> np.ndarray:
    """About ``target`` round tick values inside [lo, hi]."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.array([])
    raw = (hi - lo) / target
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


def _mosaic_figure(label, chunk, index, grid, times, cube, cmap):
    """One figure for up to a dozen wells: their heatmaps tiled into a single image (one imshow, shared axes).

    Tiling into one image instead of one Axes per well keeps the figure at one set of tick labels, which is what
    makes 96 wells plot in about a second. Each tile is normalised to its well's maximum; rows are reads.
    """
    n_reads, n_wl = cube.shape[1], cube.shape[2]
    ncols = min(4, len(chunk))
    nrows = -(-len(chunk) // ncols)
    gap_r, gap_c = max(2, n_reads // 12), max(2, n_wl // 20)
    mosaic = np.full((nrows * (n_reads + gap_r) - gap_r, ncols * (n_wl + gap_c) - gap_c), np.nan)
    width, height = 2.6 * ncols + 1.6, 2.0 * nrows + 1.0
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - 0.35 / height)
    rows_h = np.nanmedian(times[[index[w] for w in chunk]], axis=0) / 60.0  # read -> typical time (h)
    for k, well in enumerate(chunk):
        img = cube[index[well]]
        peak = np.nanmax(img) if np.isfinite(img).any() else np.nan
        r, c = divmod(k, ncols)
        y0, x0 = (nrows - 1 - r) * (n_reads + gap_r), c * (n_wl + gap_c)
        mosaic[y0 : y0 + n_reads, x0 : x0 + n_wl] = img / peak if np.isfinite(peak) and peak > 0 else img
        ax.text(x0 + 2, y0 + n_reads - 2, f"{well}  max {peak:.3g}", color="white", fontsize=7, va="top")
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
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="intensity / well max")
    return fig


@_fast_rc
def plot_heatmaps(
    spectra_long: pd.DataFrame, out_dir, group_by: pd.Series | None = None, *, wells_per_figure: int = 12
) -> list[Path]:
    """Spectro-temporal heatmap per well (x: wavelength nm, y: time h, colour: intensity / well maximum).

    One PNG per group of up to ``wells_per_figure`` wells (``heatmaps_<group>_<k>.png`` in ``out_dir``), the wells
    tiled four to a row and labelled with their maximum counts; ``group_by`` maps well -> group label (e.g.
    "toluene OAc:OLAm"). NaN (overflow, missing) points show white. Returns the paths written.
    """
    wells, grid, times, cube = spectra_cube(spectra_long)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = {w: i for i, w in enumerate(wells)}
    cmap = plt.get_cmap("inferno").with_extremes(bad="white")
    paths = []
    for label, members in _groups(wells, group_by).items():
        for k in range(0, len(members), wells_per_figure):
            fig = _mosaic_figure(label, members[k : k + wells_per_figure], index, grid, times, cube, cmap)
            path = out / f"heatmaps_{_slug(label)}_{k // wells_per_figure + 1}.png"
            fig.savefig(path, dpi=DPI, pil_kwargs=FAST_PNG)
            plt.close(fig)
            paths.append(path)
    return paths


def _feature_matrix(table: pd.DataFrame, column: str) -> tuple[list, np.ndarray, np.ndarray]:
    """(wells, time_h (W, R), values (W, R)) with NaN padding, for one plot call per group."""
    rank = table.groupby("well", sort=False).cumcount().to_numpy()
    code, wells = pd.factorize(table["well"])
    shape = (len(wells), int(rank.max()) + 1)
    t = np.full(shape, np.nan)
    v = np.full(shape, np.nan)
    t[code, rank] = table["time_min"].to_numpy(float) / 60.0
    v[code, rank] = table[column].to_numpy(float)
    return list(wells), t, v


@_fast_rc
def plot_feature_trajectories(features: pd.DataFrame, out_path, group_by: pd.Series | None = None) -> Path:
    """Peak position, FWHM and intensity (height) vs time, one line per well, coloured by group (Figs 2-3 style).

    Only ``ok``/``saturated`` fits are drawn for peak and FWHM; dark (``no_peak``) reads are drawn as intensity 0.
    """
    table = validate_features(features)
    usable = table["status"].isin(USABLE_STATUS)
    table = table.assign(
        peak_nm=table["peak_nm"].where(usable),
        fwhm_nm=table["fwhm_nm"].where(usable),
        height=table["height"].where(usable, np.where(table["status"] == "no_peak", 0.0, np.nan)),
    )
    wells_order = list(pd.unique(features["well"]))
    groups = _groups(wells_order, group_by)
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    panels = [("peak_nm", "peak (nm)"), ("fwhm_nm", "FWHM (nm)"), ("height", "intensity (counts)")]
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 8.5), sharex=True)
    # fixed margins instead of constrained layout: same look, no layout solver (a third of this figure's time)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.06, top=0.985, hspace=0.06)
    for ax, (column, ylabel) in zip(axes, panels):
        wells, t, v = _feature_matrix(table, column)
        row = {w: i for i, w in enumerate(wells)}
        for g, (label, members) in enumerate(groups.items()):
            idx = [row[w] for w in members if w in row]
            if not idx:
                continue
            lines = ax.plot(t[idx].T, v[idx].T, color=colours(g % colours.N), lw=0.9, alpha=0.75)
            lines[0].set_label(label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time since injection (h)")
    if len(groups) > 1:
        axes[0].legend(fontsize=7, ncol=2, loc="best")
    return save_png(fig, out_path)


def save_png(fig, out_path) -> Path:
    """Write ``fig`` as the project's PNG (same dpi and compression everywhere), close it, return the path."""
    import matplotlib.pyplot as plt

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, pil_kwargs=FAST_PNG)
    plt.close(fig)
    return out


def _ratio_groups(plate: pd.DataFrame, group_by) -> pd.Series:
    """Default grouping for Fig. 2: antisolvent, ligand pair and ligand:PbBr2-solution volume ratio."""
    if group_by is not None:
        if not isinstance(group_by, pd.Series):
            raise TableError(f"group_by: expected a pandas Series indexed by well, got {type(group_by).__name__}")
        return plate["well"].map(group_by.astype(str).to_dict()).fillna("ungrouped")
    with np.errstate(divide="ignore", invalid="ignore"):
        pb_per_acid = plate["pbbr2_uL"] / plate["acid_uL"]
    return (plate["antisolvent"].astype(str) + " " + plate["acid"].astype(str) + ":" + plate["amine"].astype(str)
            + " 1:" + pb_per_acid.round(0).map(lambda v: f"{v:g}"))


@_fast_rc
def plot_ratio_summary(
    features: pd.DataFrame, plate_map: pd.DataFrame, out_path, group_by: pd.Series | None = None
) -> Path:
    """Peak, intensity and FWHM vs amine:acid ratio at the first and last read (the paper's Fig. 2).

    One column of panels per group (default: antisolvent x ligand pair x ligand:PbBr2 ratio), rows peak / intensity /
    FWHM; each well is a point (circle: first read, square: last read) and lines join the per-ratio means.
    """
    _require(plate_map, PLATE_COLUMNS, "plate_map")
    summary = summarize_trajectories(features)
    plate = plate_map.loc[:, PLATE_COLUMNS].copy()
    acid = pd.to_numeric(plate["acid_uL"], errors="coerce")
    if (acid <= 0).any() or acid.isna().any():
        bad = plate.loc[(acid <= 0) | acid.isna(), "well"].tolist()
        raise TableError(f"plate_map: column 'acid_uL' must be > 0 to form an amine:acid ratio; wells {bad[:5]}")
    plate["amine_per_acid"] = pd.to_numeric(plate["amine_uL"], errors="coerce") / acid
    plate["group"] = _ratio_groups(plate, group_by).to_numpy()
    data = summary.merge(plate[["well", "amine_per_acid", "group"]], on="well", how="inner")
    if data.empty:
        raise TableError("features/plate_map: no well is in both tables")
    labels = list(pd.unique(data["group"]))
    rows = [("peak_nm", "peak (nm)"), ("height", "intensity (counts)"), ("fwhm_nm", "FWHM (nm)")]
    width = 3.4 * len(labels) + 0.5
    fig, axes = plt.subplots(3, len(labels), figsize=(width, 8), squeeze=False)
    # fixed margins instead of constrained layout (same panels, no layout solver)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.12 / width, bottom=0.065, top=0.96, wspace=0.28,
                        hspace=0.12)
    for j, label in enumerate(labels):
        sub = data[data["group"] == label].sort_values("amine_per_acid")
        for i, (col, ylabel) in enumerate(rows):
            ax = axes[i, j]
            for suffix, marker, colour, name in (("_t0", "o", "tab:blue", "first read"),
                                                 ("_end", "s", "tab:red", "last read")):
                y = sub[col + suffix]
                # markers of a Line2D: one path drawn many times, lighter than a scatter PathCollection
                ax.plot(sub["amine_per_acid"], y, ls="none", marker=marker, ms=3.7, color=colour, alpha=0.6,
                        label=name)
                means = y.groupby(sub["amine_per_acid"]).mean()
                ax.plot(means.index, means.to_numpy(), color=colour, lw=1.0)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(ylabel)
            if i == 0:
                ax.set_title(label, fontsize=9)
            if i == len(rows) - 1:
                ax.set_xlabel("amine per acid (acid = 1)")
    axes[0, 0].legend(fontsize=7)
    return save_png(fig, out_path)
