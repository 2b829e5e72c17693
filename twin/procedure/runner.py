"""Execute a reader procedure on the lab's clock (virtual or wall, same code), emitting a document per read.

The runner knows the reader's interface and nothing of twins, real drivers, journals or progress bars: reads go to
``emit(name, doc)`` (``twin.records.documents``), instrument operations run under ``guarded`` (the recovery
policies, applied from outside), and the incubator is checked before each cycle by ``check_temperature``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

from instruments.reader import AbsorbanceRead, AbsorbanceSpectrumRead, SpectrumRead
from twin.procedure.model import (
    AbsorbanceEndpoint,
    AbsorbanceSpectrum,
    Delay,
    Kinetic,
    PLSpectrum,
    Procedure,
)


@dataclass
class Resume:
    """Where a restarted procedure continues (``twin.records.restart.Restart`` carries one): the procedure's t0 and the
    last journaled read's top-level step (``loop``) and cycle (``slot``)."""

    t0_s: float
    last_loop: int = 0
    last_slot: int = -1


@dataclass
class ProcedureRunner:
    """Runs ``procedure`` on ``reader`` over ``wells``; ``pl_reads`` and ``abs_reads`` collect the results."""

    procedure: Procedure
    reader: object
    clock: object
    wells: list[str]
    emit: Callable[[str, dict], None]
    guarded: Callable  #: guarded(operation, make, what) -> generator returning (ok, value)
    log_event: Callable  #: log_event(t_s, kind, action, **details)
    check_temperature: Callable | None = None  #: check_temperature(what) -> generator
    pl_reads: list = field(default_factory=list)
    abs_reads: list = field(default_factory=list)

    # -- reads --------------------------------------------------------------------------------------------------
    def _make(self, step):
        r = self.reader
        if isinstance(step, PLSpectrum):
            return lambda: r.read_pl(self.wells, excitation_nm=step.excitation_nm,
                                     emission_start_nm=step.emission_start_nm,
                                     emission_stop_nm=step.emission_stop_nm,
                                     emission_step_nm=step.emission_step_nm, gain=step.gain)
        if isinstance(step, AbsorbanceSpectrum):
            return lambda: r.read_absorbance_spectrum(self.wells, start_nm=step.start_nm, stop_nm=step.stop_nm,
                                                      step_nm=step.step_nm)
        return lambda: r.read_absorbance(self.wells, wavelength_nm=step.wavelength_nm)

    def _read(self, step, loop: int, slot: int, index_in_cycle: int):
        where = f"read slot {slot}" if loop == 0 else f"loop {loop} read slot {slot}"
        what = where if isinstance(step, PLSpectrum) else f"{step.type} {where}"
        ok, r = yield from self.guarded("read", self._make(step), what)
        if not ok:
            extra = {} if loop == 0 else {"loop": loop}
            self.log_event(self.clock.now, "recovery", "read_missed", slot=slot, **extra,
                           **({} if isinstance(step, PLSpectrum) else {"step": step.type}))
            return
        if isinstance(r, SpectrumRead):
            self.pl_reads.append(r)
            doc = {"index": len(self.pl_reads) - 1, "slot": slot, **({"loop": loop} if loop else {}),
                   "start_s": r.start_s, "end_s": r.end_s, "wells": r.wells, "wavelength_nm": r.wavelength_nm,
                   "excitation_nm": r.excitation_nm, "gain": r.gain, "counts": r.counts,
                   **({"source": r.source} if r.source is not None else {}),
                   **({"wall_s": r.wall_s} if getattr(r, "wall_s", None) is not None else {})}
            self.emit("read", doc)
        else:
            if isinstance(r, AbsorbanceRead):  # an endpoint is a one-point spectrum
                r = AbsorbanceSpectrumRead(r.wells, [r.wavelength_nm], r.od[:, None], r.start_s, r.end_s)
            self.abs_reads.append(r)
            self.emit("abs_read", {"index": len(self.abs_reads) - 1, "slot": slot, "loop": loop,
                                   "step": index_in_cycle, "start_s": r.start_s, "end_s": r.end_s,
                                   "wells": r.wells, "wavelength_nm": r.wavelength_nm, "od": r.od})

    def _cycle(self, steps, loop: int, slot: int):
        if self.check_temperature is not None:
            where = f"read slot {slot}" if loop == 0 else f"loop {loop} read slot {slot}"
            yield from self.check_temperature(f"before {where}")
        for i, step in enumerate(steps):
            if isinstance(step, Delay):
                yield self.clock.timeout(step.minutes * 60.0)
            else:
                yield from self._read(step, loop, slot, i)

    # -- the procedure ------------------------------------------------------------------------------------------
    def run(self, t0_s: float, resume: Resume | None = None):
        """Generator: every step in order from campaign time ``t0_s`` (the nominal clock of the kinetic windows)."""
        nominal = t0_s
        for pos, step in enumerate(self.procedure.steps):
            if resume is not None and pos < resume.last_loop:  # done before the crash
                nominal += _nominal_s(step)
                continue
            if isinstance(step, Kinetic):
                first = 0
                if resume is not None and pos == resume.last_loop:
                    first = resume.last_slot + 1 if step.interval_min <= 0 else max(
                        resume.last_slot + 1,
                        math.floor((self.clock.now - nominal) / (step.interval_min * 60.0) + 1e-9))
                    for missed in range(resume.last_slot + 1, first):
                        self.log_event(self.clock.now, "recovery", "read_missed", slot=missed,
                                       **({"loop": pos} if pos else {}), reason="crash")
                yield from self._kinetic(step, pos, nominal, first)
            elif isinstance(step, Delay):
                yield self.clock.wait_until(max(self.clock.now, nominal) + step.minutes * 60.0)
            elif not (resume is not None and pos == resume.last_loop and resume.last_slot >= 0):
                yield from self._cycle([step], pos, 0)
            nominal += _nominal_s(step)

    def _kinetic(self, loop: Kinetic, pos: int, t0: float, k: int):
        end = t0 + loop.duration_min * 60.0
        while True:
            start = max(t0 + k * loop.interval_min * 60.0, self.clock.now)  # an overrun pushes the next cycle back
            if start > end + 1e-6:
                break
            yield self.clock.wait_until(start)
            yield from self._cycle(loop.steps, pos, k)
            k += 1


