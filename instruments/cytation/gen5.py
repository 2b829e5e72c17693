"""Gen5 "File Export" of fluorescence emission spectra: a writer byte-compatible with Gen5's layout, and a reader.

Layout (``docs/cytation_facts.md`` part 2; checked against the real export
``tests/data/gen5_em_spectrum_neo2.txt``): cp1252, CRLF, two blank
lines, the header keys (``Software Version``, ``Experiment File Path:``, ``Protocol File Path:``, ``Plate Number``,
``Date``, ``Time``, ``Reader Type:``, ``Reader Serial Number:``, ``Reading Type``), ``Procedure Details`` with one
``Read<TAB>Fluorescence Spectrum`` step per read, then one data section per read -- title, blank line,
``Wavelength<TAB>A1 ... H12``, one row per wavelength, ``OVRFLW`` for saturated points, empty cells for wells not
read -- and a final ``Results`` plate map of ``Mean Max RFU [<section>]``.

Kinetic series: a series of scans is written as **several read steps in one file**, sections ``Read 1:EM Spectrum``,
``Read 2:EM Spectrum``, ... (Gen5's naming when a procedure has more than one read step, and what the lab's
notebooks parse); a single scan is titled ``EM Spectrum``. Gen5 does not put read times in spectrum exports, so
neither does this writer; ``Results`` then carries one line per read and plate row (continuation lines start with a
TAB, as in Gen5's multi-data-set plate maps; the exact multi-read label is inferred, not observed).

``layout="csv"`` writes the comma variant the lab's notebooks read: same lines, comma-separated, tables shifted one
column right (empty first cell), cells containing commas quoted, and every row padded with trailing commas to the
widest row (as Gen5 does; ``pd.read_csv(path, header=None)`` takes the column count from the first line).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from instruments.errors import ReaderError, UsageError
from instruments.labware import well_names
from instruments.reader import emission_grid

OVERFLOW = "OVRFLW"
#: non-numeric cells Gen5 writes; all become NaN (OVRFLW is also flagged in ``overflow``).
HEADER_KEYS = ("Software Version", "Experiment File Path:", "Protocol File Path:", "Plate Number", "Date", "Time",
               "Reader Type:", "Reader Serial Number:", "Reading Type")


class Gen5FormatError(ReaderError, ValueError):
    """A file that is not the Gen5 export expected; the message names the file, line and field."""


@dataclass
class Gen5Spectra:
    """Emission spectra of a Gen5 export.

    ``counts`` is (n_reads, n_wells, n_wavelengths) RFU, NaN for ``OVRFLW`` (``overflow`` True) and for empty cells.
    """

    wells: list[str]
    wavelength_nm: np.ndarray
    counts: np.ndarray
    overflow: np.ndarray
    section_names: list[str]
    metadata: dict[str, str] = field(default_factory=dict)
    procedure: dict = field(default_factory=dict)
    results: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def n_reads(self) -> int:
        return self.counts.shape[0]


# -- writer -------------------------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    if math.isnan(value):
        return OVERFLOW
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))  # shortest text that reads back to the same float


_SMALL_INTS: np.ndarray | None = None


def _fmt_array(values: np.ndarray) -> np.ndarray:
    """``_fmt`` over a whole array at once (object array of str): integers as integers, NaN as OVRFLW.

    RFU are integers below the 99,999 ceiling almost always, so their text comes from a cached table.
    """
    global _SMALL_INTS
    if _SMALL_INTS is None:
        _SMALL_INTS = np.array([str(i) for i in range(100_000)], dtype=object)
    out = np.empty(values.shape, dtype=object)
    nan = np.isnan(values)
    integral = ~nan & (values == np.round(values))
    small = integral & (values >= 0) & (values < _SMALL_INTS.size)
    out[small] = _SMALL_INTS[values[small].astype(np.int64)]
    big = integral & ~small
    out[big] = [str(int(v)) for v in values[big]]
    other = ~nan & ~integral
    out[other] = [repr(float(v)) for v in values[other]]
    out[nan] = OVERFLOW
    return out


def _num(value: float) -> str:
    return format(float(value), "g")


def write_gen5_spectra(path, wells: Sequence[str], wavelength_nm, counts, *, layout: str = "tab",
                       excitation_nm: float = 365.0, bandwidth_nm: float = 20.0, gain: int = 100,
                       optics: str = "Bottom", read_height_mm: float = 7.0, lamp_energy: str = "High",
                       software_version: str = "3.12.08", reader_type: str = "Cytation5",
                       reader_serial: str = "Unknown", reading_type: str = "Reader",
                       when: datetime | None = None, plate_type: str = "96 WELL PLATE (Use plate lid)",
                       plate_rows: int = 8, plate_columns: int = 12,
                       experiment_path: str = "", protocol_path: str = "",
                       all_plate_wells: bool | None = None, absorbance: Sequence | None = None,
                       order: Sequence[tuple[str, int]] | None = None) -> Path:
    """Write spectra as a Gen5 export.

    Parameters: ``wells`` read (names such as ``B7``); ``wavelength_nm`` (n_wl,) an even grid; ``counts`` RFU,
    (n_wells, n_wl) for one scan or (n_reads, n_wells, n_wl) for a series, NaN -> ``OVRFLW``; ``layout`` ``"tab"``
    (Gen5's TXT) or ``"csv"`` (the lab's comma variant); ``all_plate_wells``: list every plate well in the table
    headers, unread ones empty (Gen5's TXT; default for ``tab``) or only the wells read, in plate order (the shape the
    lab's notebooks hold, 2 + n_wells columns; default for ``csv``); ``absorbance``: absorbance spectra read in the
    same run, a list of ``(wavelength_nm, od)`` with ``od`` (n_wells, n_wl) (NaN -> ``OVRFLW``), written as Gen5's
    ``Absorbance Spectrum`` read steps (sections ``Read N:Spectrum``, OD to 3 decimals); ``order``: the read steps in
    time order as ``("em", k)`` / ``("abs", k)`` (default: the emission reads, then the absorbance ones). Returns the
    path.
    """
    if layout not in ("tab", "csv"):
        raise UsageError(f"layout must be 'tab' or 'csv', got {layout!r}")
    wl = np.asarray(wavelength_nm, float)
    data = np.asarray(counts, float)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1:] != (len(wells), len(wl)):
        raise UsageError(f"counts must be (n_reads, {len(wells)} wells, {len(wl)} wavelengths), got "
                         f"{np.shape(counts)}")
    steps = np.diff(wl)
    if len(wl) < 2 or not np.allclose(steps, steps[0]):
        raise UsageError("wavelength_nm must be an evenly spaced grid of at least two points")
    plate_wells = well_names(plate_rows, plate_columns)
    unknown = sorted(set(wells) - set(plate_wells))
    if unknown:
        raise UsageError(f"wells {unknown[:5]} are not on a {plate_rows}x{plate_columns} plate")
    column_of = {w: k for k, w in enumerate(wells)}
    if all_plate_wells is None:
        all_plate_wells = layout == "tab"
    header_wells = plate_wells if all_plate_wells else [w for w in plate_wells if w in column_of]
    n_reads = data.shape[0]
    absorbance = list(absorbance or [])
    if order is None:
        order = [("em", k) for k in range(n_reads)] + [("abs", k) for k in range(len(absorbance))]
    order = list(order)
    section = {"em": "EM Spectrum", "abs": "Spectrum"}
    names = [section[kind] if len(order) == 1 else f"Read {n + 1}:{section[kind]}" for n, (kind, _) in enumerate(order)]
    when = when or datetime.now()

    rows: list[list[str]] = [[], []]  # Gen5 starts with two blank lines
    table_rows: set[int] = set()

    def add(*cells: str, table: bool = False) -> None:
        if table:
            table_rows.add(len(rows))
        rows.append(list(cells))

    def add_table(first: list[str], body: np.ndarray) -> None:
        """Table rows ``first[j], *body[j]`` at once (one ``tolist`` per spectrum table, not one per row)."""
        block = np.empty((len(first), body.shape[1] + 1), dtype=object)
        block[:, 0] = first
        block[:, 1:] = body
        table_rows.update(range(len(rows), len(rows) + len(first)))
        rows.extend(block.tolist())

    add("Software Version", software_version)
    add(); add(); add()
    add("Experiment File Path:", *([experiment_path] if experiment_path else []))
    add("Protocol File Path:", *([protocol_path] if protocol_path else []))
    add(); add(); add()
    add("Plate Number", "Plate 1")
    add("Date", f"{when.month}/{when.day}/{when.year}")
    add("Time", when.strftime("%I:%M:%S %p").lstrip("0"))
    add("Reader Type:", reader_type)
    add("Reader Serial Number:", reader_serial)
    add("Reading Type", reading_type)
    add()
    add("Procedure Details")
    add()
    add("Plate Type", plate_type)
    add("Eject plate on completion")
    for kind, k in order:
        if kind == "abs":
            awl = np.asarray(absorbance[k][0], float)
            add("Read", "Absorbance Spectrum")
            add("", "Full Plate")
            add("", f"Start: {_num(awl[0])} nm,  Stop: {_num(awl[-1])} nm,  Step: "
                    f"{_num(awl[1] - awl[0]) if len(awl) > 1 else 0} nm")
            add("", "Read Speed: Sweep,  Delay: 0 msec,  Measurements/Data Point: 1")
            continue
        add("Read", "Fluorescence Spectrum")
        add("", "Full Plate")
        add("", f"Fixed Excitation: {_num(excitation_nm)}/{_num(bandwidth_nm)} nm")
        add("", f"Emission Start: {_num(wl[0])}/{_num(bandwidth_nm)} nm,  Stop: {_num(wl[-1])} nm,  "
                f"Step: {_num(steps[0])} nm")
        add("", f"Optics: {optics},  Gain: {gain}")
        add("", f"Light Source: Xenon Flash,  Lamp Energy: {lamp_energy}")
        add("", "Read Speed: Sweep,  Delay: 0 msec,  Measurements/Data Point: 1")
        add("", f"Read Height: {_num(read_height_mm)} mm")
    add()
    cells = np.full((n_reads, len(header_wells), len(wl)), "", dtype=object)
    read_cols = [k for k, pw in enumerate(header_wells) if pw in column_of]
    cells[:, read_cols, :] = _fmt_array(data[:, [column_of[header_wells[k]] for k in read_cols], :])
    wl_text = [_num(w) for w in wl]
    abs_cells, abs_max = [], []
    for awl, od in absorbance:
        od = np.asarray(od, float)
        text = np.full((len(header_wells), len(awl)), "", dtype=object)
        text[read_cols, :] = [[OVERFLOW if math.isnan(v) else f"{v:.3f}" for v in od[column_of[header_wells[c]]]]
                              for c in read_cols]
        abs_cells.append(([_num(w) for w in awl], text))
        with np.errstate(invalid="ignore"):
            abs_max.append([OVERFLOW if np.isnan(row).any() else f"{np.max(row):.3f}" for row in od])
    for name, (kind, k) in zip(names, order):
        add(name)
        add()
        add("Wavelength", *header_wells, table=True)
        if kind == "abs":
            add_table(abs_cells[k][0], abs_cells[k][1].T)
        else:
            add_table(wl_text, cells[k].T)
        add()
    add("Results")
    add("", *[str(c + 1) for c in range(plate_columns)], table=True)
    # Gen5's Min/Max well analysis: the spectrum's maximum, OVRFLW if any point overflowed (all reads at once)
    with np.errstate(invalid="ignore"):
        max_rfu = np.where(np.isnan(data).any(axis=2), np.nan, np.max(data, axis=2))
    max_text = _fmt_array(max_rfu)
    for r in range(plate_rows):
        for n, (name, (kind, k)) in enumerate(zip(names, order)):
            cells = []
            for c in range(plate_columns):
                w = plate_wells[r * plate_columns + c]
                if w not in column_of:
                    cells.append("")
                else:
                    cells.append(abs_max[k][column_of[w]] if kind == "abs" else max_text[k, column_of[w]])
            add(plate_wells[r * plate_columns][:-1] if n == 0 else "", *cells,
                f"Mean Max {'OD' if kind == 'abs' else 'RFU'} [{name}]", table=True)

    path = Path(path)
    if layout == "tab":
        text = "\r\n".join("\t".join(cells) for cells in rows) + "\r\n"
    else:
        # Gen5 pads every CSV row with trailing commas to the widest row: readers that take the column count from
        # the first line (``pd.read_csv(path, header=None)``, the lab's notebook) need it, and blank lines become
        # rows of empty cells, so the notebook's "title, blank, header" row offsets hold.
        shifted = [([""] + cells) if i in table_rows else cells for i, cells in enumerate(rows)]
        width = max(len(cells) for cells in shifted)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerows(cells + [""] * (width - len(cells)) for cells in shifted)
        text = buf.getvalue()
    path.write_bytes(text.encode("cp1252"))
    return path


# -- reader -------------------------------------------------------------------------------------------------------
#: Gen5 exports larger than this are refused before reading: a 12 h, 103-read PL export (126 wavelengths, 7-digit
#: counts) is 9.9 MB for 96 wells and 39 MB for 384 (measured on ``write_gen5_spectra``'s output); 200 MB is five
#: times the largest and keeps a mistaken ``/dev/zero``-sized file from filling memory
MAX_EXPORT_BYTES = 200_000_000
def read_export_text(path) -> tuple[str, str]:
    """A Gen5 export's file name and decoded text; refuses other encodings and files that end mid-line."""
    from instruments.input_files import read_capped

    path = Path(path)
    name = path.name
    raw = read_capped(path, "Gen5 export", MAX_EXPORT_BYTES, Gen5FormatError,
                      typical="a 12 h, 103-read export of a 384-well plate is ~40 MB")
    _refuse_empty(raw, name)
    text = _decode(raw, name)
    if raw and not raw.endswith(b"\n"):
        raise Gen5FormatError(f"{name} line {text.count(chr(10)) + 1}: the file ends mid-line; expected a complete "
                              f"Gen5 export (truncated?)")
    return name, text


EXPECTED = "expected a Gen5 export (Windows-1252 text starting with a 'Software Version' line)"


def _refuse_empty(raw: bytes, name: str) -> None:
    """One clear line for the two husks a crash or a full disk leaves: an empty file, a file of zero bytes (NUL)."""
    if not raw.strip():
        size = f"{len(raw)} bytes, blank" if raw else "0 bytes"
        raise Gen5FormatError(f"{name}: the file is empty ({size}); {EXPECTED}: was it taken or copied before Gen5 "
                              f"finished writing it?")
    if not raw.strip(b"\x00"):
        raise Gen5FormatError(f"{name}: the file holds only zero bytes ({len(raw)} NUL bytes, what a write cut off by "
                              f"a crash or a full disk leaves); {EXPECTED}: export the read again from Gen5")


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:200]:
        raise Gen5FormatError(f"{name}: looks UTF-16; Gen5 exports are Windows-1252 (cp1252) text")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise Gen5FormatError(f"{name} line {line}: byte {raw[exc.start]:#04x} is not Windows-1252 text; "
                              f"expected a Gen5 export (cp1252)") from None


