"""Every Gen5 export layout -> one ``Gen5Export``: spectra, kinetic tables, endpoint plate maps and Results.

``read_gen5(path)`` reads any single-plate Gen5 "File Export" (TAB text or the lab's comma variant) into metadata,
procedure and a list of ``Gen5DataSet``. Table shapes (``docs/cytation_facts.md`` 2.5):

- **spectrum**: title, blank, ``Wavelength<TAB>A1 ... H12``, one row per wavelength;
- **kinetic**: title, blank, ``Time<TAB>T° <name><TAB>A1 ...`` (the T° column is optional: derived sets such as
  ``Blank OD600:450`` have none), one row per read, ``h:mm:ss``; reads not run yet (``0:00:00`` rows with no values
  after the first row) are dropped;
- **plate map** (``Results``, ``Layout`` or a matrix data set): ``<TAB>1 ... 12``, rows ``A ... H``, the data-set
  label in the column after the last plate column, continuation lines (no row letter) for further data sets.
  A label with ``[...]`` (``Mean Max RFU [EM Spectrum]``, ``Max V [Blank OD600:450]``) is a Gen5 well analysis
  (kind ``result``); any other label (``abs450:450``, ``485,528``) is raw endpoint data (kind ``endpoint``).
  ``Layout`` maps (``Well ID``, ``Conc/Dil``) are text and go to ``Gen5Export.layout``.

Cells: numbers; ``h:mm:ss`` (``t at Max V``) as seconds; ``OVRFLW``, ``MISSED``, ``?????``, ``PER WELL``,
``<0.000``/``>4.000`` (outside a standard curve) -> NaN with the token kept in ``flags``; empty cells -> NaN with
flag ``""`` (a well not read). Anything else raises ``Gen5FormatError`` naming the file, line, data set and well.
"""

from __future__ import annotations

import math
import re

import numpy as np

from instruments.cytation.gen5 import (HEADER_KEYS, TOKENS, Gen5FormatError, _split, parse_cell,
                                       parse_procedure, parse_time_s, read_export_text)
from instruments.cytation.gen5_data import KINDS, RAW_KINDS, Gen5DataSet, Gen5Export
from instruments.reader import emission_grid

__all__ = ["read_gen5", "parse_time_s", "Gen5DataSet", "Gen5Export", "Gen5FormatError", "KINDS", "RAW_KINDS"]

_WELL = re.compile(r"^[A-Z]{1,2}\d{1,2}$")
#: plate columns -> plate rows, for the plate sizes Gen5 knows
_ROWS_OF = {3: 2, 4: 3, 6: 4, 8: 6, 12: 8, 24: 16, 48: 32}


# -- tables ---------------------------------------------------------------------------------------------------------
class _Rows:
    """The file's rows with helpers that never index out of range."""

    def __init__(self, rows: list[list[str]], name: str):
        self.rows, self.name = rows, name

    def __len__(self) -> int:
        return len(self.rows)

    def cell(self, i: int, j: int) -> str:
        return self.rows[i][j] if 0 <= j < len(self.rows[i]) else ""

    def blank(self, i: int) -> bool:
        return not any(c.strip() for c in self.rows[i])

    def first(self, i: int) -> int:
        """Index of the first non-empty cell of row i (-1 if blank)."""
        return next((j for j, c in enumerate(self.rows[i]) if c.strip()), -1)

    def error(self, i: int, what: str) -> Gen5FormatError:
        return Gen5FormatError(f"{self.name} line {i + 1}: {what}")


def _table_shape(r: _Rows, i: int) -> tuple[str, int] | None:
    """('spectrum'|'kinetic'|'platemap', shift) if row i is a table header; shift = leading empty cells (csv: 1)."""
    j = r.first(i)
    if j < 0 or j > 2:
        return None
    head = r.cell(i, j)
    if head == "Wavelength" and j <= 1:
        return "spectrum", j
    if head == "Time" and j <= 1:
        return "kinetic", j
    if head == "1" and j >= 1 and r.cell(i, j + 1) in ("2", ""):
        return "platemap", j - 1
    return None


def _is_title(r: _Rows, i: int) -> bool:
    j = r.first(i)
    return j == 0 and not any(c.strip() for c in r.rows[i][1:])


