"""Plate maps: one row per well (what to put in it), validated at the edge with row-and-column error messages.

CSV columns: ``well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL``; any further columns are
kept as labels (e.g. ``group``, ``ratio``).  Stocks as in the paper: Cs-oleate ~5 mM Cs in the antisolvent, PbBr2
50 mM in DMF, neat ligands (premixed with the PbBr2 solution by the robot before injection).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from chemistry import ACIDS, AMINES, SOLVENTS
from instruments.labware import LABWARE_TYPES, PLATE_TYPES, parse_well, well_names
from instruments.errors import LabwareError
from instruments.input_files import read_capped

REQUIRED_COLUMNS = ["well", "antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL", "acid", "acid_uL", "amine",
                    "amine_uL"]
VOLUME_COLUMNS = ["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"]
#: names larp-twin writes itself (plate.csv, spectra, features): a label column may not take them.
RESERVED_COLUMNS = {
    "read": "the read index", "time_min": "minutes since injection", "wavelength_nm": "the emission wavelength",
    "intensity": "the PL intensity", "read_start_min": "the read's start", "injected_at_min": "the injection time",
    "blank": "the blank-well flag", "peak_nm": "a fit result", "fwhm_nm": "a fit result", "height": "a fit result",
    "area": "a fit result", "r2": "a fit result", "status": "a fit result",
}
#: the largest plate a map may address; a map is taken as a 96-well plate when every well fits one.
MAX_PLATE_WELLS = max(PLATE_TYPES)
#: plate-map files larger than this are refused before parsing (a 384-well map is ~40 kB)
MAX_FILE_BYTES = 20_000_000
#: columns (fields per line) a plate map or table may have: 9 required, a few labels; checked on the header line
#: before anything is built (a 200,000-column header is refused at once)
MAX_COLUMNS = 1000


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
    for c in df.columns:
        if c in RESERVED_COLUMNS or c.startswith("dispensed_"):
            meaning = RESERVED_COLUMNS.get(c, "the volume actually dispensed")
            raise PlateMapError(f"{source}: column {c!r} is a name larp-twin writes itself ({meaning}); rename "
                                f"that label column, e.g. 'my_{c}'")
    rows_cols = []
    for n, w in enumerate(df["well"], start=1):
        try:
            rows_cols.append(parse_well(w))
        except LabwareError as e:
            raise PlateMapError(f"{source}: row {n}, column 'well': {e}") from None
    declared = plate_wells is not None
    if plate_wells is None:  # the smallest legal layout that holds every well named
        for n, (w, rc) in enumerate(zip(df["well"], rows_cols), start=1):
            if not _fits([rc], MAX_PLATE_WELLS):
                sizes = " / ".join(f"{k}-well A1..{ptype_last(LABWARE_TYPES[PLATE_TYPES[k]])}"
                                   for k in sorted(PLATE_TYPES))
                raise PlateMapError(f"{source}: row {n}, column 'well': {w!r} is not on a plate ({sizes}); fix the "
                                    f"well name")
        plate_wells = min(n for n in sorted(PLATE_TYPES) if _fits(rows_cols, n))
    if plate_wells not in PLATE_TYPES:
        raise PlateMapError(f"plate_wells={plate_wells!r}; allowed: {sorted(PLATE_TYPES)}")
    if not declared and plate_wells != min(PLATE_TYPES):
        _check_switch(df, rows_cols, plate_wells, source)
    ptype = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    valid = set(well_names(ptype.rows, ptype.columns))
    seen: dict[str, int] = {}
    canon_wells = []
    for n, (w, (r, c)) in enumerate(zip(df["well"], rows_cols), start=1):
        name = f"{chr(ord('A') + r) if r < 26 else 'A' + chr(ord('A') + r - 26)}{c + 1}"
        if name not in valid:
            raise PlateMapError(f"{source}: row {n}, column 'well': {w!r} is outside the {plate_wells}-well plate "
                                f"(allowed A1..{ptype_last(ptype)}); fix the well name")
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
    if not (total > 0).any():
        raise PlateMapError(f"{source}: no well holds anything (every volume is 0 on every row); give at least one "
                            f"well a volume")
    for n, (w, t) in enumerate(zip(df["well"], total), start=1):
        if t > ptype.capacity_uL:
            raise PlateMapError(f"{source}: row {n} ({w}), columns {VOLUME_COLUMNS}: total {t:g} uL exceeds the "
                                f"well capacity {ptype.capacity_uL:g} uL of {ptype.load_name}")
    order = {w: i for i, w in enumerate(well_names(ptype.rows, ptype.columns))}
    df = df.sort_values("well", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    df.attrs["plate_wells"] = plate_wells
    return df


def _fits(rows_cols, plate_wells: int) -> bool:
    t = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    return all(r < t.rows and c < t.columns for r, c in rows_cols)


def _check_switch(df, rows_cols, plate_wells: int, source: str) -> None:
    """A map whose wells need a larger plate than 96 wells: refuse it, naming the well, when its volumes do not
    fit that plate's wells (a typo such as A13 on a 96-well map), instead of blaming a volume."""
    small = min(PLATE_TYPES)
    st = LABWARE_TYPES[PLATE_TYPES[small]]
    outside = [(n, w) for n, (w, (r, c)) in enumerate(zip(df["well"], rows_cols), start=1)
               if not (r < st.rows and c < st.columns)]
    cap = LABWARE_TYPES[PLATE_TYPES[plate_wells]].capacity_uL
    total = pd.DataFrame({c: pd.to_numeric(df[c], errors="coerce") for c in VOLUME_COLUMNS}).sum(axis=1)
    if outside and (total > cap).any():
        n, w = outside[0]
        worst = int(total.to_numpy().argmax())
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        raise PlateMapError(
            f"{source}: row {n}, column 'well': {w!r}{more} is outside a {small}-well plate (A1..{ptype_last(st)}); "
            f"only a {plate_wells}-well plate has it, and its {cap:g} uL wells cannot hold row {worst + 1}'s "
            f"{total.iloc[worst]:g} uL: fix the well name, or declare the plate with a first line "
            f"'# plate_wells: {plate_wells}'")


