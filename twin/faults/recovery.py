"""The campaign runner's fault policies: bounded retry / pause-and-alert / skip-and-record / abort around operations.

``Recovery.guard`` runs one instrument operation (a generator factory) under the policy of whatever fault it
raises (``twin.faults.classify``: injected faults and the real drivers' errors map onto the same kinds); errors that
are not faults (a bad volume in the plate map, an empty tip rack) propagate unchanged.  ``GuardedPipettor`` wraps a
pipettor so that ``twin.prep.prepare_plate`` runs under the policies without knowing about them.
"""

from __future__ import annotations

from typing import Callable, Generator

from instruments.errors import InstrumentError, ReaderError
from twin.faults import EventLog, FaultKind, FaultPlan, InjectedFault, classify


class CampaignAborted(InstrumentError):
    """A fault whose policy is (or ends in) abort; ``.kind`` says which, the event log says the rest."""

    def __init__(self, message: str, kind: FaultKind | None):
        super().__init__(message)
        self.kind = kind


class TemperatureExcursion(InjectedFault, ReaderError):
    """The incubator is off its set-point by more than the plan's tolerance."""


class Recovery:
    """Applies a FaultPlan's policies; every detection and action goes to ``log``; ``on_alert`` gets the alerts."""

    def __init__(self, plan: FaultPlan, log: EventLog, clock, on_alert: Callable[[dict], None] | None = None):
        self.plan, self.log, self.clock, self.on_alert = plan, log, clock, on_alert

    def guard(self, operation: str, make: Callable[[], Generator], what: str,
              before_retry: Callable[[BaseException], Generator] | None = None) -> Generator:
        """Run ``make()`` under the policy; returns ``(True, value)``, or ``(False, error)`` when skipped."""
        attempt = 0
        while True:
            try:
                value = yield from make()
            except InstrumentError as exc:
                kind = classify(exc, operation)
                if kind is None or isinstance(exc, CampaignAborted):
                    raise
                pol = self.plan.policy(kind)
                now = self.clock.now
                self.log.add(now, kind, "detected", what=what, attempt=attempt, error=str(exc)[:200])
                action = pol.action
                if action in ("retry", "pause") and attempt >= pol.max_retries:
                    action = pol.then
                if action == "abort":
                    self.log.add(now, kind, "abort", what=what, attempts=attempt)
                    raise CampaignAborted(f"{what}: {kind.value} after {attempt} re-attempt(s); policy: abort "
                                          f"({exc})", kind) from exc
                if action == "skip":
                    self.log.add(now, kind, "skip", what=what, attempts=attempt)
                    return False, exc
                attempt += 1
                if action == "pause":
                    alert = self.log.add(now, kind, "alert", what=what, attempt=attempt, pause_s=pol.pause_s)
                    if self.on_alert is not None:
                        self.on_alert(alert)
                self.log.add(now, kind, action, what=what, attempt=attempt, pause_s=pol.pause_s)
                if pol.pause_s > 0:
                    yield self.clock.timeout(pol.pause_s)
                if before_retry is not None:
                    yield from before_retry(exc)
                continue
            if attempt:
                self.log.add(self.clock.now, "recovery", "recovered", what=what, attempts=attempt)
            return True, value

    def check_temperature(self, reader, set_point_C: float, what: str) -> Generator:
        """Ask the reader's incubator (if it can say) and apply the excursion policy; True if within tolerance."""
        get = getattr(reader, "current_temperature_C", None)
        if get is None:
            return True
        tol = self.plan.temperature_tolerance_C

        def probe():
            yield self.clock.timeout(0)
            now_C = float(get())
            if abs(now_C - set_point_C) > tol:
                raise TemperatureExcursion(f"incubator at {now_C:.2f} °C, set-point {set_point_C:g} °C "
                                           f"(tolerance {tol:g} °C)", FaultKind.temperature_excursion,
                                           temperature_C=now_C)
            return now_C

        ok, _ = yield from self.guard("temperature", probe, what)
        return ok


class GuardedPipettor:
    """A pipettor whose pick-up, aspirate, dispense and mix run under the policies (everything else delegates).

    Tip pick-up failure: the failed tip position is marked used, the next tip is tried (with an operator refill when
    the racks run out).  Detected short aspiration: the clogged tip is swapped for a fresh one (if it holds no
    liquid) and the aspiration repeated.  Well skipped (policy skip): the tip's contents are blown out to the trash
    and the well is recorded in ``skipped_wells``; later mixes of a skipped well are skipped too.
    """

    def __init__(self, inner, recovery: Recovery):
        self._inner = inner
        self._rec = recovery
        self._skip_dispense: dict[str, bool] = {}
        self.skipped_wells: list[str] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def pick_up_tip(self, pipette: str) -> Generator:
        from twin.prep import _ensure_tip

        def before_retry(exc):
            ctx = getattr(exc, "context", {})
            rack, index = ctx.get("rack_obj"), ctx.get("index")
            if rack is not None and index is not None:
                rack.tip_present[index] = False  # that tip is on the floor, or crushed
            yield from _ensure_tip(self._inner, pipette)

        ok, exc = yield from self._rec.guard("pick_up_tip", lambda: self._inner.pick_up_tip(pipette),
                                             f"pick up a {pipette} tip", before_retry)
        if not ok:  # nothing can be pipetted without a tip
            raise CampaignAborted(f"no {pipette} tip could be picked up ({exc})", FaultKind.tip_pickup)

    def aspirate(self, pipette: str, well, volume_uL: float) -> Generator:
        def before_retry(exc):
            tip = self._inner.tips.get(pipette)
            if tip is not None and tip.nominal_uL == 0:  # a clogged tip: swap it
                yield from self._inner.drop_tip(pipette)
                yield from self.pick_up_tip(pipette)

        ok, _ = yield from self._rec.guard("aspirate", lambda: self._inner.aspirate(pipette, well, volume_uL),
                                           f"aspirate {volume_uL:g} uL from {well}", before_retry)
        if not ok:
            self._skip_dispense[pipette] = True

    def dispense(self, pipette: str, well, volume_uL: float | None = None) -> Generator:
        if self._skip_dispense.pop(pipette, False):
            self._rec.log.add(self.clock.now, "recovery", "skip", what=f"dispense into {well} (nothing aspirated)")
            self._note_skipped(well)
            return
        ok, _ = yield from self._rec.guard("dispense", lambda: self._inner.dispense(pipette, well, volume_uL),
                                           f"dispense into {well}")
        if not ok:
            tip = self._inner.tips.get(pipette)
            if tip is not None and tip.nominal_uL > 0:
                lost = tip.nominal_uL
                tip.nominal_uL, tip.liquid = 0.0, {}
                self._inner._record("blow_out", pipette=pipette, where="trash", volume_uL=round(lost, 4))
            self._note_skipped(well)

    def mix(self, pipette: str, well, repetitions: int, volume_uL: float) -> Generator:
        if f"{well.labware.name}:{well.name}" in self.skipped_wells:
            self._rec.log.add(self.clock.now, "recovery", "skip", what=f"mix {well} (well skipped)")
            return
        yield from self._inner.mix(pipette, well, repetitions, volume_uL)

    def transfer(self, *args, **kwargs) -> Generator:
        """``Pipettor.transfer`` composed of the guarded operations above."""
        from instruments.pipettor import Pipettor

        return Pipettor.transfer(self, *args, **kwargs)

    def _note_skipped(self, well) -> None:
        key = f"{well.labware.name}:{well.name}"
        if key not in self.skipped_wells:
            self.skipped_wells.append(key)