def _split(text: str, name: str) -> list[list[str]]:
    lines = text.splitlines()
    if any(line.startswith("Software Version\t") for line in lines):
        return [line.split("\t") for line in lines]
    if any(line.startswith("Software Version,") for line in lines):
        return [list(r) or [""] for r in csv.reader(lines)]
    raise Gen5FormatError(f"{name}: no 'Software Version' line; expected a Gen5 export (tab or comma separated)")


# -- cells, times and the procedure (one parser for every reader) ----------------------------------------------------
_NUM = r"\d+(?:\.\d+)?"  # a plain decimal number
#: Gen5 cell tokens that stand for no value (kept as flags); ``<0.000`` / ``>4.000``: outside a standard curve
TOKENS = {OVERFLOW, "MISSED", "?????", "PER WELL", "RANGE?", "NaN"}
_HMS = r"\d+(?::\d{2}){1,2}(?:\.\d+)?"
_TIME = re.compile(r"^\d+(:\d{2}){1,2}(\.\d+)?$")
_OUT_OF_RANGE = re.compile(r"^[<>]-?\d+(\.\d*)?$")
_READ_TYPE = re.compile(r"^(Absorbance|Fluorescence|Luminescence|Alpha|Time.Resolved|Imaging|Image|Area Scan)\b")
_KINETIC = re.compile(rf"Runtime\s+({_HMS}).*?Interval\s+({_HMS}),\s*(\d+)\s+Reads")
_SCAN = re.compile(rf"^(?:(Emission|Excitation)\s+)?Start:\s*({_NUM})(?:/{_NUM})?\s*nm,\s*Stop:\s*({_NUM})\s*nm,"
                   rf"\s*Step:\s*({_NUM})")
