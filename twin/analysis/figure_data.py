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
from twin.analysis.features import USABLE_STATUS, summarize_trajectories, validate_features

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


def heatmaps_data(spectra_long: pd.DataFrame, group_by: pd.Series | None = None) -> dict:
    """``twin.analysis.draw.heatmaps``'s arguments: the spectra as a cube and the wells of each group."""
    wells, grid, times, cube = spectra_cube(spectra_long)
    return {"wells": wells, "grid": grid, "times": times, "cube": cube, "groups": _groups(wells, group_by)}


def heatmaps_data_by_group(wells: list, grid: np.ndarray, times: np.ndarray, cube: np.ndarray,
                           group_of: dict) -> list[dict]:
    """``heatmaps_data`` for each well group, from the cube of all wells (``spectra_cube``'s four values).

    A group is every well with the same ``group_of[well]`` label ('ungrouped' if missing), groups in the order of
    their first well: one ``draw.heatmaps`` call each, so that groups can be drawn side by side. The arrays are
    those ``heatmaps_data`` makes of each group's rows of a complete long table (every well has every read and
    wavelength, as ``CampaignResult.spectra_long`` has), without splitting the table.
    """
    rows: dict[str, list[int]] = {}
    for i, w in enumerate(wells):
        rows.setdefault(str(group_of.get(w, "ungrouped")), []).append(i)
    return [{"wells": [wells[i] for i in idx], "grid": grid, "times": times[idx], "cube": cube[idx],
             "groups": {label: [wells[i] for i in idx]}} for label, idx in rows.items()]


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


def feature_trajectories_data(features: pd.DataFrame, group_by: pd.Series | None = None) -> dict:
    """``twin.analysis.draw.feature_trajectories``'s arguments: per panel (y label, wells, time h, values).

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
    return {"groups": groups, "panels": panels}


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


def ratio_summary_data(features: pd.DataFrame, plate_map: pd.DataFrame, group_by: pd.Series | None = None) -> dict:
    """``twin.analysis.draw.ratio_summary``'s arguments: per group (label, amine per acid of each well, rows).

    Each row is (y label, [first read, last read]), each of those (value per well, ratio of each mean, mean value);
    wells are sorted by ratio. Groups default to antisolvent x ligand pair x ligand:PbBr2 ratio.
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
    columns = []
    for label in pd.unique(data["group"]):
        sub = data[data["group"] == label].sort_values("amine_per_acid")
        rows = []
        for col, ylabel in RATIO_ROWS:
            reads = []
            for suffix in ("_t0", "_end"):
                y = sub[col + suffix]
                means = y.groupby(sub["amine_per_acid"]).mean()
                reads.append((y.to_numpy(), means.index.to_numpy(), means.to_numpy()))
            rows.append((ylabel, reads))
        columns.append((str(label), sub["amine_per_acid"].to_numpy(), rows))
    return {"columns": columns}