def _find_sections(r: _Rows, start: int) -> list[dict]:
    sections = []
    for i in range(start, len(r)):
        if not _is_title(r, i):
            continue
        k, notes = i + 1, {}
        while k < len(r) and (r.blank(k) or r.cell(k, r.first(k)).startswith("Actual Temperature")):
            if not r.blank(k):
                j = r.first(k)
                notes[r.cell(k, j).rstrip(":")] = r.cell(k, j + 1)
            k += 1
        shape = _table_shape(r, k) if k < len(r) else None
        if shape:
            sections.append({"title": r.rows[i][0].strip(), "at": i, "header": k, "shape": shape[0],
                             "shift": shape[1], "notes": notes})
    return sections


def _table_rows(r: _Rows, header: int, stop: int) -> list[int]:
    out = []
    for i in range(header + 1, stop):
        if r.blank(i):
            break
        out.append(i)
    return out


def _parse_values(r: _Rows, i: int, cells: list[str], wells: list[str], title: str) -> tuple[list, list]:
    values, flags = [], []
    for well, text in zip(wells, cells):
        try:
            v, f = parse_cell(text)
        except ValueError:
            raise r.error(i, f"data set {title!r}, well {well}: {text.strip()!r} is not a number, a time or a "
                             f"Gen5 token ({', '.join(sorted(TOKENS))})") from None
        values.append(v)
        flags.append(f)
    return values, flags


def _header_wells(r: _Rows, i: int, cells: list[str], title: str) -> list[str]:
    while cells and not cells[-1].strip():
        cells = cells[:-1]
    bad = [c for c in cells if not _WELL.match(c.strip())]
    if bad or not cells:
        raise r.error(i, f"data set {title!r}: header cells {bad[:3] or cells[:3]} are not well names (A1 ... H12)")
    return [c.strip() for c in cells]


def _matrix(values: list[list[float]], flags: list[list[str]], present: list[list[bool]], wells: list[str]):
    """Rows of (n_points, n_wells) -> (values, flags, wells) transposed, keeping wells with any non-empty cell."""
    v = np.array(values, float).reshape(len(values), len(wells)).T
    f = np.array(flags, dtype=object).reshape(len(values), len(wells)).T.astype(str)
    keep = np.array(present, bool).reshape(len(values), len(wells)).any(axis=0)
    return v[keep], f[keep], [w for w, k in zip(wells, keep) if k]


def _spectrum(r: _Rows, s: dict, stop: int) -> Gen5DataSet:
    h, shift, title = s["header"], s["shift"], s["title"]
    wells = _header_wells(r, h, r.rows[h][shift + 1:], title)
    wl, values, flags, present = [], [], [], []
    for i in _table_rows(r, h, stop):
        text = r.cell(i, shift)
        try:
            wl.append(float(text))
        except ValueError:
            raise r.error(i, f"data set {title!r}: wavelength {text!r} is not a number") from None
        cells = [r.cell(i, shift + 1 + k) for k in range(len(wells))]
        v, f = _parse_values(r, i, cells, wells, title)
        values.append(v)
        flags.append(f)
        present.append([bool(c.strip()) for c in cells])
    if not wl:
        raise r.error(h + 1, f"data set {title!r} has no wavelength rows (truncated export?)")
    v, f, kept = _matrix(values, flags, present, wells)
    return Gen5DataSet(title, "spectrum", kept, v, f, np.array(wl), "wavelength_nm", section=title)


def _kinetic(r: _Rows, s: dict, stop: int) -> tuple[Gen5DataSet, int]:
    h, shift, title = s["header"], s["shift"], s["title"]
    head = r.rows[h][shift + 1:]
    has_temperature = bool(head) and not _WELL.match(head[0].strip())
    wells = _header_wells(r, h, head[1:] if has_temperature else head, title)
    first = shift + 1 + has_temperature
    times, temps, values, flags, present = [], [], [], [], []
    rows = _table_rows(r, h, stop)
    for i in rows:
        text = r.cell(i, shift)
        try:
            t = parse_time_s(text)
        except ValueError:
            raise r.error(i, f"data set {title!r}: time {text!r} is not h:mm:ss") from None
        cells = [r.cell(i, first + k) for k in range(len(wells))]
        filled = [bool(c.strip()) for c in cells]
        if times and t == 0 and not any(filled):
            continue  # a scheduled read not run yet
        temp = r.cell(i, shift + 1).strip() if has_temperature else ""
        try:
            temps.append(float(temp) if temp and temp != "PER WELL" else math.nan)
        except ValueError:
            raise r.error(i, f"data set {title!r}: temperature {temp!r} is not a number") from None
        v, f = _parse_values(r, i, cells, wells, title)
        times.append(t)
        values.append(v)
        flags.append(f)
        present.append(filled)
    if not times:
        raise r.error(h + 1, f"data set {title!r} has no time rows (truncated export?)")
    v, f, kept = _matrix(values, flags, present, wells)
    ds = Gen5DataSet(title, "kinetic", kept, v, f, np.array(times), "time_s",
                     np.array(temps) if has_temperature else None, section=title)
    return ds, len(rows)