_WAVELENGTHS = re.compile(rf"^Wavelengths?:\s*({_NUM}(?:(?:,\s*|\s+){_NUM})*)$")
_FILTER = re.compile(rf"Excitation:\s*({_NUM})(?:/{_NUM})?,\s*Emission:\s*({_NUM})")


def parse_time_s(text: str) -> float:
    """Gen5 time text -> seconds: ``0:07:31`` (h:mm:ss), ``96:00:00``, ``0:00.210`` (m:ss.fff)."""
    if not _TIME.match(text):
        raise Gen5FormatError(f"{text!r} is not a Gen5 time (h:mm:ss)")
    parts = [float(p) for p in text.split(":")]
    if len(parts) == 2:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def parse_cell(text: str, times: bool = True) -> tuple[float, str]:
    """One Gen5 cell -> (value, flag): a number, a token (NaN, the token as flag), ``h:mm:ss`` (seconds, when
    ``times``) or empty (NaN, flag ``""``); raises ValueError for text that is no Gen5 value (``inf`` included)."""
    text = text.strip()
    if text == "":
        return math.nan, ""
    try:
        value = float(text)
    except ValueError:
        if text in TOKENS or _OUT_OF_RANGE.match(text):
            return math.nan, text
        if not times:
            raise
        return parse_time_s(text), ""
    if not math.isfinite(value):
        if text in TOKENS:
            return math.nan, text
        raise Gen5FormatError(text)
    return value, ""


