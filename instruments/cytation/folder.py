"""Gen5 folder mode: a ``PlateReader`` backend for a lab PC where Gen5 drives the Cytation and exports each read.

Gen5 runs the kinetic PL-spectrum protocol and writes one export per read into a folder (Gen5's "File Export" on
each read, or a script that exports after every read). ``Gen5FolderReader`` turns those files into reads: each
``read_pl`` waits for the next new export, parses it with ``read_gen5_spectra`` (fluorescence spectrum required),
checks that it holds the wells, wavelengths, excitation and gain asked for, and returns its counts.

- Waiting polls the folder every ``poll_s`` and gives up after ``timeout_s`` (``Gen5FolderTimeout``, naming the
  folder and the last export taken; ``twin.campaign`` then ends the run early and keeps the reads, ``twin.early``). A file counts
  as complete once its size and modification time stay unchanged for ``settle_s`` (Gen5 may still be writing it).
  Files are taken oldest first (modification time, then name); files present when the reader was made are ignored
  unless ``include_existing`` (exports copied off the Gen5 PC; those already untouched for ``settle_s`` by their
  modification time are taken at once). A file already taken is never taken again, nor after a restart:
  ``resume_after`` skips the files a journaled run took and takes those Gen5 wrote while it was down.
- The wall time spent waiting and parsing is measured and yielded as ``clock.timeout(elapsed)``, so virtual time
  follows the lab.
- A file with several ``Read N:EM Spectrum`` sections (an export of the whole experiment so far) gives its last read.
- A truncated export, another read type, another encoding or a file that does not match the request raises a
  ``ReaderError`` (``Gen5FormatError`` or ``Gen5FolderError``) naming the file; the file is set aside in
  ``rejected`` and the next ``read_pl`` continues with the next export. Reads already received stay in ``received``.
- Gen5 owns the instrument: tray moves are no-ops (the operator or Gen5 moves the plate), the incubator and
  absorbance reads are refused with an error that says to set them in the Gen5 protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from instruments.cytation.gen5 import Gen5FormatError, Gen5Spectra, read_gen5_spectra
from instruments.errors import ReaderError, UsageError
from instruments.reader import PlateReader


class Gen5FolderError(ReaderError):
    """An export that does not match the read asked for, or an operation Gen5 owns."""


class Gen5FolderTimeout(Gen5FolderError):
    """No new export arrived in time."""


@dataclass(frozen=True)
class ReceivedExport:
    """One export taken as a read: its file, what it held, and the wall time it was taken (s since the epoch)."""

    path: Path
    spectra: Gen5Spectra
    taken_at: float


class Gen5FolderReader(PlateReader):
    """PL emission scans from the exports Gen5 writes into ``folder``, one export per read.

    Parameters: ``folder`` watched; ``patterns`` file globs (default ``*.txt`` and ``*.csv``); ``timeout_s`` to wait
    for one export; ``poll_s`` between looks at the folder; ``settle_s`` a file must stay unchanged to count as
    complete; ``include_existing`` take files already there; ``check_gain`` refuse an export whose protocol gain
    differs from the requested one.
    """

    def __init__(self, clock, folder, *, patterns: Sequence[str] = ("*.txt", "*.csv"), timeout_s: float = 3600.0,
                 poll_s: float = 1.0, settle_s: float = 2.0, include_existing: bool = False,
                 check_gain: bool = True):
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
        existing = {p.name for p in self._candidates()}
        self.seen: set[str] = set() if include_existing else existing
        #: files that were there before the reader (copied exports): complete once untouched for settle_s
        self._preexisting = existing if include_existing else set()
        self.received: list[ReceivedExport] = []
        self.rejected: list[tuple[Path, str]] = []
        self._stats: dict[str, tuple[int, int, float]] = {}

    # -- the folder -----------------------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        found = {p for pattern in self.patterns for p in self.folder.glob(pattern) if p.is_file()}
        return sorted(found, key=lambda p: p.name)

    def _stable(self, path: Path) -> bool:
        """True once ``path`` has kept its size and mtime for ``settle_s`` of wall time."""
        try:
            st = path.stat()
        except OSError:  # removed or locked between listing and stat
            return False
        now = time.perf_counter()
        key = (st.st_size, st.st_mtime_ns)
        if path.name in self._preexisting and st.st_size > 0 and time.time() - st.st_mtime >= self.settle_s:
            return True  # an export copied in before the run, untouched since: no need to watch it settle
        previous = self._stats.get(path.name)
        if previous is None or previous[:2] != key:
            self._stats[path.name] = (*key, now)
            return False
        return st.st_size > 0 and now - previous[2] >= self.settle_s

    def _next_export(self, deadline: float) -> Path:
        while True:
            new = []
            for p in self._candidates():
                if p.name in self.seen:
                    continue
                try:
                    new.append((p.stat().st_mtime_ns, p.name, p))
                except OSError:
                    continue
            for _, _, path in sorted(new):
                if self._stable(path):
                    return path
                break  # keep the order: wait for the oldest new file to be complete
            if time.perf_counter() >= deadline:
                waiting = f"; {new[0][2].name} is still being written" if new else ""
                last = f" (last export taken: {self.received[-1].path.name})" if self.received else ""
                raise Gen5FolderTimeout(f"no new Gen5 export ({', '.join(self.patterns)}) in {self.folder} within "
                                        f"{self.timeout_s:g} s{last}{waiting}")
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

    # -- restart after a crash or an early end ------------------------------------------------------------------
    def resume_after(self, taken, since_wall_s: float | None) -> None:
        """Continue a journaled run: never take the exports ``taken`` before (read or refused) again, and take the
        exports Gen5 wrote meanwhile (while larp-twin was down), oldest first, without waiting for them to settle.

        Without ``include_existing`` the files older than ``since_wall_s`` (the run's first start) were in the
        folder before the run and stay ignored; the newer ones are the run's.
        """
        taken = set(taken)
        self.seen = set(taken)
        self._preexisting = set()
        for path in self._candidates():
            if path.name in taken:
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if not self.include_existing and since_wall_s is not None and mtime < since_wall_s:
                self.seen.add(path.name)  # there before the run started: not one of its exports
            else:
                self._preexisting.add(path.name)

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
        t0 = time.perf_counter()
        try:
            path = self._next_export(t0 + self.timeout_s)
        except Gen5FolderTimeout:
            yield self.clock.timeout(time.perf_counter() - t0)
            raise
        self.seen.add(path.name)
        try:
            spectra = read_gen5_spectra(path)
            counts = self._counts(path, spectra, names, excitation_nm, wavelength_nm, gain)
        except (Gen5FormatError, Gen5FolderError) as exc:
            self.rejected.append((path, str(exc)))
            self._record("gen5_export_rejected", file=path.name, error=str(exc))
            yield self.clock.timeout(time.perf_counter() - t0)
            raise
        self.received.append(ReceivedExport(path, spectra, time.time()))
        self._record("gen5_export", file=path.name, section=spectra.section_names[-1])
        yield self.clock.timeout(time.perf_counter() - t0)
        return counts