def _row_letters(n_rows: int) -> list[str]:
    return [chr(65 + k) for k in range(min(n_rows, 26))] + [f"A{chr(65 + k)}" for k in range(max(n_rows - 26, 0))]


def _platemap(r: _Rows, s: dict, stop: int) -> list[tuple[str, list[str], list[str]]]:
    """A plate map -> [(label, wells, cell texts)] in label order; checks row letters and label groups."""
    h, shift, title = s["header"], s["shift"], s["title"]
    head = [c.strip() for c in r.rows[h][shift + 1:]]
    while head and not head[-1]:
        head.pop()
    if head != [str(c + 1) for c in range(len(head))]:
        raise r.error(h, f"data set {title!r}: plate-map header {head[:4]}... is not 1, 2, 3, ...")
    n_cols = len(head)
    letter, letters, groups = None, [], []
    by_label: dict[str, tuple[list[str], list[str]]] = {}
    for i in _table_rows(r, h, stop):
        cells = r.rows[i][shift:]
        row = cells[0].strip() if cells else ""
        if row:
            letter = row
            letters.append(row)
            groups.append([])
        elif letter is None:
            raise r.error(i, f"data set {title!r}: plate-map line without a row letter (A, B, ...)")
        label = (cells[n_cols + 1].strip() if len(cells) > n_cols + 1 else "") or title
        groups[-1].append(label)
        texts = [cells[1 + c] if 1 + c < len(cells) else "" for c in range(n_cols)]
        wells, values = by_label.setdefault(label, ([], []))
        wells += [f"{letter}{c + 1}" for c in range(n_cols)]
        values += texts
    if not letters:
        raise r.error(h + 1, f"data set {title!r} has no plate rows (truncated export?)")
    n_rows = _ROWS_OF.get(n_cols)
    if n_rows and letters != _row_letters(n_rows):
        raise r.error(h + 1, f"data set {title!r}: plate rows {''.join(letters)} for a {n_rows}x{n_cols} plate; "
                             f"expected {''.join(_row_letters(n_rows))} (truncated export?)")
    if any(g != groups[0] for g in groups):
        bad = next(k for k, g in enumerate(groups) if g != groups[0])
        raise r.error(h + 1, f"data set {title!r}: row {letters[bad]} holds data sets {groups[bad]}, row "
                             f"{letters[0]} {groups[0]} (truncated export?)")
    return [(label, wells, texts) for label, (wells, texts) in by_label.items()]


def _platemap_datasets(r: _Rows, s: dict, stop: int) -> list[Gen5DataSet]:
    out = []
    for label, wells, texts in _platemap(r, s, stop):
        values, flags = _parse_values(r, s["header"], texts, wells, label)
        keep = [bool(t.strip()) for t in texts]
        kind = "result" if re.search(r"\[.*\]", label) else "endpoint"
        out.append(Gen5DataSet(label, kind, [w for w, k in zip(wells, keep) if k],
                               np.array(values, float)[keep], np.array(flags, dtype=object)[keep].astype(str),
                               section=s["title"]))
    return out