_PROC_PATTERNS = {
    "excitation": re.compile(rf"Fixed Excitation:\s*({_NUM})(?:/({_NUM}))?\s*nm"),
    "emission": re.compile(rf"Emission Start:\s*({_NUM})(?:/{_NUM})?\s*nm,\s*Stop:\s*({_NUM})\s*nm,"
                           rf"\s*Step:\s*({_NUM})"),
    "optics": re.compile(r"Optics:\s*(\w+),\s*Gain:\s*(\w+)"),
    "read_speed": re.compile(r"Read Speed:\s*(\w+)"),
    "read_height": re.compile(rf"Read Height:\s*({_NUM})\s*mm"),
}


def _parse_procedure_lines(lines: list[list[str]]) -> dict:
    proc: dict = {"read_types": [], "lines": ["\t".join(c).rstrip("\t") for c in lines]}
    for cells in lines:
        text = " ".join(c for c in cells if c)
        if cells and cells[0] == "Plate Type" and len(cells) > 1:
            proc["plate_type"] = cells[1]
        if cells and cells[0].strip() == "Read" and len(cells) > 1:
            proc["read_types"].append(cells[1])
        if cells and cells[0] == "" and len(cells) > 1 and cells[1].endswith("Spectrum") and ":" not in cells[1]:
            proc["read_types"][-1:] = [cells[1]]  # a step label came first ("Read<TAB>label", then the type)
        for key, pattern in _PROC_PATTERNS.items():
            m = pattern.search(text)
            if not m or key in proc:
                continue
            if key == "excitation":
                proc["excitation_nm"] = float(m.group(1))
                proc["excitation_bandwidth_nm"] = float(m.group(2)) if m.group(2) else None
            elif key == "emission":
                proc["emission_start_nm"], proc["emission_stop_nm"], proc["emission_step_nm"] = map(float, m.groups())
            elif key == "optics":
                proc["optics"], proc["gain"] = m.group(1), m.group(2)
            elif key == "read_speed":
                proc["read_speed"] = m.group(1)
            else:
                proc["read_height_mm"] = float(m.group(1))
    return proc