def ptype_last(ptype) -> str:
    return well_names(ptype.rows, ptype.columns)[-1]


def read_plate_map(path_or_text: str | Path, plate_wells: int | None = None) -> pd.DataFrame:
    """Read and validate a plate-map CSV (a path, or CSV text).

    Reads what spreadsheets write: comma-, semicolon- (with decimal commas) or tab-separated, UTF-8 (with or
    without BOM), UTF-16 (Excel's "Unicode text") or Windows-1252, and ``#`` comment lines; a first line
    ``# plate_wells: 96`` (or 384) declares the plate.  Empty, binary, directory and ragged files are refused
    with a message that names the file, the line and what to do.  What it noticed (the separator, blanks, a
    384-well plate chosen because of a well name) is said as warnings, which the CLI prints as ``note:`` lines.
    """
    text = str(path_or_text)
    if "\n" not in text and ("," not in text or Path(text).suffix.lower() == ".csv"):
        p = Path(text)
        source = str(p)
        if p.is_dir():
            raise PlateMapError(f"plate map {p} is a directory; give a plate-map .csv file")
        if not p.exists():
            raise PlateMapError(f"plate map {p} does not exist; check the path")
        # a regular file (a named pipe would block the open), at most MAX_FILE_BYTES
        data = read_capped(p, "plate map", MAX_FILE_BYTES, PlateMapError, typical="a 384-well map is ~40 kB")
        text = decode_table_bytes(data, f"plate map {p}")
    else:
        source = "plate map"
    df, declared = parse_table_text(text, source, required=REQUIRED_COLUMNS)
    if plate_wells is None:
        plate_wells = declared
    pm = validate_plate_map(df, plate_wells, source=source)
    _announce(pm, df, plate_wells, source)
    return pm


