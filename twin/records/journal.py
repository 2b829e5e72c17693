"""A durable, append-only run journal: one JSON line per record, written with ``write`` + ``fsync`` as it happens.

Each line is ``{"rec": {...}, "crc": CRC32}``; ``rec`` carries ``seq`` (0, 1, 2 ...) and ``type`` (``start``,
``plate``, ``event``, ``read``, ``done``).  A crash can leave at most one torn last line (no newline, or a CRC that
does not match); opening the journal cuts it off, as it cuts off a last line that repeats the one before byte for
byte (the same record written twice: nothing is lost by keeping it once).  A damaged or out-of-sequence line
*before* the last is corruption and raises ``JournalError`` rather than being dropped silently; its message says
which lines to keep to resume.

Replay: a journal opened on an existing file holds its records; ``append`` then first *verifies* each new record
against the recorded one at the same position (``ReplayMismatch`` if they differ) and writes only records past the
end.  A twin campaign re-run with the same seed regenerates the same record stream, so resuming is: re-run, verify
the recorded prefix, append the rest -- nothing recorded is lost, nothing is written twice.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path

import numpy as np


class JournalError(ValueError):
    """A journal file that cannot be used: corrupt in the middle, or not a journal."""


class ReplayMismatch(JournalError):
    """A resumed run produced a different record than the one journaled at the same position."""


def _plain(value):
    """JSON-ready copy: numpy to Python, NaN/inf to None (so the canonical text is stable)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def canonical(record: dict) -> str:
    return json.dumps(_plain(record), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _line(record: dict) -> bytes:
    text = canonical(record)
    return ('{"rec":' + text + ',"crc":' + str(zlib.crc32(text.encode())) + "}\n").encode()


def _parse(line: bytes) -> dict | None:
    """The record of one complete line, or None if the line is damaged."""
    try:
        obj = json.loads(line)
        rec, crc = obj["rec"], obj["crc"]
        if not isinstance(rec, dict) or zlib.crc32(canonical(rec).encode()) != crc:
            return None
        return rec
    except (ValueError, KeyError, TypeError):
        return None


def parse_line(line: bytes) -> dict | None:
    """The record of one complete journal line (ending in a newline), or None if it is damaged."""
    return _parse(line)


def read_journal(path: str | Path, repair: bool = False) -> list[dict]:
    """The records of a journal file; a torn last line is ignored (and cut off the file when ``repair``)."""
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    records, good_end, pos, last = [], 0, 0, b""
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        rec = _parse(data[pos:end]) if nl >= 0 else None
        n = len(records) + 1  # the line number
        if rec is None:
            if end < len(data):
                raise JournalError(f"{p}: line {n} is damaged and is not the last line (byte {pos} of "
                                   f"{len(data)}); the journal is corrupt: {_keep_lines(p, n - 1)}")
            break  # a torn tail: the record in flight when the process died
        if rec.get("seq") != len(records):
            if end == len(data) and data[pos:end] == last:
                break  # the last line written twice (a retried append, a copy tool): the same record, kept once
            twice = " (a copy of line {})".format(n - 1) if data[pos:end] == last else ""
            raise JournalError(f"{p}: line {n}{twice} has seq {rec.get('seq')!r}, expected {len(records)}: the "
                               f"journal was edited, or two processes wrote it; {_keep_lines(p, n - 1)}")
        records.append(rec)
        last = data[pos:end]
        good_end = pos = end
    if repair and good_end < len(data):
        with open(p, "r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return records


def _keep_lines(p: Path, good: int) -> str:
    """What to do with a journal whose line ``good + 1`` is wrong: keep its good lines, resume again."""
    return (f"keep a copy of it, keep its first {good} lines (`head -n {good} {p.name} > {p.name}.good && mv "
            f"{p.name}.good {p.name}` in {p.parent}) and run `larp-twin resume {p.parent}` again (a twin run "
            f"re-creates what follows; a lab run keeps the reads of those lines only)")


class Journal:
    """Append-only, fsynced record stream of one run; see the module docstring for replay."""

    def __init__(self, path: str | Path, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        new = not self.path.exists()
        self.recorded: list[dict] = read_journal(self.path, repair=True)
        self.cursor = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new and fsync:  # make the file's directory entry durable too
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.recorded)

    def append(self, type: str, **payload) -> bool:
        """Record one item; True if written now, False if it was already recorded (and matched)."""
        rec = _plain({"seq": self.cursor, "type": type, **payload})
        if self.cursor < len(self.recorded):
            old = self.recorded[self.cursor]
            if canonical(old) != canonical(rec):
                raise ReplayMismatch(f"{self.path}: record {self.cursor} differs on replay: journaled "
                                     f"{canonical(old)[:160]} vs now {canonical(rec)[:160]}")
            self.cursor += 1
            return False
        data = memoryview(_line(rec))
        try:
            while data:
                data = data[os.write(self._fd, data):]
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:  # a full disk: a torn last line at most, which the next open cuts off
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from exc
        self.recorded.append(rec)
        self.cursor += 1
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def of_type(self, type: str) -> list[dict]:
        return [r for r in self.recorded if r["type"] == type]