def parse_procedure(lines: list[list[str]]) -> dict:
    """The ``Procedure Details`` of any export: plate type, excitation/emission, optics, gain, read speed and height,
    read steps (label, type), kinetic loop, absorbance wavelengths, filter sets, scans (one parser for every reader)."""
    proc = _parse_procedure_lines(lines)
    steps: list[dict] = []
    proc.update(filter_sets=[], absorbance_nm=[], scans=[])
    for cells in lines:
        key = cells[0].strip()
        detail = next((c.strip() for c in cells[1:] if c.strip()), "")
        if key == "Read":
            if _READ_TYPE.match(detail):
                steps.append({"label": None, "type": detail})
            else:
                steps.append({"label": detail or None, "type": None})
        elif key == "" and steps and steps[-1]["type"] is None and detail:
            steps[-1]["type"] = detail
        elif key == "Start Kinetic":
            m = _KINETIC.search(detail)
            if m:
                proc["kinetic"] = {"runtime_s": parse_time_s(m.group(1)), "interval_s": parse_time_s(m.group(2)),
                                   "reads": int(m.group(3))}
        if key == "" and detail:
            m = _SCAN.match(detail)
            if m:
                proc["scans"].append(tuple(float(g) for g in m.groups()[1:]))
            m = _WAVELENGTHS.match(detail)
            if m:
                proc["absorbance_nm"] += [float(w) for w in re.findall(r"\d+(?:\.\d+)?", m.group(1))]
            m = _FILTER.search(detail)
            if m:
                proc["filter_sets"].append((float(m.group(1)), float(m.group(2))))
    proc["read_steps"] = steps
    proc["read_types"] = [s["type"] or s["label"] for s in steps]
    return proc


