"""Gen5 folder mode: a ``PlateReader`` backend for a lab PC where Gen5 drives the Cytation and exports each read.

Gen5 runs the kinetic PL-spectrum protocol and writes one export per read into a folder (Gen5's "File Export" on
each read, or a script that exports after every read). ``Gen5FolderReader`` turns those files into reads: each
``read_pl`` waits for the next new export, parses it with ``read_gen5_spectra`` (fluorescence spectrum required),
checks that it holds the wells, wavelengths, excitation and gain asked for, and returns its counts.

- Waiting polls the folder every ``poll_s`` and gives up after ``timeout_s`` (``Gen5FolderTimeout``, naming the
  folder and the last export taken; ``twin.campaign`` then ends the run early and keeps the reads, ``twin.early``).
  A file counts as complete once its size and modification time stay unchanged for ``settle_s`` (Gen5 may still
  be writing it). Files are taken oldest first (modification time, then name); a file still being written holds
  back no other.
- A file is known by its *signature* (size, modification time). What is not a good export is skipped with one
  ``note`` naming it (a ``Gen5FolderNote`` warning) and looked at again whenever its signature changes: an empty
  file (0 bytes, blank or NUL bytes), a foreign one (``notes.txt``, ``photo.csv``: no Gen5 header), one that ends
  mid-line (Gen5 still writing, or cut off), one Gen5's parser refuses (another read type, a truncated table), and
  a byte-identical copy of an export already taken. None of them blocks the exports after it.
- Files present when the reader starts (written before ``since_wall_s``, by default the reader's creation) are
  listed in one note and ignored while they stay as they are; one that changes later, or that was written after
  ``since_wall_s`` (an export that arrived while larp-twin was starting), is new. ``include_existing`` takes them
  all (exports copied off the Gen5 PC; those already untouched for ``settle_s`` are taken at once).
- A file already taken as a read is never taken again, nor after a restart: ``resume_after`` skips the reads'
  files and the files refused when the run ended early (while unchanged), and takes those written meanwhile.
- Read times: each read is timed by its export's own ``Date``/``Time`` (``gen5.export_read_time``: Gen5 writes
  when the read started) until the export was written (its modification time); an export without them (or one
  holding several reads, whose ``Date``/``Time`` is the experiment's start, or one with the same ``Date``/``Time``
  as the previous read) is timed by its arrival (modification time). Read 1 is placed where the campaign's clock
  has it (the twin's model: the plate goes on the reader after preparation); every later read follows it by the
  difference of their own times, so exports written 12 s apart are 12 s apart whatever the schedule says.
- The campaign's clock follows the schedule, not the wait: a read takes no campaign time (the wait for an export,
  a timeout neither), so a run takes exactly the reads planned whatever Gen5's pace, and one resumed after an
  early end continues at the slot it stopped at (``twin.records.resume`` does not count these reads' own times
  as campaign time).
- A file with several ``Read N:EM Spectrum`` sections (an export of the whole experiment so far) gives its last read.
- A good Gen5 export that does not match the request (other wavelengths, excitation, gain, wells) raises
  ``Gen5FolderError`` naming the file and the setting: Gen5's protocol must be fixed, so the run ends (early, with
  its reads kept); the file is set aside in ``rejected``. Reads already received stay in ``received``.
- Gen5 owns the instrument: tray moves are no-ops (the operator or Gen5 moves the plate), the incubator and
  absorbance reads are refused with an error that says to set them in the Gen5 protocol.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from instruments.cytation.gen5 import Gen5FormatError, Gen5Spectra, export_read_time, read_gen5_spectra
from instruments.errors import ReaderError, UsageError
from instruments.reader import PlateReader

#: a read's own start (Date/Time) and end (the export's modification time) further apart than this are not one scan
MAX_SCAN_S = 6 * 3600.0
#: a file larger than this is skipped unread (the Gen5 readers' own cap: a 12 h export of 384 wells is ~40 MB)
MAX_FILE_BYTES = 200_000_000


class Gen5FolderError(ReaderError):
    """An export that does not match the read asked for, or an operation Gen5 owns."""


class Gen5FolderTimeout(Gen5FolderError):
    """No new export arrived in time."""


class Gen5FolderNote(UserWarning):
    """A file in the export folder that was skipped (empty, foreign, incomplete, a copy) or left as it was."""


@dataclass(frozen=True)
class ReceivedExport:
    """One export taken as a read: its file, what it held, the wall time it was taken (s since the epoch), its
    bytes' SHA-256 and the read's own wall times (start, end: see the module docstring)."""

    path: Path
    spectra: Gen5Spectra
    taken_at: float
    sha256: str = ""
    start_wall_s: float | None = None
    end_wall_s: float | None = None


def _signature(st) -> tuple[int, int]:
    return (int(st.st_size), int(st.st_mtime_ns))


def _first_line(raw: bytes) -> str:
    head = raw[:4096].removeprefix(b"\xef\xbb\xbf").decode("cp1252", errors="replace")
    # blank lines of Gen5's comma layout are rows of commas
    return next((line.strip() for line in head.splitlines() if line.strip().strip(",").strip()), "")


def _few(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


class Gen5FolderReader(PlateReader):
    """PL emission scans from the exports Gen5 writes into ``folder``, one export per read.

    Parameters: ``folder`` watched; ``patterns`` file globs (default ``*.txt`` and ``*.csv``); ``timeout_s`` to wait
    for one export; ``poll_s`` between looks at the folder; ``settle_s`` a file must stay unchanged to count as
    complete; ``include_existing`` take files already there; ``check_gain`` refuse an export whose protocol gain
    differs from the requested one; ``since_wall_s`` files written before this Unix time are not the run's (default:
    now; ``larp-twin run`` passes the moment the command started).
    """

    def __init__(self, clock, folder, *, patterns: Sequence[str] = ("*.txt", "*.csv"), timeout_s: float = 3600.0,
                 poll_s: float = 1.0, settle_s: float = 2.0, include_existing: bool = False,
                 check_gain: bool = True, since_wall_s: float | None = None):
        super().__init__(clock)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise Gen5FolderError(f"Gen5 export folder {self.folder} does not exist or is not a folder")
        if timeout_s <= 0 or poll_s <= 0 or settle_s < 0:
            raise UsageError(f"timeout_s ({timeout_s}) and poll_s ({poll_s}) must be > 0, settle_s ({settle_s}) >= 0")
        self.patterns = tuple(patterns)
        self.timeout_s, self.poll_s, self.settle_s = float(timeout_s), float(poll_s), float(settle_s)
        self.check_gain = check_gain
        self.include_existing = include_existing
        self.since_wall_s = time.time() if since_wall_s is None else float(since_wall_s)
        self.received: list[ReceivedExport] = []
        self.rejected: list[tuple[Path, str]] = []
        #: the signature (size, mtime_ns) of each rejected file when it was refused (journaled by an early end)
        self.rejected_signatures: dict[str, tuple[int, int]] = {}
        #: files skipped (empty, foreign, incomplete, a copy): (path, why), in the order they were met
        self.skipped: list[tuple[Path, str]] = []
        self._taken: set[str] = set()  # files taken as reads: never again
        self._digests: dict[str, str] = {}  # SHA-256 of a read's bytes -> its file
        self._left: dict[str, tuple[int, int]] = {}  # file -> the signature it is left alone at (skipped, existing)
        self._stats: dict[str, tuple[int, int, float]] = {}
        self._copied: set[str] = set()  # there before the reader and taken: complete once untouched for settle_s
        self._anchor: tuple[float, float] | None = None  # (own wall time, campaign s) of read 1
        self._last_dated: tuple[float, str] | None = None  # the last export's Date/Time (Unix s) and file
        self._snapshot()

    # -- the folder -----------------------------------------------------------------------------------------------
    def _candidates(self) -> list[tuple[Path, tuple[int, int]]]:
        found = {p for pattern in self.patterns for p in self.folder.glob(pattern)}
        out = []
        for p in found:
            try:
                st = p.stat()
            except OSError:  # removed between listing and stat
                continue
            if p.is_file():
                out.append((p, _signature(st)))
        return sorted(out, key=lambda item: (item[1][1], item[0].name))

    def _snapshot(self) -> None:
        """Note the files there before the run; ignore them while unchanged (unless ``include_existing``)."""
        present = self._candidates()
        if self.include_existing:
            self._copied = {p.name for p, _ in present}
            if present:
                self._note(f"{self.folder}: taking the {len(present)} file(s) already there as exports, oldest "
                           f"first (--include-existing): {_few([p.name for p, _ in present])}")
            return
        old = [(p, sig) for p, sig in present if sig[1] / 1e9 < self.since_wall_s]
        self._left.update({p.name: sig for p, sig in old})
        if old:
            self._note(f"{self.folder}: {len(old)} file(s) already there before the run are not taken as its reads "
                       f"(--include-existing takes them; one that changes is taken as new): "
                       f"{_few([p.name for p, _ in old])}")

    def _note(self, text: str) -> None:
        warnings.warn(f"gen5-folder: {text}", Gen5FolderNote, stacklevel=3)

    def _skip(self, path: Path, sig: tuple[int, int], why: str) -> None:
        self._left[path.name] = sig
        self.skipped.append((path, why))
        self._record("gen5_file_skipped", file=path.name, reason=why)
        self._note(f"skipped {path.name} in {self.folder}: {why}; it does not hold up later exports and is looked "
                   f"at again if it changes")

    def _stable(self, path: Path, sig: tuple[int, int]) -> bool:
        """True once ``path`` has kept its size and mtime for ``settle_s`` of wall time."""
        now = time.perf_counter()
        if path.name in self._copied and time.time() - sig[1] / 1e9 >= self.settle_s:
            return True  # an export copied in before the run, untouched since: no need to watch it settle
        previous = self._stats.get(path.name)
        if previous is None or previous[:2] != sig:
            self._stats[path.name] = (*sig, now)
            return False
        return now - previous[2] >= self.settle_s

    def _examine(self, path: Path, sig: tuple[int, int]):
        """(spectra, sha256) of a good export, or None (skipped with a note, or changed while being read)."""
        if sig[0] > MAX_FILE_BYTES:
            self._skip(path, sig, f"{sig[0]:,} bytes, too large for a Gen5 export (at most {MAX_FILE_BYTES:,})")
            return None
        try:
            raw = path.read_bytes()
        except OSError:  # locked by Gen5 or removed: look again next time
            return None
        if not raw.strip() or not raw.strip(b"\x00"):
            self._skip(path, sig, f"it is empty ({len(raw)} bytes{', blank' if raw else ''}), not a Gen5 export yet")
            return None
        digest = hashlib.sha256(raw).hexdigest()
        if digest in self._digests:
            self._skip(path, sig, f"a byte-identical copy of {self._digests[digest]}, already taken: not a new read")
            return None
        first = _first_line(raw)
        if not first.startswith("Software Version"):
            self._skip(path, sig, f"not a Gen5 export (it starts {first[:40]!r}; a Gen5 export starts with a "
                                  f"'Software Version' line)")
            return None
        if not raw.endswith(b"\n"):
            self._skip(path, sig, "it ends mid-line: Gen5 is still writing it, or the write was cut off")
            return None
        try:
            spectra = read_gen5_spectra(path)
            now_sig = _signature(path.stat())
        except Gen5FormatError as exc:
            self._skip(path, sig, f"Gen5's export parser refuses it ({exc})")
            return None
        except OSError:
            return None
        if now_sig != sig:  # rewritten while it was read: settle again
            return None
        return spectra, digest

    def _next_export(self, deadline: float):
        while True:
            waiting = []
            for path, sig in self._candidates():
                name = path.name
                if name in self._taken or self._left.get(name) == sig:
                    continue
                if not self._stable(path, sig):
                    waiting.append(name)
                    continue
                found = self._examine(path, sig)
                if found is not None:
                    return path, sig, *found
            if time.perf_counter() >= deadline:
                still = f"; {_few(waiting, 3)} still being written" if waiting else ""
                skipped = sorted({p.name for p, _ in self.skipped if p.name not in self._taken})
                skipped = f"; skipped: {_few(skipped, 3)}" if skipped else ""
                last = f" (last export taken: {self.received[-1].path.name})" if self.received else ""
                raise Gen5FolderTimeout(f"no new Gen5 export ({', '.join(self.patterns)}) in {self.folder} within "
                                        f"{self.timeout_s:g} s{last}{still}{skipped}")
            time.sleep(self.poll_s)

    def _counts(self, path: Path, spectra: Gen5Spectra, names: list[str], excitation_nm: float,
                wavelength_nm: np.ndarray, gain: int) -> np.ndarray:
        got = spectra.wavelength_nm
        if len(got) != len(wavelength_nm) or not np.allclose(got, wavelength_nm, atol=1e-6):
            raise Gen5FolderError(
                f"{path.name}: the export holds emission {got[0]:g}..{got[-1]:g} nm ({len(got)} points), the read "
                f"asked for {wavelength_nm[0]:g}..{wavelength_nm[-1]:g} nm ({len(wavelength_nm)} points); check "
                f"the Gen5 protocol's Emission Start/Stop/Step")
        ex = spectra.procedure.get("excitation_nm")
        if ex is not None and abs(ex - excitation_nm) > 1e-6:
            raise Gen5FolderError(f"{path.name}: the export was excited at {ex:g} nm, the read asked for "
                                  f"{excitation_nm:g} nm")
        file_gain = str(spectra.procedure.get("gain", ""))
        if self.check_gain and file_gain.isdigit() and int(file_gain) != gain:
            raise Gen5FolderError(f"{path.name}: the export was read at gain {file_gain}, the read asked for gain "
                                  f"{gain}")
        missing = [w for w in names if w not in spectra.wells]
        if missing:
            raise Gen5FolderError(f"{path.name}: wells {missing[:8]}{'...' if len(missing) > 8 else ''} were asked "
                                  f"for but not read ({len(spectra.wells)} wells in the export)")
        column = {w: k for k, w in enumerate(spectra.wells)}
        return spectra.counts[-1][[column[w] for w in names]].copy()

    def _own_times(self, path: Path, spectra: Gen5Spectra, mtime_s: float) -> tuple[float, float]:
        """The read's own (start, end) wall times: its export's Date/Time to its writing, else its arrival."""
        when = export_read_time(spectra) if spectra.n_reads == 1 else None
        if when is not None:
            start = when.timestamp()  # the Gen5 PC's local time: this computer's time zone is taken for it
            previous, self._last_dated = self._last_dated, (start, path.name)
            if previous is not None and previous[0] == start:
                self._note(f"{path.name} has the same Date/Time as {previous[1]} ({when:%Y-%m-%d %H:%M:%S}): not "
                           f"its own read time; timed by its arrival (modification time) instead")
            else:
                return start, mtime_s if 0.0 <= mtime_s - start <= MAX_SCAN_S else start
        return mtime_s, mtime_s

    # -- restart after a crash or an early end ------------------------------------------------------------------
    def resume_after(self, taken, since_wall_s: float | None, reads=()) -> None:
        """Continue a journaled run: never take the files of its reads again (``taken``: names; an entry
        ``(name, size, mtime_ns)`` is a file refused when the run ended early, skipped while unchanged), take the
        exports Gen5 wrote meanwhile (while larp-twin was down), oldest first, without waiting for them to settle,
        and time the new reads from the first journaled one (``reads``: its ``wall_s`` and ``start_s``).

        Without ``include_existing`` the files older than ``since_wall_s`` (the run's first start) were in the
        folder before the run and stay ignored while unchanged; the newer ones are the run's.
        """
        self._taken, self._left, self._copied = set(), {}, set()
        refused = {}
        for entry in taken:
            if isinstance(entry, str):
                self._taken.add(entry)
            else:
                refused[str(entry[0])] = (int(entry[1]), int(entry[2]))
        if since_wall_s is not None:
            self.since_wall_s = float(since_wall_s)
        for path, sig in self._candidates():
            name = path.name
            if name in self._taken:
                try:  # a copy of a read taken before is no new read either
                    self._digests[hashlib.sha256(path.read_bytes()).hexdigest()] = name
                except OSError:
                    pass
            elif refused.get(name) == sig:
                self._left[name] = sig
            elif not self.include_existing and since_wall_s is not None and sig[1] / 1e9 < since_wall_s:
                self._left[name] = sig  # there before the run started: not one of its exports
            else:
                self._copied.add(name)
        first = next((r for r in reads if getattr(r, "wall_s", None) is not None), None)
        if first is not None:
            self._anchor = (first.wall_s, first.start_s)

    def _last_source(self) -> str | None:
        return self.received[-1].path.name if self.received else None

    # -- hooks ----------------------------------------------------------------------------------------------------
    def _hw_open_tray(self) -> Generator:
        yield self.clock.timeout(0.0)  # Gen5 (or the operator) moves the tray

    def _hw_close_tray(self) -> Generator:
        yield self.clock.timeout(0.0)

    def _hw_set_temperature(self, celsius: float) -> Generator:
        raise Gen5FolderError(f"Gen5 owns the incubator in folder mode: set 'Set Temperature' to {celsius:g} °C in "
                              f"the Gen5 protocol instead")
        yield  # a generator, like every hook

    def _hw_read_absorbance(self, wells: np.ndarray, wavelength_nm: float) -> Generator:
        raise Gen5FolderError("Gen5 folder mode reads PL emission spectra only; add an absorbance step to the Gen5 "
                              "protocol and read its export with read_gen5")
        yield

    def _hw_read_pl(self, wells: np.ndarray, excitation_nm: float, wavelength_nm: np.ndarray,
                    gain: int) -> Generator:
        names = [self.plate.wells[i] for i in wells]
        try:
            path, sig, spectra, digest = self._next_export(time.perf_counter() + self.timeout_s)
        except Gen5FolderTimeout:
            yield self.clock.timeout(0.0)  # the wait is Gen5's, not the campaign's (module docstring)
            raise
        try:
            counts = self._counts(path, spectra, names, excitation_nm, wavelength_nm, gain)
        except Gen5FolderError as exc:
            self.rejected.append((path, str(exc)))
            self.rejected_signatures[path.name] = sig
            self._left[path.name] = sig
            self._record("gen5_export_rejected", file=path.name, error=str(exc))
            yield self.clock.timeout(0.0)  # the wait is Gen5's, not the campaign's (module docstring)
            raise
        self._taken.add(path.name)
        self._digests[digest] = path.name
        start, end = self._own_times(path, spectra, sig[1] / 1e9)
        self.received.append(ReceivedExport(path, spectra, time.time(), digest, start, end))
        self._record("gen5_export", file=path.name, section=spectra.section_names[-1])
        yield self.clock.timeout(0.0)  # the wait is Gen5's, not the campaign's (module docstring)
        return counts

    def read_pl(self, wells=None, **scan) -> Generator:
        """``PlateReader.read_pl``, timed by the export's own times (module docstring), not by the wait for it."""
        read = yield from super().read_pl(wells, **scan)
        got = self.received[-1]
        if self._anchor is None:
            self._anchor = (got.start_wall_s, read.start_s)
        start = self._anchor[1] + (got.start_wall_s - self._anchor[0])
        end = start + (got.end_wall_s - got.start_wall_s)
        return replace(read, start_s=start, end_s=end, wall_s=got.start_wall_s)
