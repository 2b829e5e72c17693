"""What each figure shows, as plain arrays: the table half (pandas) of ``twin.analysis.plots``.

Each ``*_data`` function checks a long-format table and reduces it to what its figure draws: numpy arrays, lists,
dicts and strings, handed as keyword arguments to the function of the same name in ``twin.analysis.draw``. Nothing
here imports matplotlib, and nothing it returns needs pandas to unpickle, so ``larp-twin run`` can draw in a worker
forked before pandas was imported (the run process prepares, the worker draws; neither imports the other's half).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from twin.analysis.errors import TableError
from twin.analysis.features import USABLE_STATUS, validate_features

SPECTRA_COLUMNS = ["well", "time_min", "wavelength_nm", "intensity"]
PLATE_COLUMNS = ["well", "antisolvent", "pbbr2_uL", "acid", "acid_uL", "amine", "amine_uL"]
#: feature-trajectory panels, top to bottom: (column, y label)
TRAJECTORY_PANELS = [("peak_nm", "peak (nm)"), ("fwhm_nm", "FWHM (nm)"), ("height", "intensity (counts)")]
#: ratio-summary rows, top to bottom: (column, y label)
RATIO_ROWS = [("peak_nm", "peak (nm)"), ("height", "intensity (counts)"), ("fwhm_nm", "FWHM (nm)")]


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TableError(f"{name}: missing column(s) {missing}; required: {columns}")


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


def _ratio_text(value: float) -> str:
    """A volume ratio as the paper writes it: 1:0.1, 1:1, 1:1.5, 1:30."""
    return "1:" + (f"{value:.2g}" if value < 10 else f"{value:.0f}")


def composition_groups(plate: pd.DataFrame, column: str | None = None) -> pd.Series:
    """Well -> group label by composition: the plate map's ``column`` if given (e.g. ``larp-twin run --group-by``),
    else antisolvent x ligand pair x ligand:PbBr2 ratio ("toluene OAc:OLAm 1:30"); blanks are "blank <antisolvent>".

    The ligand:PbBr2 ratio is part of the default so that a plate with several PbBr2 levels is never pooled.
    """
    if column is not None:
        if column not in plate.columns:
            raise TableError(f"group_by: the plate map has no column {column!r}; columns: {list(plate.columns)}")
        return plate[column].astype(str).set_axis(plate["well"])
    _require(plate, PLATE_COLUMNS, "plate_map")
    acid = pd.to_numeric(plate["acid_uL"], errors="coerce").to_numpy(float)
    pb = pd.to_numeric(plate["pbbr2_uL"], errors="coerce").to_numpy(float)
    labels = []
    for solvent, a, b, acid_uL, pb_uL in zip(plate["antisolvent"], plate["acid"], plate["amine"], acid, pb):
        if not (pb_uL > 0 and acid_uL > 0):
            labels.append(f"blank {solvent}")
        else:
            labels.append(f"{solvent} {a}:{b} {_ratio_text(pb_uL / acid_uL)}")
    return pd.Series(labels, index=plate["well"].to_numpy(), dtype=object)


def amine_per_acid(plate: pd.DataFrame) -> dict:
    """Well -> amine:acid volume ratio (NaN for blanks): what the feature figures colour by."""
    acid = pd.to_numeric(plate["acid_uL"], errors="coerce").to_numpy(float)
    amine = pd.to_numeric(plate["amine_uL"], errors="coerce").to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(acid > 0, amine / acid, np.nan)
    return {str(w): float(r) for w, r in zip(plate["well"], ratio)}


def composition_labels(plate: pd.DataFrame) -> dict:
    """Well -> its ligand composition as a chemist writes it ("OAc:OLAm 1:0.5"; blanks "blank"), for panel labels."""
    ratio = amine_per_acid(plate)
    return {str(w): (f"{a}:{b} {_ratio_text(ratio[str(w)])}" if np.isfinite(ratio[str(w)]) else "blank")
            for w, a, b in zip(plate["well"], plate["acid"], plate["amine"])}


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


def heatmaps_data(spectra_long: pd.DataFrame, group_by: pd.Series | None = None,
                  labels: dict | None = None) -> dict:
    """``twin.analysis.draw.heatmaps``'s arguments: the spectra as a cube, the wells of each group and each well's
    panel label (``labels``: well -> composition, e.g. ``composition_labels(plate)``; default: the well)."""
    wells, grid, times, cube = spectra_cube(spectra_long)
    return {"wells": wells, "grid": grid, "times": times, "cube": cube, "groups": _groups(wells, group_by),
            "labels": _panel_labels(wells, labels)}


def _panel_labels(wells: list, labels: dict | None) -> list[str]:
    """Each tile's label: the composition then the well ("OAc:OLAm 1:0.5 · A5"), or the well alone."""
    if not labels:
        return [str(w) for w in wells]
    return [f"{labels[w]} \u00b7 {w}" if w in labels else str(w) for w in wells]