def read_gen5_spectra(path, *, read_type: str | None = "Fluorescence Spectrum") -> Gen5Spectra:
    """Parse a Gen5 spectrum export (ours, tab or csv, or Gen5's own) into a ``Gen5Spectra``.

    ``read_type``: the procedure's read type to require (``None`` accepts any spectrum export). Raises
    ``Gen5FormatError`` naming the file, line and field on anything unexpected.
    """
    name, text = read_export_text(path)
    rows = _split(text, name)

    def cell(i: int, j: int) -> str:
        return rows[i][j] if j < len(rows[i]) else ""

    def blank(i: int) -> bool:
        return not any(c.strip() for c in rows[i])

    metadata: dict[str, str] = {}
    proc_start = None
    for i, cells in enumerate(rows):
        if cells[0] in HEADER_KEYS:
            metadata[cells[0].rstrip(":")] = cells[1] if len(cells) > 1 else ""
        if cells[0] == "Procedure Details":
            proc_start = i
            break
    if proc_start is None:
        raise Gen5FormatError(f"{name}: no 'Procedure Details' line; expected a Gen5 export header")

    # spectrum sections: a title line, blank line(s), then a header whose first cell is 'Wavelength'
    sections: list[tuple[str, int]] = []
    results_at = None
    for i in range(proc_start + 1, len(rows)):
        first = rows[i][0]
        if first == "Results" and not any(rows[i][1:]):
            results_at = i
        if first and not blank(i) and not any(rows[i][1:]):
            k = i + 1
            while k < len(rows) and blank(k):
                k += 1
            if k < len(rows) and "Wavelength" in (cell(k, 0), cell(k, 1)) and first != "Results":
                sections.append((first, k))
    end_of_procedure = sections[0][1] - 2 if sections else (results_at or len(rows))
    procedure = parse_procedure([r for r in rows[proc_start + 1:end_of_procedure] if any(c.strip() for c in r)])
    if not sections:
        firsts = {c for r in rows[proc_start:] for c in r[:2]}
        found = "kinetic (Time)" if "Time" in firsts else "plate-map (1..12)" if "1" in firsts else "no"
        raise Gen5FormatError(f"{name}: expected spectrum data sections (a 'Wavelength' table); the file holds "
                              f"{found} tables (read types {procedure['read_types'] or 'unknown'})")
    if read_type is not None and read_type not in procedure["read_types"]:
        raise Gen5FormatError(f"{name}: expected read type {read_type!r}, the procedure has "
                              f"{procedure['read_types'] or 'no Read step'}")

    if read_type == "Fluorescence Spectrum":  # a run that also read absorbance: keep its emission sections
        em = [sec for sec in sections if sec[0] == "EM Spectrum" or sec[0].endswith(":EM Spectrum")]
        sections = em or sections
    wavelength = None
    tables, wells_seen = [], []
    for title, header_at in sections:
        shift = 1 if cell(header_at, 0) == "" else 0
        header = rows[header_at][1 + shift:]
        values, flags, wl = [], [], []
        i = header_at + 1
        while i < len(rows) and not blank(i):
            raw_wl = cell(i, shift)
            try:
                wl.append(float(raw_wl))
            except ValueError:
                raise Gen5FormatError(f"{name} line {i + 1}: section {title!r}: wavelength {raw_wl!r} is not a "
                                      f"number") from None
            row_vals, row_flags = [], []
            for j, well in enumerate(header):
                text = cell(i, j + 1 + shift).strip()
                try:
                    value, flag = parse_cell(text, times=False)
                except ValueError:
                    raise Gen5FormatError(f"{name} line {i + 1}: section {title!r}, well {well}: {text!r} is not a "
                                          f"number or a Gen5 token ({', '.join(sorted(TOKENS))})") from None
                row_vals.append(value)
                row_flags.append(flag == OVERFLOW)
            present = [bool(cell(i, j + 1 + shift).strip()) for j in range(len(header))]
            values.append(row_vals)
            flags.append(row_flags)
            wells_seen.append(present)
            i += 1
        if not wl:
            raise Gen5FormatError(f"{name} line {header_at + 2}: section {title!r} has no wavelength rows")
        wl_arr = np.array(wl)
        if wavelength is None:
            wavelength, header0 = wl_arr, header
        elif not (np.array_equal(wl_arr, wavelength) and header == header0):
            raise Gen5FormatError(f"{name}: section {title!r} has other wavelengths or wells than "
                                  f"{sections[0][0]!r}")
        tables.append((np.array(values, float).T, np.array(flags, bool).T))

    if "emission_step_nm" in procedure:
        start, stop, step = procedure["emission_start_nm"], procedure["emission_stop_nm"], procedure["emission_step_nm"]
        if not 0 < stop - start <= 10_000 * step:
            raise Gen5FormatError(f"{name}: Procedure Details declare emission {start:g}..{stop:g} nm in {step:g} nm "
                                  f"steps, which is no scan")
        declared = emission_grid(start, stop, step)
        if not np.array_equal(declared, wavelength):
            raise Gen5FormatError(
                f"{name}: Procedure Details declare {len(declared)} emission wavelengths "
                f"{declared[0]:g}..{declared[-1]:g} nm, section {sections[0][0]!r} holds {len(wavelength)} "
                f"({wavelength[0]:g}..{wavelength[-1]:g} nm): truncated or edited export")
    read_mask = np.any(np.array(wells_seen, bool), axis=0)
    wells = [w for w, m in zip(header0, read_mask) if m]
    counts = np.stack([t[0][read_mask] for t in tables])
    overflow = np.stack([t[1][read_mask] for t in tables])
    results = _parse_results(rows, results_at, name) if results_at is not None else {}
    return Gen5Spectra(wells, wavelength, counts, overflow, [s[0] for s in sections], metadata, procedure, results)