def _nominal_s(step) -> float:
    if isinstance(step, Kinetic):
        return step.duration_min * 60.0
    if isinstance(step, Delay):
        return step.minutes * 60.0
    return 0.0


def step_duration_s(step, timing, n_wells: int) -> float:
    """How long ``step`` takes on a reader with ``timing`` (a ``ReaderTiming``)."""
    if isinstance(step, PLSpectrum):
        return timing.scan_s(n_wells, len(step.wavelength_nm))
    if isinstance(step, AbsorbanceSpectrum):
        return timing.absorbance_scan_s(len(step.wavelength_nm))
    if isinstance(step, AbsorbanceEndpoint):
        return timing.absorbance_scan_s(1)
    if isinstance(step, Delay):
        return step.minutes * 60.0
    return sum(step_duration_s(s, timing, n_wells) for s in step.steps)


def warn_overruns(procedure: Procedure, timing, n_wells: int) -> None:
    """A note for each kinetic loop whose cycle outlasts its interval (its cycles will run back to back)."""
    for pos, step in enumerate(procedure.steps):
        if not isinstance(step, Kinetic) or step.interval_min <= 0:
            continue
        cycle = step_duration_s(step, timing, n_wells)
        if cycle > step.interval_min * 60:
            what = "one scan" if len(step.steps) == 1 else "one cycle"
            loop = "" if len(procedure.steps) == 1 else f"kinetic loop steps[{pos}]: "
            every = "every_min" if procedure.name == "schedule" else "interval_min"
            warnings.warn(f"{loop}{what} of {n_wells} wells takes {cycle / 60:.1f} min, longer than {every}="
                          f"{step.interval_min:g}: reads will run back to back (as Gen5 does), "
                          f"~{int(step.duration_min // (cycle / 60)) + 1} reads instead of "
                          f"{int(step.duration_min // step.interval_min) + 1}", stacklevel=3)


def planned_reads(procedure: Procedure) -> int | None:
    """How many PL reads the procedure makes when no cycle overruns; None when a loop runs back to back (0 min)."""
    total = 0
    for step in procedure.steps:
        if isinstance(step, PLSpectrum):
            total += 1
        elif isinstance(step, Kinetic):
            per_cycle = sum(isinstance(s, PLSpectrum) for s in step.steps)
            if per_cycle and step.interval_min <= 0:
                return None
            if per_cycle:
                total += per_cycle * (math.floor(step.duration_min / step.interval_min + 1e-9) + 1)
    return total


#: the most PL values (reads x wells x wavelengths) a run may hold: 40 times the paper's 12 h run (103 x 40 x 126 =
#: 0.52 million) and more than a 7-day back-to-back kinetic of 96 wells at 2 nm (~8 million); each value costs ~50
#: bytes across the spectra table, the figures and the export, so 20 million is ~1 GB
MAX_PL_VALUES = 20_000_000


class ProcedureTooLarge(ValueError):
    """A procedure whose reads would not fit in memory; the message says how many values and what to change."""


def max_pl_reads(procedure: Procedure, timing, n_wells: int) -> int:
    """The most PL reads ``procedure`` can make on ``n_wells``: each kinetic cycle lasts at least its reads' scan
    time, so a back-to-back loop (``interval_min: 0``) is bounded by its window too."""
    total = 0
    for step in procedure.steps:
        if isinstance(step, PLSpectrum):
            total += 1
        elif isinstance(step, Kinetic):
            per_cycle = sum(isinstance(s, PLSpectrum) for s in step.steps)
            if not per_cycle:
                continue
            cycle_s = max(step.interval_min * 60.0, step_duration_s(step, timing, n_wells), 1e-3)
            total += per_cycle * (math.floor(step.duration_min * 60.0 / cycle_s + 1e-9) + 1)
    return total


def check_pl_size(procedure: Procedure, timing, n_wells: int, source: str = "the procedure") -> None:
    """Refuse (``ProcedureTooLarge``) a procedure whose PL reads x wells x wavelengths exceed ``MAX_PL_VALUES``,
    before anything is read or allocated."""
    reads = max_pl_reads(procedure, timing, n_wells)
    points = len(procedure.pl.wavelength_nm)
    values = reads * n_wells * points
    if values > MAX_PL_VALUES:
        raise ProcedureTooLarge(
            f"{source}: up to {reads:,} PL reads x {n_wells} wells x {points} wavelengths = {values:,} values, more "
            f"than the {MAX_PL_VALUES:,} a run may hold (the paper's 12 h run has 519,120); read less often "
            f"(interval_min), for less time (duration_min), fewer wells or a coarser emission_step_nm")


def planned_min(procedure: Procedure, timing, n_wells: int) -> float:
    """Rough length of the procedure (for the progress bar)."""
    return sum(max(_nominal_s(s), step_duration_s(s, timing, n_wells)) for s in procedure.steps) / 60.0
