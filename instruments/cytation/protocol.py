"""The Cytation 5 reader's serial protocol: framing, parameter strings, read definitions, data bodies.

Pure functions and small dataclasses, shared by the driver (``driver.py``) and the emulator (``emulator.py``).
Every byte layout here is the one documented in ``docs/cytation_facts.md`` part 1 (as decoded by
PyLabRobot and checked on a real Cytation 5 by agilent-cytation-server):

- a command is one ASCII letter; a reply is ``ACK payload ETX``; a command with a parameter waits for ``ACK``,
  sends the parameter string (ending in ``ETX``) and then reads ``payload ETX``;
- ``D`` read definitions are length-prefixed and end in a two-digit checksum = (sum of the ASCII codes of all
  preceding characters + an empirical per-kind offset) mod 100; the firmware refuses checksums 94..99 (``2D06``);
- a read body is ``01,1,CR hhh:mm:ss.s,TTT,`` then ``RR,CC,value`` triples in serpentine order (plate rows
  separated by ``CR LF ,``), then ``CR LF TTT SUB NNN SUB status ETX``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from instruments.errors import ReaderError

ACK = b"\x06"
ETX = b"\x03"
SUB = b"\x1a"

#: commands answered without a parameter string / that take one.
NO_PARAM_COMMANDS = frozenset("eChJAOx")
PARAM_COMMANDS = frozenset("ygt&iDY")

STATUS_OK = "0000"
#: carrier (tray) motion complete; ``A`` (tray in) answers this instead of 0000.
STATUS_MOTION_DONE = "5A00"
#: read refused ("assay definition not set"); real units answer it for D checksums 94..99.
STATUS_READ_REFUSED = "2D06"
#: ASSUMED codes, not observed on a real unit: the emulator answers them and the driver maps them to typed errors.
#: The real firmware's answer to a read with the tray out or an out-of-range wavelength is not documented.
STATUS_TRAY_OUT_ASSUMED = "2C01"
STATUS_WAVELENGTH_ASSUMED = "2C02"

#: checksums a Cytation 5 (firmware 2.09) refuses with 2D06 (agilent-cytation-server, BENCH_2026-09-22).
REFUSED_CHECKSUMS = frozenset(range(94, 100))

#: empirical checksum offsets per read kind (PyLabRobot: "don't know why +7").
CHECKSUM_OFFSET = {"absorbance": 0, "fluorescence": 7, "luminescence": 8, "shake": 73}

#: opaque constant digits of the D frames (copied from Gen5 traffic by PyLabRobot; meaning unknown).
_ABS_MIDDLE = "000120010000110010000010600008"
_FL_MIDDLE = "0001200100001100100000135000100200200"
_FL_TAIL = "000000000000000000210011"

#: the firmware's reply to an accepted D frame (undecoded 37-character block).
D_ACK_BLOCK = "0350000000000000010000000000490300000"

#: wire limits (PyLabRobot's BioTek limits; Cytation 5 emission ceiling 700 nm).
FLUORESCENCE_RANGE_NM = (250, 700)
ABSORBANCE_RANGE_NM = (230, 999)
FOCAL_HEIGHT_RANGE_MM = (4.5, 13.88)

OVERRANGE = "*******"


class ProtocolError(ReaderError):
    """A reply that does not follow the framing: garbled, truncated, or of the wrong shape."""


class LinkTimeout(ReaderError):
    """The reader did not answer (or did not finish answering) in time."""


class StatusError(ReaderError):
    """The reader answered with a status word other than the one expected."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


# -- framing ------------------------------------------------------------------------------------------------------
def encode_reply(payload: str) -> bytes:
    """``ACK payload ETX`` (what the reader sends)."""
    return ACK + payload.encode("ascii") + ETX


def decode_reply(raw: bytes, command: str = "?") -> str:
    """Payload of an ``ACK payload ETX`` reply; raises ProtocolError naming the command and the bytes."""
    if not raw.startswith(ACK) or not raw.endswith(ETX):
        raise ProtocolError(f"reply to {command!r} is not ACK...ETX framed: {raw[:60]!r}")
    try:
        return raw[1:-1].decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"reply to {command!r} is not ASCII: {raw[:60]!r}") from None


def status_of(payload: str) -> str:
    """The trailing 4-character status word of a payload (``''`` when the payload is shorter)."""
    return payload[-4:] if len(payload) >= 4 else ""


