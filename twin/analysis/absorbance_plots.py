"""Absorbance over time next to PL: spectra of one well, band edge vs PL peak, OD at the edge (one figure)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from twin.analysis.plots import _groups, save_png


def plot_absorbance(absorbance: pd.DataFrame, abs_features: pd.DataFrame, pl_features: pd.DataFrame, out_path,
                    group_by: pd.Series | None = None) -> Path:
    """Three panels: absorbance spectra of the brightest well at ~6 times; band edge (solid) and PL peak (dashed)
    vs time per group; OD at the band edge vs time."""
    fig = Figure(figsize=(7.5, 9.5), layout="constrained")  # no pyplot: backend-independent, no global state
    axes = fig.subplots(3, 1)
    ok = abs_features.dropna(subset=["band_edge_nm"])
    well = ok.groupby("well", observed=True)["od_edge"].median().idxmax() if len(ok) else absorbance["well"].iloc[0]
    one = absorbance[absorbance["well"] == well]
    reads = sorted(one["read"].unique())
    cmap = colormaps["viridis"]
    for n, rd in enumerate(reads[:: max(1, len(reads) // 6)]):
        g = one[one["read"] == rd]
        axes[0].plot(g["wavelength_nm"], g["od"], color=cmap(n / 6), lw=1,
                     label=f"{g['time_min'].iloc[0] / 60:.1f} h")
    axes[0].set(xlabel="wavelength (nm)", ylabel="OD", title=f"absorbance of {well}")
    axes[0].legend(fontsize=7, ncol=3)
    wells = list(pd.unique(abs_features["well"]))
    groups = _groups(wells, group_by)
    colours = colormaps["tab10" if len(groups) <= 10 else "tab20"]
    for gi, (label, members) in enumerate(groups.items()):
        c = colours(gi % colours.N)
        a = abs_features[abs_features["well"].isin(members)].groupby("read", observed=True).median(numeric_only=True)
        axes[1].plot(a["time_min"] / 60, a["band_edge_nm"], color=c, lw=1.2, label=label)
        axes[2].plot(a["time_min"] / 60, a["od_edge"], color=c, lw=1.2)
        p = pl_features[pl_features["well"].isin(members)].groupby("read", observed=True).median(numeric_only=True)
        axes[1].plot(p["time_min"] / 60, p["peak_nm"], color=c, lw=0.8, ls="--")
    axes[1].set(ylabel="band edge (solid) / PL peak (dashed), nm")
    axes[2].set(xlabel="time since injection (h)", ylabel="OD at band edge")
    for ax in axes[1:]:
        ax.grid(alpha=0.3)
    if len(groups) > 1:
        axes[1].legend(fontsize=7, ncol=2, loc="best")
    return save_png(fig, out_path)