def _check_declared(r: _Rows, proc: dict, datasets: list[Gen5DataSet], kinetic_rows: dict[str, int],
                    at_end: set[str]) -> list[str]:
    """Compare tables with what Procedure Details declare. A short table that ends the file is a truncated export
    (error); one followed by more sections was trimmed on purpose (a note): Gen5 users may export subsets."""
    notes = []

    def short(name: str, what: str) -> None:
        if name in at_end:
            raise Gen5FormatError(f"{r.name}: {what}: truncated export")
        notes.append(f"{what} (trimmed export?)")

    grids = [emission_grid(*scan) for scan in proc["scans"] if 0 < scan[1] - scan[0] <= 10_000 * scan[2]]
    for d in datasets:
        if d.kind == "spectrum" and grids and not any(len(g) == len(d.axis) and np.allclose(g, d.axis)
                                                      for g in grids):
            g = grids[0]
            short(d.name, f"Procedure Details declare {len(g)} wavelengths {g[0]:g}..{g[-1]:g} nm, data set "
                          f"{d.name!r} holds {len(d.axis)} ({d.axis[0]:g}..{d.axis[-1]:g} nm)")
    declared = proc.get("kinetic", {}).get("reads")
    for name, n in kinetic_rows.items():
        if declared and n < declared:
            short(name, f"the kinetic loop declares {declared} reads, data set {name!r} has {n} time rows "
                        f"(Gen5 writes every scheduled read)")
    return notes


def read_gen5(path) -> Gen5Export:
    """Parse any single-plate Gen5 export (TAB text or the lab's comma variant) into a ``Gen5Export``.

    ``procedure`` holds ``read_steps`` ([{label, type}]), ``read_types``, ``kinetic`` ({runtime_s, interval_s,
    reads}) when there is a kinetic loop, ``scans`` [(start, stop, step) nm], ``absorbance_nm``, ``filter_sets``
    [(ex, em)], the fluorescence-spectrum fields of ``read_gen5_spectra`` and the raw ``lines``. Raises
    ``Gen5FormatError`` naming the file, line and field on anything unexpected (truncated files included).
    """
    name, text = read_export_text(path)
    r = _Rows(_split(text, name), name)
    starts = [i for i in range(len(r)) if r.cell(i, 0) == "Software Version"]
    if len(starts) > 1:
        raise Gen5FormatError(f"{name}: {len(starts)} plates (lines {', '.join(str(i + 1) for i in starts)} start "
                              f"with 'Software Version'); export one plate per file")
    metadata: dict[str, str] = {}
    proc_start = None
    for i in range(len(r)):
        if r.cell(i, 0) in HEADER_KEYS:
            metadata[r.cell(i, 0).rstrip(":")] = r.cell(i, 1)
        if r.cell(i, 0) == "Procedure Details":
            proc_start = i
            break
    if proc_start is None:
        raise Gen5FormatError(f"{name}: no 'Procedure Details' line; expected a Gen5 export header")
    sections = _find_sections(r, proc_start + 1)
    if not sections:
        raise Gen5FormatError(f"{name}: no data section after 'Procedure Details' (a title line followed by a "
                              f"'Wavelength', 'Time' or plate-map table); truncated export?")
    proc_lines = [row for row in r.rows[proc_start + 1:sections[0]["at"]] if any(c.strip() for c in row)]
    procedure = parse_procedure(proc_lines)
    datasets: list[Gen5DataSet] = []
    layout: dict[str, dict[str, str]] = {}
    kinetic_rows: dict[str, int] = {}
    last_line = max(i for i in range(len(r)) if not r.blank(i))
    at_end: set[str] = set()
    for k, s in enumerate(sections):
        stop = sections[k + 1]["at"] if k + 1 < len(sections) else len(r)
        if s["shape"] != "platemap" and (_table_rows(r, s["header"], stop) or [-1])[-1] == last_line:
            at_end.add(s["title"])
        if s["notes"]:
            metadata.update({f"{s['title']}: {key}": v for key, v in s["notes"].items()})
        if s["shape"] == "spectrum":
            datasets.append(_spectrum(r, s, stop))
        elif s["shape"] == "kinetic":
            ds, n_rows = _kinetic(r, s, stop)
            datasets.append(ds)
            kinetic_rows[ds.name] = n_rows
        elif s["title"] == "Layout":
            for label, wells, texts in _platemap(r, s, stop):
                layout[label] = {w: t.strip() for w, t in zip(wells, texts) if t.strip()}
        else:
            datasets.extend(_platemap_datasets(r, s, stop))
    notes = _check_declared(r, procedure, datasets, kinetic_rows, at_end)
    return Gen5Export(name, metadata, procedure, datasets, layout, notes)