# -- simple parameters and replies --------------------------------------------------------------------------------
def parse_firmware(payload: str) -> str:
    """``'1650200  Version 1.04   0000'`` -> ``'1.04'``."""
    tokens = payload.split()
    if "Version" not in tokens or tokens.index("Version") + 1 >= len(tokens):
        raise ProtocolError(f"firmware reply has no 'Version <n>': {payload!r}")
    return tokens[tokens.index("Version") + 1]


def parse_serial_number(payload: str) -> str:
    """``'00000000        0000'`` -> ``'00000000'``."""
    tokens = payload.split()
    if len(tokens) < 2 or tokens[-1] != STATUS_OK:
        raise ProtocolError(f"serial-number reply is not '<serial> 0000': {payload!r}")
    return tokens[0]


def parse_temperature(payload: str) -> float:
    """``'2360000'`` (°C x 100 000, 7 digits) -> 23.6."""
    if not re.fullmatch(r"\d{7}", payload):
        raise ProtocolError(f"temperature reply is not 7 digits (°C x 100000): {payload!r}")
    return int(payload) / 100_000


def format_temperature(celsius: float | None) -> str:
    """``g`` set-point: 5 digits °C x 1000 (37 -> '37000'); None -> '00000' (stop heating/cooling)."""
    if celsius is None:
        return "00000"
    value = round(celsius * 1000)
    if not 0 <= value <= 99_999:
        raise ReaderError(f"temperature set-point {celsius!r} °C does not fit the 5-digit field (0..99.999)")
    return f"{value:05d}"


def parse_set_point(param: str) -> float | None:
    if not re.fullmatch(r"\d{5}", param):
        raise ProtocolError(f"set-point parameter is not 5 digits: {param!r}")
    return None if param == "00000" else int(param) / 1000


def format_optics_height(height_mm: float, kind: str = "fluorescence") -> str:
    """``t`` parameter: '6' (fluorescence) or '3' (luminescence) + 5 digits = 14220 + 1000 x mm (7.5 -> '621720')."""
    lo, hi = FOCAL_HEIGHT_RANGE_MM
    if not lo <= height_mm <= hi:
        raise ReaderError(f"read height {height_mm!r} mm is outside the Cytation's {lo}..{hi} mm")
    prefix = {"fluorescence": "6", "luminescence": "3"}[kind]
    return f"{prefix}{round(14_220 + 1000 * height_mm):05d}"


@dataclass(frozen=True)
class PlateGeometry:
    """Fields of the ``y`` command, lengths in mm (y measured from the plate's row-A edge)."""

    rows: int
    columns: int
    a1_y_mm: float
    last_y_mm: float
    a1_x_mm: float
    last_x_mm: float
    size_y_mm: float
    size_x_mm: float
    height_mm: float

    @classmethod
    def sbs(cls, rows: int, columns: int, height_mm: float = 14.22) -> "PlateGeometry":
        """A standard SBS plate (96: 9 mm pitch, 384: 4.5 mm) of 127.76 x 85.48 mm."""
        pitch = {96: 9.0, 384: 4.5}.get(rows * columns)
        if pitch is None:
            raise ReaderError(f"no standard geometry for a {rows}x{columns} plate")
        a1_x, a1_y = (14.38, 11.24) if pitch == 9.0 else (12.13, 8.99)
        return cls(rows, columns, a1_y, a1_y + pitch * (rows - 1), a1_x, a1_x + pitch * (columns - 1),
                   85.48, 127.76, height_mm)

    def encode(self) -> str:
        def mm(v: float, width: int = 5) -> str:
            return f"{round(v * 100):0{width}d}"

        return (f"{self.rows:02d}{self.columns:02d}{mm(self.a1_y_mm)}{mm(self.last_y_mm)}{mm(self.a1_x_mm)}"
                f"{mm(self.last_x_mm)}{mm(self.size_y_mm)}{mm(self.size_x_mm)}{mm(self.height_mm, 4)}")

    @classmethod
    def decode(cls, param: str) -> "PlateGeometry":
        if not re.fullmatch(r"\d{38}", param):
            raise ProtocolError(f"plate geometry is not 38 digits: {param!r}")
        f = [int(param[i:j]) for i, j in [(0, 2), (2, 4), (4, 9), (9, 14), (14, 19), (19, 24), (24, 29),
                                          (29, 34), (34, 38)]]
        return cls(f[0], f[1], *(v / 100 for v in f[2:]))