def heatmaps_data_by_group(wells: list, grid: np.ndarray, times: np.ndarray, cube: np.ndarray,
                           group_of: dict, labels: dict | None = None) -> list[dict]:
    """``heatmaps_data`` for each well group, from the cube of all wells (``spectra_cube``'s four values).

    A group is every well with the same ``group_of[well]`` label ('ungrouped' if missing), groups in the order of
    their first well: one ``draw.heatmaps`` call each, so that groups can be drawn side by side. The arrays are
    those ``heatmaps_data`` makes of each group's rows of a complete long table (every well has every read and
    wavelength, as ``CampaignResult.spectra_long`` has), without splitting the table.
    """
    rows: dict[str, list[int]] = {}
    for i, w in enumerate(wells):
        rows.setdefault(str(group_of.get(w, "ungrouped")), []).append(i)
    out = []
    for label, idx in rows.items():
        members = [wells[i] for i in idx]
        out.append({"wells": members, "grid": grid, "times": times[idx], "cube": cube[idx],
                    "groups": {label: members}, "labels": _panel_labels(members, labels)})
    return out


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


def feature_trajectories_data(features: pd.DataFrame, group_by: pd.Series | None = None,
                              plate_map: pd.DataFrame | None = None) -> dict:
    """``twin.analysis.draw.feature_trajectories``'s arguments: per panel (y label, wells, time h, values), and with
    ``plate_map`` each well's amine:acid ratio (``colour_by``, what the lines are coloured by; groups then differ by
    line style).

    Only ``ok``/``saturated`` fits count for peak and FWHM; dark (``no_peak``) reads count as intensity 0.
    """
    table = validate_features(features)
    usable = table["status"].isin(USABLE_STATUS)
    table = table.assign(
        peak_nm=table["peak_nm"].where(usable),
        fwhm_nm=table["fwhm_nm"].where(usable),
        height=table["height"].where(usable, np.where(table["status"] == "no_peak", 0.0, np.nan)),
    )
    groups = _groups(list(pd.unique(features["well"])), group_by)
    panels = [(ylabel, *_feature_matrix(table, column)) for column, ylabel in TRAJECTORY_PANELS]
    out = {"groups": groups, "panels": panels}
    if plate_map is not None:
        _require(plate_map, PLATE_COLUMNS, "plate_map")
        pairs = sorted({f"{a}:{b}" for a, b, r in zip(plate_map["acid"], plate_map["amine"],
                                                      amine_per_acid(plate_map).values()) if np.isfinite(r)})
        out["colour_by"] = amine_per_acid(plate_map)
        out["colour_label"] = f"amine per acid ({', '.join(pairs) or 'amine:acid'}; acid = 1)"
    return out


def _ratio_groups(plate: pd.DataFrame, group_by) -> pd.Series:
    """Default grouping for Fig. 2: antisolvent, ligand pair and ligand:PbBr2-solution volume ratio."""
    if group_by is not None:
        if not isinstance(group_by, pd.Series):
            raise TableError(f"group_by: expected a pandas Series indexed by well, got {type(group_by).__name__}")
        return plate["well"].map(group_by.astype(str).to_dict()).fillna("ungrouped")
    return pd.Series(composition_groups(plate).to_numpy(), index=plate.index)


