"""Learning tables: synthesis parameters per well (one volume column per chemical) joined with PL targets.

The paper's 160-row table has one column per chemical (OAc, OLAm, OctAc, OctAm, PbBr2, Cs, Toluene, Chloroform)
holding the volume used, 0 where that chemical is absent, plus a "Ligand Ratio" = (acid + amine volume) / 10. A plate
map instead names the acid, amine and antisolvent per well; this module pivots those identities into such columns so
the same SHAP code reads both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from twin.analysis.errors import TableError
from twin.analysis.features import USABLE_STATUS, validate_features

PLATE_COLUMNS = ["well", "antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL", "acid", "acid_uL", "amine",
                 "amine_uL"]
TARGET_COLUMNS = ["peak_nm", "fwhm_nm", "height"]


def _volumes(plate: pd.DataFrame) -> pd.DataFrame:
    """Volume columns as floats; TableError naming the column and well for anything not a volume >= 0."""
    out = {}
    for col in ("antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"):
        v = pd.to_numeric(plate[col], errors="coerce")
        bad = v.isna() | (v < 0) | ~np.isfinite(v.fillna(0.0))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise TableError(f"plate_map: column '{col}' well {plate['well'].iloc[i]} is {plate[col].iloc[i]!r}; "
                             "allowed: a finite volume >= 0 uL")
        out[col] = v.astype(float).to_numpy()
    return pd.DataFrame(out, index=plate.index)


def _pivot(names: pd.Series, volume: np.ndarray, columns: dict[str, np.ndarray]) -> list[str]:
    """Add one ``<name>_uL`` column per distinct identity (volume where used, else 0); return the new names."""
    added = []
    for name in pd.unique(names.astype(str)):
        col = f"{name}_uL"
        columns[col] = columns.get(col, np.zeros(volume.size)) + np.where(names.astype(str) == name, volume, 0.0)
        if col not in added:
            added.append(col)
    return added


def _targets_at(features: pd.DataFrame, time_min: float | None) -> pd.DataFrame:
    """Per well, the read closest to ``time_min`` (default: the first read) with its PL targets."""
    table = validate_features(features)
    if time_min is None:
        pick = table.groupby("well", sort=False)["time_min"].idxmin()
    else:
        distance = (table["time_min"] - float(time_min)).abs()
        pick = distance.groupby(table["well"], sort=False).idxmin()
    rows = table.loc[pick.to_numpy()].reset_index(drop=True)
    usable = rows["status"].isin(USABLE_STATUS)
    dark = rows["status"] == "no_peak"
    return pd.DataFrame({
        "well": rows["well"],
        "time_min": rows["time_min"],
        "peak_nm": rows["peak_nm"].where(usable),
        "fwhm_nm": rows["fwhm_nm"].where(usable),
        "height": rows["height"].where(usable, np.where(dark, 0.0, np.nan)),
        "status": rows["status"],
    })


def design_table(
    plate_map: pd.DataFrame, features: pd.DataFrame | None = None, *, time_min: float | None = None
) -> pd.DataFrame:
    """One row per well: per-chemical volume columns (uL) and, with ``features``, PL targets at one time.

    Parameters
    ----------
    plate_map : columns ``well, antisolvent, antisolvent_uL, cs_uL, pbbr2_uL, acid, acid_uL, amine, amine_uL``.
    features : optional per-read features (``well, time_min, peak_nm, fwhm_nm, height, status``).
    time_min : minutes since injection of the read to use per well (nearest read); default the first read.

    Returns
    -------
    DataFrame with ``well``; ``<acid>_uL`` and ``<amine>_uL`` per ligand named in the plate map (e.g. ``OAc_uL``,
    ``OLAm_uL``); ``PbBr2_uL``; ``Cs_uL``; ``<antisolvent>_uL`` per solvent (e.g. ``toluene_uL``); ``ligand_ratio`` =
    (acid_uL + amine_uL) / 10 as coded in the paper's table; then, with features, ``time_min, peak_nm, fwhm_nm,
    height, status`` (peak/FWHM NaN for dark wells, height 0). ``attrs["feature_columns"]`` lists the inputs.
    """
    if not isinstance(plate_map, pd.DataFrame):
        raise TableError(f"plate_map: expected a pandas DataFrame, got {type(plate_map).__name__}")
    missing = [c for c in PLATE_COLUMNS if c not in plate_map.columns]
    if missing:
        raise TableError(f"plate_map: missing column(s) {missing}; required: {PLATE_COLUMNS}")
    if plate_map.empty:
        raise TableError("plate_map: no rows")
    dup = plate_map["well"][plate_map["well"].duplicated()]
    if not dup.empty:
        raise TableError(f"plate_map: column 'well' repeats {sorted(set(dup.astype(str)))[:5]}")
    plate = plate_map.reset_index(drop=True)
    vol = _volumes(plate)
    columns: dict[str, np.ndarray] = {}
    acids = _pivot(plate["acid"], vol["acid_uL"].to_numpy(), columns)
    amines = _pivot(plate["amine"], vol["amine_uL"].to_numpy(), columns)
    columns["PbBr2_uL"] = vol["pbbr2_uL"].to_numpy()
    columns["Cs_uL"] = vol["cs_uL"].to_numpy()
    solvents = _pivot(plate["antisolvent"], vol["antisolvent_uL"].to_numpy(), columns)
    columns["ligand_ratio"] = (vol["acid_uL"] + vol["amine_uL"]).to_numpy() / 10.0
    feature_columns = acids + [a for a in amines if a not in acids] + ["PbBr2_uL", "Cs_uL"]
    feature_columns += [s for s in solvents if s not in feature_columns] + ["ligand_ratio"]
    out = pd.DataFrame({"well": plate["well"].to_numpy()})
    for col in feature_columns:
        out[col] = columns[col]
    if features is not None:
        targets = _targets_at(features, time_min)
        out = out.merge(targets, on="well", how="left")
    out.attrs["feature_columns"] = feature_columns
    return out
