"""One clock interface over simpy's virtual and real-time environments, so a campaign runs unchanged on both.

Instrument operations are generators that ``yield clock.timeout(seconds)``; campaigns compose them with
``yield from``.  A twin yields the duration its timing model predicts; a real driver does its blocking I/O, measures
how long it took and yields that, so under ``RealtimeEnvironment(strict=False)`` virtual time tracks the wall clock.
"""

from __future__ import annotations

import time
from typing import Generator

import simpy
import simpy.rt

#: Unix time given to virtual t=0 where an output needs a wall-clock time (bluesky documents, PyLabRobot's read
#: ``time``): 2000-01-01 09:00 UTC, the twin's default campaign start, fixed so the same seed gives the same bytes
VIRTUAL_EPOCH_S = 946_717_200.0


class Clock:
    """Virtual (``realtime=False``) or wall-clock (``realtime=True``) time in seconds since the campaign started."""

    def __init__(self, realtime: bool = False, factor: float = 1.0):
        self.realtime = realtime
        self.env = simpy.rt.RealtimeEnvironment(factor=factor, strict=False) if realtime else simpy.Environment()
        self._wall_start = time.perf_counter()

    @property
    def now(self) -> float:
        """Seconds since the campaign started (virtual or real)."""
        return float(self.env.now)

    def timeout(self, seconds: float) -> simpy.events.Timeout:
        return self.env.timeout(max(float(seconds), 0.0))

    def wait_until(self, t_s: float) -> simpy.events.Timeout:
        return self.env.timeout(max(float(t_s) - self.env.now, 0.0))

    def process(self, generator: Generator) -> simpy.events.Process:
        return self.env.process(generator)

    def run(self, until=None):
        return self.env.run(until=until)

    def run_process(self, generator: Generator):
        """Run one generator to completion and return its value (re-raising its exception)."""
        proc = self.env.process(generator)
        self.env.run(until=proc)
        return proc.value

    def restart_at(self, t_s: float, factor: float | None = None) -> None:
        """Start campaign time at ``t_s`` (a run resumed after a crash); only before anything is scheduled."""
        if self.realtime:
            factor = self.env.factor if factor is None else factor
            self.env = simpy.rt.RealtimeEnvironment(initial_time=t_s, factor=factor, strict=False)
        else:
            self.env = simpy.Environment(initial_time=t_s)

    def wall_epoch(self) -> tuple[float, float | None]:
        """Unix time of campaign t=0 and the wall seconds per campaign second (None on the virtual clock)."""
        if not self.realtime:
            return time.time() - self.wall_s, None
        env = self.env
        return time.time() - (time.monotonic() - env.real_start) - env.env_start * env.factor, float(env.factor)

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self._wall_start