def _first_and_last_read(features: pd.DataFrame) -> pd.DataFrame:
    """Per well, each RATIO_ROWS value at its first and at its last read (``<col>_t0``, ``<col>_end``).

    The value of that read, not the nearest usable one: a read without a usable fit is NaN (peak and FWHM of a
    ``no_peak`` read, everything of a failed fit); a dark (``no_peak``) read has intensity 0.
    """
    table = validate_features(features)
    usable = table["status"].isin(USABLE_STATUS)
    table = table.assign(
        peak_nm=table["peak_nm"].where(usable), fwhm_nm=table["fwhm_nm"].where(usable),
        height=table["height"].where(usable, np.where(table["status"] == "no_peak", 0.0, np.nan)))
    order = table["read"] if "read" in table.columns else table["time_min"]
    table = table.assign(_order=pd.to_numeric(order, errors="coerce")).sort_values(["_order"], kind="stable")
    cols = ["well"] + [c for c, _ in RATIO_ROWS]
    by_well = table.groupby("well", sort=False)
    first = by_well.head(1)[cols].set_index("well").add_suffix("_t0")
    last = by_well.tail(1)[cols].set_index("well").add_suffix("_end")
    order = pd.unique(features["well"])  # plate order, as the table lists the wells
    return first.join(last).reindex(order).rename_axis("well").reset_index()


def ratio_summary_data(features: pd.DataFrame, plate_map: pd.DataFrame, group_by: pd.Series | None = None) -> dict:
    """``twin.analysis.draw.ratio_summary``'s arguments: per group (label, amine per acid of each well, rows).

    Each row is (y label, [first read, last read]), each of those (value per well, ratio of each mean, mean value);
    wells are sorted by ratio. The values are those of each well's first and last read (NaN where that read has no
    usable fit: the figure marks those wells). Groups default to antisolvent x ligand pair x ligand:PbBr2 ratio.
    """
    _require(plate_map, PLATE_COLUMNS, "plate_map")
    summary = _first_and_last_read(features)
    plate = plate_map.loc[:, PLATE_COLUMNS].copy()
    acid = pd.to_numeric(plate["acid_uL"], errors="coerce")
    if (acid <= 0).any() or acid.isna().any():
        bad = plate.loc[(acid <= 0) | acid.isna(), "well"].tolist()
        raise TableError(f"plate_map: column 'acid_uL' must be > 0 to form an amine:acid ratio; wells {bad[:5]}")
    plate["amine_per_acid"] = pd.to_numeric(plate["amine_uL"], errors="coerce") / acid
    plate["group"] = _ratio_groups(plate, group_by).to_numpy()
    data = summary.merge(plate[["well", "amine_per_acid", "group", "acid", "amine"]], on="well", how="inner")
    if data.empty:
        raise TableError("features/plate_map: no well is in both tables")
    columns = []
    for label in pd.unique(data["group"]):
        sub = data[data["group"] == label].sort_values("amine_per_acid", kind="stable")
        rows = []
        for col, ylabel in RATIO_ROWS:
            reads = []
            for suffix in ("_t0", "_end"):
                y = sub[col + suffix]
                means = y.groupby(sub["amine_per_acid"]).mean()
                reads.append((y.to_numpy(float), means.index.to_numpy(), means.to_numpy()))
            rows.append((ylabel, reads))
        pairs = sorted(set(sub["acid"].astype(str) + ":" + sub["amine"].astype(str)))
        xlabel = (f"{pairs[0].split(':')[1]} per {pairs[0].split(':')[0]} ({pairs[0]} 1:x)" if len(pairs) == 1
                  else "amine per acid (acid = 1)")
        columns.append((str(label), sub["amine_per_acid"].to_numpy(), rows, xlabel))
    return {"columns": columns}