# -- read definitions (D) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """A rectangle of wells, 1-based inclusive rows/columns (the firmware reads rectangles only)."""

    min_row: int
    min_col: int
    max_row: int
    max_col: int

    def encode(self) -> str:
        return f"{self.min_row:02d}{self.min_col:02d}{self.max_row:02d}{self.max_col:02d}"

    @classmethod
    def decode(cls, text: str) -> "Region":
        if not re.fullmatch(r"\d{8}", text):
            raise ProtocolError(f"read region is not 8 digits: {text!r}")
        region = cls(int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:8]))
        if not (1 <= region.min_row <= region.max_row and 1 <= region.min_col <= region.max_col):
            raise ProtocolError(f"read region {text!r} is empty or not 1-based")
        return region

    @property
    def n_wells(self) -> int:
        return (self.max_row - self.min_row + 1) * (self.max_col - self.min_col + 1)

    def serpentine(self) -> list[tuple[int, int]]:
        """(row, col) in the order the reader reports them: first row left->right, next right->left, ..."""
        cols = list(range(self.min_col, self.max_col + 1))
        order = []
        for k, row in enumerate(range(self.min_row, self.max_row + 1)):
            order += [(row, c) for c in (cols if k % 2 == 0 else cols[::-1])]
        return order


def checksum(text: str, kind: str) -> int:
    """Two-digit D-frame checksum: (sum of ASCII codes of ``text`` + offset of ``kind``) mod 100."""
    return (sum(text.encode("ascii")) + CHECKSUM_OFFSET[kind]) % 100


def _with_length_and_checksum(body: str, kind: str) -> str:
    length = len(body) + 2  # characters after the length field, checksum included
    text = f"{length:04d}{body}"
    return f"{text}{checksum(text, kind):02d}"


def fluorescence_definition(region: Region, excitation_nm: int, emission_nm: int) -> str:
    """``D`` parameter (without the ETX) for one single-wavelength fluorescence read of ``region``."""
    return _with_length_and_checksum(
        f"01{region.encode()}{_FL_MIDDLE}{excitation_nm:04d}000{emission_nm:04d}{_FL_TAIL}", "fluorescence")


def absorbance_definition(region: Region, wavelength_nm: int) -> str:
    """``D`` parameter (without the ETX) for one single-wavelength absorbance read of ``region``."""
    return _with_length_and_checksum(f"01{region.encode()}{_ABS_MIDDLE}{wavelength_nm:04d}1", "absorbance")


def definition_checksum(definition: str) -> int:
    return int(definition[-2:])


@dataclass(frozen=True)
class ReadDefinition:
    """A decoded ``D`` frame."""

    kind: str
    region: Region
    checksum: int
    excitation_nm: int | None = None
    emission_nm: int | None = None
    wavelength_nm: int | None = None


def parse_definition(frame: str) -> ReadDefinition:
    """Decode a fluorescence or absorbance ``D`` parameter (ETX stripped); ProtocolError on any mismatch."""
    if not re.fullmatch(r"\d{4}\d+", frame):
        raise ProtocolError(f"read definition is not all digits with a 4-digit length: {frame[:40]!r}")
    length = int(frame[:4])
    if length != len(frame) - 4:
        raise ProtocolError(f"read definition length field says {length}, {len(frame) - 4} characters follow")
    body, ck = frame[4:-2], int(frame[-2:])
    region = Region.decode(body[2:10])
    rest = body[10:]
    if rest.startswith(_FL_MIDDLE) and rest.endswith(_FL_TAIL) and len(rest) == len(_FL_MIDDLE) + 11 + len(_FL_TAIL):
        spec = rest[len(_FL_MIDDLE):-len(_FL_TAIL)]
        kind, fields = "fluorescence", {"excitation_nm": int(spec[0:4]), "emission_nm": int(spec[7:11])}
    elif rest.startswith(_ABS_MIDDLE) and len(rest) == len(_ABS_MIDDLE) + 5 and rest.endswith("1"):
        kind, fields = "absorbance", {"wavelength_nm": int(rest[len(_ABS_MIDDLE):-1])}
    else:
        raise ProtocolError(f"read definition is neither the fluorescence nor the absorbance template: {frame!r}")
    expected = checksum(frame[:-2], kind)
    if ck != expected:
        raise ProtocolError(f"read definition checksum {ck:02d} != computed {expected:02d} ({kind})")
    return ReadDefinition(kind, region, ck, **fields)


# -- data body ---------------------------------------------------------------------------------------------------
def format_rfu(value: float) -> str:
    """Counts as the 7-digit field; NaN, negative-infinite or > 9 999 999 -> ``*******``."""
    if value is None or not math.isfinite(value) or value > 9_999_999:
        return OVERRANGE
    return f"{max(int(round(value)), 0):07d}"


