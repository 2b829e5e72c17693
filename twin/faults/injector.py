"""The fault injector: decides, opportunity by opportunity, whether a planned fault fires, and logs what happened.

Deterministic given the seed and the order of operations; see ``twin.faults.plan`` for the plan, the kinds and the
typed errors it raises.
"""

from __future__ import annotations

import os
import signal
from typing import Callable

import numpy as np

from twin.faults.plan import _ERRORS, RAISING, Fault, FaultKind, FaultPlan, SimulatedCrash


class EventLog:
    """Every fault and every action, in order; ``sink`` (e.g. a durable journal) sees each event as it happens."""

    def __init__(self, sink: Callable[[dict], None] | None = None):
        self.events: list[dict] = []
        self.sink = sink

    def add(self, t_s: float, kind: FaultKind | str, action: str, **detail) -> dict:
        e = {"t_s": round(float(t_s), 3), "kind": getattr(kind, "value", kind), "action": action, **detail}
        self.events.append(e)
        if self.sink is not None:
            self.sink(e)
        return e

    def count(self, action: str | None = None, kind: str | None = None) -> int:
        return sum(1 for e in self.events if (action is None or e["action"] == action)
                   and (kind is None or e["kind"] == kind))


class FaultInjector:
    """Decides, opportunity by opportunity, whether a fault fires; deterministic given the seed and the op order.

    ``crashed_at``: ``at_s`` of crash faults that already ended a previous attempt of this run (from its journal):
    on a resumed run they log the same ``injected`` event again, then ``resumed``, instead of crashing.
    """

    def __init__(self, plan: FaultPlan | None, seed: int = 0, log: EventLog | None = None,
                 crashed_at=()):
        self.plan = plan or FaultPlan()
        self.log = log if log is not None else EventLog()
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0xFA017]))
        self._seen: dict[FaultKind, int] = {}
        self._left = [f.times for f in self.plan.faults]
        self._armed = [False] * len(self.plan.faults)
        self._window_seen: set[int] = set()
        self.crashed_at = {float(x) for x in crashed_at}
        self._fired = [0] * len(self.plan.faults)  # times each planned fault fired (for ``not_fired``)
        self._at_well: dict[tuple[FaultKind, str], int] = {}  # opportunities per (kind, well)
        self._last_s: dict[FaultKind, float] = {}  # time of the last opportunity of each kind
        self._checks_s: list[float] = []  # times the incubator temperature was checked

    def faults_of(self, kind: FaultKind) -> list[tuple[int, Fault]]:
        return [(i, f) for i, f in enumerate(self.plan.faults) if f.kind is kind]

    def fire(self, kind: FaultKind | str, now_s: float, **context) -> Fault | None:
        """One opportunity of ``kind``: None, the fault that applies, or raise its InjectedFault."""
        kind = FaultKind(kind)
        self._seen[kind] = n = self._seen.get(kind, 0) + 1
        self._last_s[kind] = float(now_s)
        if context.get("well") is not None:
            key = (kind, str(context["well"]))
            self._at_well[key] = self._at_well.get(key, 0) + 1
        hit = None
        for i, f in self.faults_of(kind):
            if f.well is not None and context.get("well") not in (None, f.well):
                continue
            if f.well is not None and context.get("well") is None:
                continue
            if self._left[i] <= 0 or (kind is FaultKind.temperature_excursion and f.at_s is not None):
                continue  # at_s excursions are time windows: temperature_offset_C
            if f.probability is not None:
                go = bool(self.rng.random() < f.probability)  # one draw per opportunity: deterministic
            else:
                if not self._armed[i]:
                    self._armed[i] = (n >= f.nth) if f.nth is not None else (now_s >= f.at_s)
                go = self._armed[i]
            if go and hit is None:
                self._left[i] -= 1
                self._fired[i] += 1
                hit = f
        if hit is None:
            return None
        detail = {k: v for k, v in context.items() if isinstance(v, (str, int, float, bool))}
        self.log.add(now_s, kind, "injected", opportunity=n, **detail)
        if kind in RAISING and not (kind is FaultKind.short_aspiration and not hit.detected):
            raise _ERRORS[kind](f"injected {kind.value} at t={now_s:.1f} s (opportunity {n}"
                                + "".join(f", {k}={v}" for k, v in detail.items()) + ")", kind, **context)
        return hit

    def temperature_offset_C(self, now_s: float) -> float:
        """Incubator offset at ``now_s`` from excursions triggered by ``at_s`` (time windows, no opportunities)."""
        off = 0.0
        self._checks_s.append(float(now_s))
        for i, f in self.faults_of(FaultKind.temperature_excursion):
            if f.at_s is not None and f.at_s <= now_s < f.at_s + f.duration_s:
                off += f.delta_C
                if i not in self._window_seen:
                    self._fired[i] += 1
                    self._window_seen.add(i)
                    self.log.add(now_s, FaultKind.temperature_excursion, "injected", delta_C=f.delta_C,
                                 until_s=f.at_s + f.duration_s)
        return off

    def crashes(self) -> list[Fault]:
        return [f for _, f in self.faults_of(FaultKind.crash)]

    def crash_process(self, clock, fault: Fault):
        """A simpy process that ends the run at ``fault.at_s`` (SIGKILL when ``hard``)."""
        yield clock.wait_until(fault.at_s)
        for i, f in enumerate(self.plan.faults):
            if f is fault:
                self._fired[i] += 1
        self.log.add(clock.now, FaultKind.crash, "injected", at_s=fault.at_s, hard=fault.hard)
        if fault.at_s in self.crashed_at:
            self.log.add(clock.now, FaultKind.crash, "resumed", at_s=fault.at_s)
            return
        if fault.hard:
            os.kill(os.getpid(), signal.SIGKILL)
        raise SimulatedCrash(f"injected crash at t={clock.now:.1f} s")

    def not_fired(self) -> list[str]:
        """Every planned fault that never fired, with why (for the run's summary and manifest)."""
        out = []
        for i, f in enumerate(self.plan.faults):
            if self._fired[i]:
                continue
            kind = f.kind
            trigger = (f"nth={f.nth}" if f.nth is not None else f"at_s={f.at_s:g}" if f.at_s is not None
                       else f"probability={f.probability:g}")
            where = f", well {f.well}" if f.well is not None else ""
            seen = self._seen.get(kind, 0)
            ops = f"{seen} {kind.value} opportunit{'y' if seen == 1 else 'ies'}"
            if f.well is not None:
                ops += f" ({self._at_well.get((kind, f.well), 0)} at {f.well})"
            if kind is FaultKind.temperature_excursion and f.at_s is not None:
                end = f.at_s + f.duration_s
                before = max((t for t in self._checks_s if t < f.at_s), default=None)
                after = min((t for t in self._checks_s if t >= end), default=None)
                near = ", ".join(f"{t:.0f} s" for t in (before, after) if t is not None) or "none"
                reason = (f"the incubator is checked before each read and no check fell in {f.at_s:g}-{end:g} s "
                          f"(nearest checks: {near}); reads moved by earlier faults can miss a short window: "
                          f"lengthen duration_s or move at_s")
            elif kind is FaultKind.crash:
                reason = f"the run ended before t={f.at_s:g} s"
            elif f.nth is not None:
                reason = f"the run had only {ops}"
            elif f.at_s is not None:
                last = self._last_s.get(kind)
                reason = (f"no {kind.value} opportunity came at or after t={f.at_s:g} s"
                          + (f" (the last at {last:.0f} s)" if last is not None else f" ({ops})"))
            else:
                reason = f"no hit in {ops}"
            out.append(f"{kind.value} ({trigger}{where}): {reason}")
        return out