def _announce(pm: pd.DataFrame, raw: pd.DataFrame, declared, source: str) -> None:
    """Warnings (``note:`` lines on the CLI) about what the map means that a user may not expect."""
    import warnings

    if declared is None and pm.attrs["plate_wells"] != min(PLATE_TYPES):
        t = LABWARE_TYPES[PLATE_TYPES[min(PLATE_TYPES)]]
        outside = [w for w in pm["well"] if w not in set(well_names(t.rows, t.columns))]
        warnings.warn(f"{source}: well {outside[0]}{f' (and {len(outside) - 1} more)' if len(outside) > 1 else ''} "
                      f"is beyond a {min(PLATE_TYPES)}-well plate, so this is a {pm.attrs['plate_wells']}-well plate; "
                      f"declare '# plate_wells: N' on the first line to make it explicit", stacklevel=3)
    blanks = pm.loc[(pm["pbbr2_uL"] == 0) & (pm[VOLUME_COLUMNS].sum(axis=1) > 0), "well"].tolist()
    if blanks:
        warnings.warn(f"{source}: well(s) {_list(blanks)} have pbbr2_uL=0: blanks (no reaction), marked blank=True "
                      f"in plate.csv; their time_min counts from the plate's first injection", stacklevel=3)
    empty = pm.loc[pm[VOLUME_COLUMNS].sum(axis=1) == 0, "well"].tolist()
    if empty:
        warnings.warn(f"{source}: well(s) {_list(empty)} hold nothing (every volume 0): they are not dispensed or "
                      f"read", stacklevel=3)


def _list(wells: list[str], n: int = 6) -> str:
    return ", ".join(wells[:n]) + (f" and {len(wells) - n} more" if len(wells) > n else "")


_CONTROL = set(range(0, 32)) - {9, 10, 13}