def format_od(value: float) -> str:
    """OD as ``+0.1917``; NaN -> ``*******``."""
    if value is None or not math.isfinite(value):
        return OVERRANGE
    return f"{value:+.4f}"


def encode_body(region: Region, values: dict[tuple[int, int], str], *, elapsed: str = "000:00:00.0",
                field: int = 228, trailer: int = 41, status: str = STATUS_OK) -> bytes:
    """Data body of one read of ``region``; ``values[(row, col)]`` holds the formatted field of each well."""
    rows: dict[int, list[str]] = {}
    for row, col in region.serpentine():
        rows.setdefault(row, []).append(f"{row:02d},{col:02d},{values[(row, col)]}")
    table = "\r\n,".join(",".join(triples) for triples in rows.values())
    text = f"01,1,\r{elapsed},{field:03d},{table}\r\n{field:03d}\x1a{trailer:03d}\x1a{status}\x03"
    return text.encode("ascii")


@dataclass(frozen=True)
class Body:
    """A decoded read body: values by 1-based (row, col); NaN for ``*******``."""

    values: dict[tuple[int, int], float]
    field: str
    trailer: str
    status: str


_BODY_RE = re.compile(r"01,1,\r(\d{3}:\d{2}:\d{2}\.\d),(\d{3}),(.*)\r\n(\d{3})\x1a(\d{3})\x1a(\w{4})\x03", re.S)


def parse_body(raw: bytes) -> Body:
    """Decode a read body (header, serpentine triples, trailer); ProtocolError naming what is wrong."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"read body is not ASCII: {raw[:60]!r}") from None
    m = _BODY_RE.fullmatch(text)
    if not m:
        raise ProtocolError(f"read body does not match '01,1,CR time,TTT,triples CRLF TTT SUB NNN SUB status ETX': "
                            f"{raw[:50]!r}...{raw[-20:]!r}")
    _, field, table, field2, trailer, status = m.groups()
    tokens = table.replace("\r\n,", ",").split(",")
    if len(tokens) % 3:
        raise ProtocolError(f"read body holds {len(tokens)} fields, not row,col,value triples")
    values = {}
    for i in range(0, len(tokens), 3):
        r, c, v = tokens[i:i + 3]
        if not (r.isdigit() and c.isdigit()):
            raise ProtocolError(f"read body triple {i // 3} has a bad row/column: {r!r},{c!r}")
        try:
            values[(int(r), int(c))] = math.nan if v == OVERRANGE else float(v)
        except ValueError:
            raise ProtocolError(f"read body value of row {r} column {c} is not a number: {v!r}") from None
    return Body(values, field, trailer, status)


# -- well sets as rectangles ---------------------------------------------------------------------------------------
def cover_with_rectangles(cells: Iterable[tuple[int, int]]) -> list[Region]:
    """Greedy non-overlapping rectangles covering a set of 1-based (row, col) cells (row-major seed order)."""
    todo = set(cells)
    regions = []
    for row, col in sorted(todo):
        if (row, col) not in todo:
            continue
        max_col = col
        while (row, max_col + 1) in todo:
            max_col += 1
        max_row = row
        while all((max_row + 1, c) in todo for c in range(col, max_col + 1)):
            max_row += 1
        region = Region(row, col, max_row, max_col)
        todo -= set(region.serpentine())
        regions.append(region)
    return regions


def grown_regions(region: Region, rows: int, columns: int, max_steps: int = 8) -> list[Region]:
    """Rectangles that contain ``region`` and fit the plate, smallest first (padding candidates for the 94..99 rule)."""
    seen = {region}
    frontier = [region]
    out = []
    for _ in range(max_steps):
        nxt = []
        for r in frontier:
            for g in (Region(r.min_row, r.min_col, r.max_row, r.max_col + 1),
                      Region(r.min_row, r.min_col, r.max_row + 1, r.max_col),
                      Region(r.min_row, r.min_col - 1, r.max_row, r.max_col),
                      Region(r.min_row - 1, r.min_col, r.max_row, r.max_col)):
                if g in seen or g.min_row < 1 or g.min_col < 1 or g.max_row > rows or g.max_col > columns:
                    continue
                seen.add(g)
                nxt.append(g)
        nxt.sort(key=lambda g: g.n_wells)
        out += nxt
        frontier = nxt
    return sorted(out, key=lambda g: g.n_wells)
