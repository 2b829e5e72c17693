"""Absorbance over time next to PL: spectra of one well, band edge vs PL peak, OD at the edge (one figure)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from twin.analysis.plots import _groups, save_png


def plot_absorbance(absorbance: pd.DataFrame, abs_features: pd.DataFrame, pl_features: pd.DataFrame, out_path,
                    group_by: pd.Series | None = None, labels: dict | None = None) -> Path:
    """Three panels: absorbance spectra of the most absorbing well at ~6 times (its first PL peak marked); the first
    excitonic peak (solid), the band edge (inflection of the onset, dotted) and the PL peak (dashed) vs time per
    group; OD at the band edge vs time. ``labels``: well -> composition, for the first panel's title.

    The excitonic absorption peak lies blue of the PL peak (the Stokes shift); the inflection of the onset lies on
    the peak's red flank, about one linewidth further red, so it can sit on either side of the PL peak.
    """
    fig = Figure(figsize=(7.5, 9.5), layout="constrained")  # no pyplot: backend-independent, no global state
    axes = fig.subplots(3, 1)
    ok = abs_features.dropna(subset=["band_edge_nm"])
    well = ok.groupby("well", observed=True)["od_edge"].median().idxmax() if len(ok) else absorbance["well"].iloc[0]
    one = absorbance[absorbance["well"] == well]
    reads = sorted(one["read"].unique())
    cmap = colormaps["viridis"]
    shown = reads[:: max(1, len(reads) // 6)]
    for n, rd in enumerate(shown):
        g = one[one["read"] == rd]
        axes[0].plot(g["wavelength_nm"], g["od"], color=cmap(n / max(1, len(shown) - 1)), lw=1,
                     label=f"{g['time_min'].iloc[0] / 60:.1f} h")
    pl_one = pl_features[(pl_features["well"] == well)].dropna(subset=["peak_nm"])
    if len(pl_one):  # where the well emits, at its first read: the absorption onset lies around it
        first = pl_one.iloc[0]
        axes[0].axvline(float(first["peak_nm"]), color="k", ls="--", lw=0.8,
                        label=f"PL peak ({first['time_min'] / 60:.1f} h)")
    group = str(group_by.get(well, "")) if group_by is not None else ""
    what = ", ".join(x for x in (group, labels.get(well, "") if labels else "") if x)
    name = f"{well} ({what})" if what else str(well)
    axes[0].set(xlabel="wavelength (nm)", ylabel="OD", title=f"absorbance of {name}")
    axes[0].legend(fontsize=7, ncol=3)
    wells = list(pd.unique(abs_features["well"]))
    groups = _groups(wells, group_by)
    colours = colormaps["tab10" if len(groups) <= 10 else "tab20"]
    for gi, (label, members) in enumerate(groups.items()):
        c = colours(gi % colours.N)
        a = abs_features[abs_features["well"].isin(members)].groupby("read", observed=True).median(numeric_only=True)
        axes[1].plot(a["time_min"] / 60, a["exciton_nm"], color=c, lw=1.3, label=label)
        axes[1].plot(a["time_min"] / 60, a["band_edge_nm"], color=c, lw=1.0, ls=":")
        axes[2].plot(a["time_min"] / 60, a["od_edge"], color=c, lw=1.2, label=label)
        p = pl_features[pl_features["well"].isin(members)].groupby("read", observed=True).median(numeric_only=True)
        axes[1].plot(p["time_min"] / 60, p["peak_nm"], color=c, lw=1.0, ls="--")
    axes[1].set(ylabel="wavelength (nm), median of each group",
                title="excitonic absorption peak (solid), band edge = onset inflection (dotted), PL peak (dashed)")
    axes[1].title.set_fontsize(8.5)
    axes[2].set(xlabel="time since injection (h)", ylabel="OD at band edge")
    for ax in axes[1:]:
        ax.grid(alpha=0.3)
    if len(groups) > 1:
        axes[1].legend(fontsize=7, ncol=2, loc="best")
    return save_png(fig, out_path)