def decode_table_bytes(data: bytes, source: str) -> str:
    """The text of a spreadsheet export: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252; binary refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, mostly ASCII
        try:
            text = data.decode("utf-16")
            if text.strip() and sum(c.isascii() for c in text) >= 0.9 * len(text):
                return text
        except UnicodeDecodeError:
            pass
    if not data.strip():
        raise PlateMapError(f"{source} is empty; a plate map is a CSV with the header line "
                            f"{','.join(REQUIRED_COLUMNS)} and one row per well")
    head = data[:65536]
    bad = next((i for i, b in enumerate(head) if b in _CONTROL), None)
    if bad is not None:
        raise PlateMapError(f"{source} is not a text file (binary byte 0x{head[bad]:02x} at position {bad}); save it "
                            f"as CSV (comma- or semicolon-separated text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise PlateMapError(f"{source} is not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start}); "
                                f"save it as 'CSV UTF-8'") from None
        import warnings

        warnings.warn(f"{source} is not UTF-8 (byte 0x{data[e.start]:02x} at position {e.start}): read it as "
                      f"Windows-1252; save it as 'CSV UTF-8' to be sure of non-ASCII names", stacklevel=3)
        return text


_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}


def parse_table_text(text: str, source: str, required=()) -> tuple[pd.DataFrame, int | None]:
    """A CSV table from ``text`` with its separator detected; (table, plate size declared in a comment or None).

    Whole-line ``#`` comments are dropped (``# plate_wells: 96`` declares the plate).  The separator is the one
    that splits the header into the ``required`` columns (else the commonest of comma, semicolon, tab); with a
    semicolon, decimal commas (``0,5``) are read as numbers.  A row with more fields than the header, or fewer
    where a required column would be empty, is refused naming its line.
    """
    import warnings

    lines = text.splitlines()
    declared = None
    kept: list[tuple[int, str]] = []
    for i, line in enumerate(lines, start=1):
        if line.lstrip().startswith("#"):
            m = re.match(r"\s*#\s*plate_wells\s*[:=]\s*(\S+)", line)
            if m:
                try:
                    declared = int(m.group(1))
                except ValueError:
                    raise PlateMapError(f"{source} line {i}: plate_wells {m.group(1)!r}; allowed: "
                                        f"{sorted(PLATE_TYPES)}") from None
                if declared not in PLATE_TYPES:
                    raise PlateMapError(f"{source} line {i}: plate_wells {declared}; allowed: {sorted(PLATE_TYPES)}")
            continue
        kept.append((i, line))
    while kept and not kept[0][1].strip():
        kept.pop(0)
    if not kept:
        raise PlateMapError(f"{source} is empty; a plate map is a CSV with the header line "
                            f"{','.join(REQUIRED_COLUMNS)} and one row per well")
    header_line = kept[0][1]

    def split(line, sep, strict=False):
        try:
            return next(csv.reader([line], delimiter=sep))
        except csv.Error:  # a cell over the csv module's limit: not this separator, or (strict) not a table
            if not strict:
                return [line]
            raise PlateMapError(f"{source} line {kept[0][0]}: a header cell longer than {csv.field_size_limit():,} "
                                f"characters; is it the right file?") from None

    sep = None
    for cand in _SEPARATORS:
        cols = [c.strip() for c in split(header_line, cand)]
        if required and all(r in cols for r in required):
            sep = cand
            break
    if sep is None:
        sep = max(_SEPARATORS, key=lambda c: len(split(header_line, c)))
        if len(split(header_line, sep)) == 1:
            sep = ","
    header = [c.strip() for c in split(header_line, sep, strict=True)]
    if len(header) > MAX_COLUMNS:
        raise PlateMapError(f"{source} line {kept[0][0]}: the header has {len(header):,} columns, more than the "
                            f"{MAX_COLUMNS} a table may have (a plate map has the {len(REQUIRED_COLUMNS)} required "
                            f"columns and a few labels); is it the right file?")
    body = "\n".join(line for _, line in kept) + "\n"
    rows, line_of = _csv_rows(body, sep, [i for i, _ in kept], source)
    if required and not all(r in header for r in required):
        missing = [r for r in required if r not in header]
        hint = ""
        for other, name in _SEPARATORS.items():
            if other != sep and other in header_line:
                hint = f" (the header holds {name}s: is the file {name}-separated?)"
        raise PlateMapError(f"{source}: missing column(s) {missing}; the header has {header[:12]}{hint}; required "
                            f"columns: {','.join(required)}")
    header, rows, line_of = _drop_excel_padding(header, rows, line_of, source)
    n_head = len(header)
    req_at = [header.index(r) for r in required if r in header]
    for k, row in enumerate(rows[1:], start=1):
        if len(row) > n_head:
            raise PlateMapError(f"{source} line {line_of[k]} (row {k}): {len(row)} fields, the header has "
                                f"{n_head}; remove the extra {_SEPARATORS[sep]}(s) or quote the value that holds one")
        if req_at and len(row) <= max(req_at):
            missing = [header[j] for j in req_at if j >= len(row)]
            raise PlateMapError(f"{source} line {line_of[k]} (row {k}): {len(row)} fields, the header has "
                                f"{n_head}; missing {missing}")
    counts = Counter(header)
    unnamed_or_dup = sorted({c for c in header if not c or counts[c] > 1})
    if unnamed_or_dup:
        raise PlateMapError(f"{source}: header columns must be named and unique; the header has "
                            f"{', '.join(repr(c) for c in unnamed_or_dup)} empty or more than once")
    decimal = _read_numbers(header, rows, line_of, sep, source)
    if sep != "," or decimal != ".":
        warnings.warn(f"{source}: read as {_SEPARATORS[sep]}-separated with decimal "
                      f"{'commas' if decimal == ',' else 'points' if decimal == '.' else 'commas and points'}",
                      stacklevel=3)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([header, *rows[1:]])
    try:
        df = pd.read_csv(io.StringIO(buf.getvalue()), sep=sep, dtype={"well": str}, skipinitialspace=True)
    except (ValueError, csv.Error) as e:
        raise PlateMapError(f"{source}: not a readable CSV table ({str(e).strip()})") from None
    return df, declared


def _csv_rows(body: str, sep: str, lines: list[int], source: str) -> tuple[list[list[str]], list[int]]:
    """The rows of ``body`` and the file line each starts on; a cell over the csv module's limit, or more than
    ``MAX_COLUMNS`` fields on a line, is refused naming the line (before anything large is built)."""
    reader = csv.reader(io.StringIO(body), delimiter=sep)
    rows: list[list[str]] = []
    line_of: list[int] = []
    start = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            at = lines[min(reader.line_num, len(lines)) - 1]
            limit = csv.field_size_limit()
            what = (f"a cell longer than {limit:,} characters (a label is a few words)" if "field limit" in str(e)
                    else f"not a readable CSV line ({e})")
            raise PlateMapError(f"{source} line {at}: {what}; is it the right file?") from None
        if len(row) > MAX_COLUMNS:
            raise PlateMapError(f"{source} line {lines[min(reader.line_num, len(lines)) - 1]}: {len(row):,} fields, "
                                f"more than the {MAX_COLUMNS} a table may have; is it the right file?")
        rows.append(row)
        line_of.append(lines[min(start, len(lines) - 1)])
        start = reader.line_num
    return rows, line_of


def _drop_excel_padding(header, rows, line_of, source):
    """What Excel adds around a table: empty columns after the last named one (``;;;``), cells past the header in
    them, and empty rows; dropped with a note (a value under an unnamed column is left for the caller to refuse)."""
    import warnings

    named = len(header)
    while named and not header[named - 1]:
        named -= 1
    if named < len(header) and all(not any(c.strip() for c in row[named:]) for row in rows[1:]):
        warnings.warn(f"{source}: ignored {len(header) - named} empty column(s) after {header[named - 1]!r} (the "
                      f"trailing separators a spreadsheet writes)", stacklevel=4)
        header = header[:named]
    n = len(header)
    keep, keep_lines, empty = [rows[0]], [line_of[0]], []
    for row, line in zip(rows[1:], line_of[1:]):
        if not any(c.strip() for c in row):
            empty.append(line)
            continue
        while len(row) > n and not row[-1].strip():  # a row padded past the header with empty cells
            row = row[:-1]
        keep.append(row)
        keep_lines.append(line)
    if empty:
        warnings.warn(f"{source}: ignored {len(empty)} empty row(s) (line(s) {_list([str(i) for i in empty])})",
                      stacklevel=4)
    return header, keep, keep_lines


# numbers as spreadsheets write them: decimal comma or point, optional thousands separators
_POINT = re.compile(r"[-+]?\d*\.\d+")
_COMMA = re.compile(r"[-+]?\d*,\d+")
_ONE_GROUP = re.compile(r"[-+]?[1-9]\d{0,2}([.,])\d{3}")  # 1.500 / 1,500: a decimal or a thousands separator?
_EURO = re.compile(r"[-+]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?")  # 1.500.000, 1.500,5
_ENGLISH = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")  # 1,500,000, 1,500.5
#: the decimal mark a file is taken to use when none of its cells says which
_DEFAULT_DECIMAL = {",": ".", ";": ",", "\t": "."}


def _read_numbers(header, rows, line_of, sep: str, source: str) -> str | None:
    """Rewrite every number cell of ``rows`` (in place) with a decimal point and no thousands separator.

    The file's decimal mark is what its unambiguous cells use (``0,5`` / ``1.500,5``: comma; ``0.5`` /
    ``1,500.5``: point), else the separator's custom (a semicolon file: comma).  A cell that reads differently
    under the two customs (``1.500``: 1500 in Europe, 1.5 in English; ``1,500`` likewise) is read only when the
    file's cells say the mark and the cell agrees with it as a decimal; otherwise it is refused naming the row and
    column, so that no volume is ever read silently wrong.  Returns the decimal mark (None: the file uses both)."""
    marks = set()
    for row in rows[1:]:
        for cell in row:
            c = cell.strip()
            if _ONE_GROUP.fullmatch(c):
                continue
            if _COMMA.fullmatch(c) or (_EURO.fullmatch(c) and "." in c):
                marks.add(",")
            elif _POINT.fullmatch(c) or (_ENGLISH.fullmatch(c) and "," in c):
                marks.add(".")
    decimal = marks.pop() if len(marks) == 1 else None if marks else _DEFAULT_DECIMAL[sep]
    well_at = header.index("well") if "well" in header else None
    for k, row in enumerate(rows[1:], start=1):
        for j, cell in enumerate(row):
            c = cell.strip()
            if not c or not (c[0].isdigit() or c[0] in "+-.,"):
                continue
            one = _ONE_GROUP.fullmatch(c)
            if one:
                if one.group(1) != decimal:
                    raise PlateMapError(_ambiguous(source, line_of[k], k, row, well_at, header, j, c, decimal))
                row[j] = c.replace(",", ".")
            elif _COMMA.fullmatch(c):
                row[j] = c.replace(",", ".")
            elif _EURO.fullmatch(c) and ("," in c or c.count(".") > 1):
                row[j] = c.replace(".", "").replace(",", ".")
            elif _ENGLISH.fullmatch(c) and ("." in c or c.count(",") > 1):
                row[j] = c.replace(",", "")
    return decimal


def _ambiguous(source, line, k, row, well_at, header, j, cell, decimal) -> str:
    mark = cell[_ONE_GROUP.fullmatch(cell).start(1)]
    whole, frac = cell.split(mark)
    small = float(f"{whole}.{frac}")
    big = int(whole + frac)
    said = ("the file's other numbers do not say which decimal mark it uses" if decimal is None else
            f"this file writes decimals with a {'comma' if decimal == ',' else 'point'}")
    point = "," if decimal == "," else "."
    well = f", well {row[well_at].strip()}" if well_at is not None and well_at < len(row) else ""
    col = header[j] if j < len(header) else f"#{j + 1}"
    return (f"{source} line {line} (row {k}{well}), column {col!r}: {cell!r} is ambiguous ({said}): "
            f"{big:g} with {mark!r} as a thousands separator, {small:g} as a decimal {'comma' if mark == ',' else 'point'}; "
            f"write {str(small).replace('.', point)} or {big} (no thousands separator)")


def read_table_text(path, what: str = "table") -> pd.DataFrame:
    """A CSV table file (any separator / encoding ``read_plate_map`` reads) with file-naming errors."""
    p = Path(path)
    data = read_capped(p, what, MAX_FILE_BYTES, PlateMapError)
    return parse_table_text(decode_table_bytes(data, f"{what} {p}"), f"{what} {p}")[0]


def place(rows: pd.DataFrame, plate_wells: int = 96, per_row: int | None = None) -> pd.DataFrame:
    """Give plate-map rows their wells in plate order (A1, A2, ...) on a 96- or 384-well plate.

    ``per_row``: use only the first ``per_row`` columns of each plate row (the lab's 40-well plates fill A1-A10,
    B1-B10, C1-C10, D1-D10); default: every column.
    """
    if plate_wells not in PLATE_TYPES:
        raise PlateMapError(f"plate_wells: {plate_wells} is not a plate size; allowed: {sorted(PLATE_TYPES)}")
    kind = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    columns = kind.columns if per_row is None else int(per_row)
    if not 1 <= columns <= kind.columns:
        raise PlateMapError(f"per_row: {per_row!r}; allowed: 1 to {kind.columns} on a {plate_wells}-well plate")
    names = well_names(kind.rows, columns)
    if len(rows) > len(names):
        raise PlateMapError(f"{len(rows)} rows do not fit a {plate_wells}-well plate"
                            + (f" at {columns} wells per row" if per_row is not None else ""))
    out = rows.reset_index(drop=True).copy()
    out.insert(0, "well", names[: len(out)])
    return out