def export_read_time(spectra: Gen5Spectra) -> datetime | None:
    """When the export's read started, from its header ``Date`` and ``Time`` (local time of the Gen5 PC), or None.

    Gen5 writes ``M/D/YYYY`` and ``h:mm:ss AM/PM`` (every real export seen; a 24-hour ``H:MM:SS`` is read too). A
    date that is not month-first (``13/3/2024``) or any other form gives None: a day-first date is never guessed.
    Spectrum exports carry no per-read times, so a file of several reads has only its experiment's start here.
    """
    date, clock = spectra.metadata.get("Date", "").strip(), spectra.metadata.get("Time", "").strip()
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(f"{date} {clock}", fmt)
        except ValueError:
            continue
    return None


def _parse_results(rows: list[list[str]], at: int, name: str) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    i = at + 1
    while i < len(rows) and not any(c.strip() for c in rows[i]):
        i += 1
    if i >= len(rows):
        return results
    shift = 1 if len(rows[i]) > 1 and rows[i][0] == "" and rows[i][1] == "" else 0
    columns = [c for c in rows[i][1 + shift:] if c]
    row_letter = None
    for k in range(i + 1, len(rows)):
        cells = rows[k][shift:]
        if not any(c.strip() for c in cells):
            break
        row_letter = cells[0] or row_letter
        if row_letter is None or len(cells) < len(columns) + 2:
            raise Gen5FormatError(f"{name} line {k + 1}: Results row has {len(cells)} cells, expected a row letter, "
                                  f"{len(columns)} values and a label")
        label = cells[len(columns) + 1]
        for c, text in zip(columns, cells[1:len(columns) + 1]):
            if text == "":
                continue
            try:
                value, _ = parse_cell(text, times=False)
            except ValueError:
                raise Gen5FormatError(f"{name} line {k + 1}: Results {row_letter}{c} [{label}]: {text!r} is not a "
                                      f"number") from None
            results.setdefault(label, {})[f"{row_letter}{c}"] = value
    return results
