"""Plate maps: one row per well (what to put in it), validated at the edge with row-and-column error messages.

CSV columns: ``well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL``; any further columns are
kept as labels (e.g. ``group``, ``ratio``).  Stocks as in the paper: Cs-oleate ~5 mM Cs in the antisolvent, PbBr2
50 mM in DMF, neat ligands (premixed with the PbBr2 solution by the robot before injection).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from chemistry import ACIDS, AMINES, SOLVENTS
from instruments.labware import LABWARE_TYPES, PLATE_TYPES, parse_well, well_names
from instruments.errors import LabwareError

REQUIRED_COLUMNS = ["well", "antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL", "acid", "acid_uL", "amine",
                    "amine_uL"]
VOLUME_COLUMNS = ["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"]


class PlateMapError(ValueError):
    """A plate map that cannot be run; the message names the row, the column and the allowed values."""


def _canonical(name: str, table) -> str | None:
    lookup = {k.lower(): k for k in table}
    return lookup.get(str(name).strip().lower())


def validate_plate_map(df: pd.DataFrame, plate_wells: int | None = None, source: str = "plate map") -> pd.DataFrame:
    """Check a plate map and return a clean copy (canonical names, float volumes, plate order).

    ``plate_wells`` is 96 or 384; by default the smallest plate that holds every well named.
    Raises PlateMapError naming the row (1-based, as in a spreadsheet after the header), column and allowed values.
    """
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise PlateMapError(f"{source}: missing column(s) {missing}; required columns: {REQUIRED_COLUMNS}")
    if df.empty:
        raise PlateMapError(f"{source}: no wells (the table has a header but no rows)")
    rows_cols = []
    for n, w in enumerate(df["well"], start=1):
        try:
            rows_cols.append(parse_well(w))
        except LabwareError as e:
            raise PlateMapError(f"{source}: row {n}, column 'well': {e}") from None
    if plate_wells is None:
        fits96 = all(r < 8 and c < 12 for r, c in rows_cols)
        plate_wells = 96 if fits96 else 384
    if plate_wells not in PLATE_TYPES:
        raise PlateMapError(f"plate_wells={plate_wells!r}; allowed: {sorted(PLATE_TYPES)}")
    ptype = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    valid = set(well_names(ptype.rows, ptype.columns))
    seen: dict[str, int] = {}
    canon_wells = []
    for n, (w, (r, c)) in enumerate(zip(df["well"], rows_cols), start=1):
        name = f"{chr(ord('A') + r) if r < 26 else 'A' + chr(ord('A') + r - 26)}{c + 1}"
        if name not in valid:
            raise PlateMapError(f"{source}: row {n}, column 'well': {w!r} is not on a {plate_wells}-well plate "
                                f"(allowed A1..{ptype_last(ptype)})")
        if name in seen:
            raise PlateMapError(f"{source}: row {n}, column 'well': {name} is duplicated (first on row {seen[name]})")
        seen[name] = n
        canon_wells.append(name)
    df["well"] = canon_wells
    for col, table in (("antisolvent", SOLVENTS), ("acid", ACIDS), ("amine", AMINES)):
        out = []
        for n, v in enumerate(df[col], start=1):
            c = _canonical(v, table)
            if c is None:
                raise PlateMapError(f"{source}: row {n} ({df['well'].iloc[n - 1]}), column '{col}': unknown value "
                                    f"{v!r}; allowed: {sorted(table)}")
            out.append(c)
        df[col] = out
    for col in VOLUME_COLUMNS:
        vals = pd.to_numeric(df[col], errors="coerce")
        for n, (raw, v) in enumerate(zip(df[col], vals), start=1):
            if v is None or not math.isfinite(v) or v < 0:
                raise PlateMapError(f"{source}: row {n} ({df['well'].iloc[n - 1]}), column '{col}': {raw!r} is not a "
                                    f"volume; allowed: a finite number of uL >= 0")
        df[col] = vals.astype(float)
    total = df[VOLUME_COLUMNS].sum(axis=1)
    for n, (w, t) in enumerate(zip(df["well"], total), start=1):
        if t > ptype.capacity_uL:
            raise PlateMapError(f"{source}: row {n} ({w}), columns {VOLUME_COLUMNS}: total {t:g} uL exceeds the "
                                f"well capacity {ptype.capacity_uL:g} uL of {ptype.load_name}")
    order = {w: i for i, w in enumerate(well_names(ptype.rows, ptype.columns))}
    df = df.sort_values("well", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    df.attrs["plate_wells"] = plate_wells
    return df


def ptype_last(ptype) -> str:
    return well_names(ptype.rows, ptype.columns)[-1]


def read_plate_map(path_or_text: str | Path, plate_wells: int | None = None) -> pd.DataFrame:
    """Read and validate a plate-map CSV (a path, or CSV text)."""
    p = Path(str(path_or_text))
    if "\n" not in str(path_or_text) and p.suffix.lower() == ".csv":
        if not p.exists():
            raise PlateMapError(f"plate map {p} does not exist")
        df = pd.read_csv(p, dtype={"well": str}, skipinitialspace=True)
        return validate_plate_map(df, plate_wells, source=str(p))
    df = pd.read_csv(io.StringIO(str(path_or_text)), dtype={"well": str}, skipinitialspace=True)
    return validate_plate_map(df, plate_wells)


def place(rows: pd.DataFrame, plate_wells: int = 96) -> pd.DataFrame:
    """Give plate-map rows their wells in plate order (A1, A2, ...) on a 96- or 384-well plate."""
    if plate_wells not in PLATE_TYPES:
        raise PlateMapError(f"plate_wells: {plate_wells} is not a plate size; allowed: {sorted(PLATE_TYPES)}")
    kind = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    names = well_names(kind.rows, kind.columns)
    if len(rows) > len(names):
        raise PlateMapError(f"{len(rows)} rows do not fit a {plate_wells}-well plate")
    out = rows.reset_index(drop=True).copy()
    out.insert(0, "well", names[: len(out)])
    return out
