"""Read an opentrons run log back into the project's command stream, so a twin run and an OT-2 run compare one-to-one.

The opentrons run log (``ProtocolContext.commands()`` or the log ``opentrons.simulate.simulate`` returns) is
human-readable text: "Aspirating 10.0 uL from A1 of solvents on slot 2 at 7.56 uL/sec".  ``parse_run_log`` turns it
into ``Step`` tuples; ``steps_from_log`` does the same for a ``Pipettor.log``.  A ``mix`` is one step in both: the
opentrons "Mixing N times..." line and the 2N aspirate/dispense lines it nests fold into it.  opentrons logs a touch
tip as "Touching tip" without a place: it is read as happening in the well the tip was last in (where the driver
and the exported protocol touch it).
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from instruments.errors import UsageError
from instruments.pipettor import PIPETTES

_ASPIRATE = re.compile(r"^Aspirating (?P<v>[\d.eE+-]+) uL from (?P<well>\w+) of (?P<lw>.+?) on slot \d+ "
                       r"at (?P<flow>[\d.]+) uL/sec$")
_DISPENSE = re.compile(r"^Dispensing (?P<v>[\d.eE+-]+) uL into (?P<well>\w+) of (?P<lw>.+?) on slot \d+ "
                       r"at (?P<flow>[\d.]+) uL/sec$")
_PICK_UP = re.compile(r"^Picking up tip from (?P<well>\w+) of (?P<lw>.+?) on slot \d+$")
_DROP = re.compile(r"^Dropping tip into ")
_MIX = re.compile(r"^Mixing (?P<n>\d+) times with a volume of (?P<v>[\d.eE+-]+) ul$")
_BLOW_OUT_WELL = re.compile(r"^Blowing out at (?P<well>\w+) of (?P<lw>.+?) on slot \d+$")
_BLOW_OUT_TRASH = re.compile(r"^Blowing out into (Trash Bin|.*[Tt]rash)")
_TOUCH_TIP = re.compile(r"^Touching tip$")

#: commands that move liquid or tips; homing, pauses and comments are not compared
COMPARED = ("pick_up_tip", "drop_tip", "aspirate", "dispense", "mix", "blow_out", "touch_tip")


class Step(NamedTuple):
    """One robot command as both logs can state it; ``None`` where a log does not say (e.g. the trash well)."""

    command: str
    pipette: str | None = None
    labware: str | None = None
    well: str | None = None
    volume_uL: float | None = None
    repetitions: int | None = None


def _pipette_of_flow(flow_uL_s: float) -> str | None:
    """Which pipette ran a liquid command, from its default flow rate (p20 gen2 7.56, p300 gen2 92.86 uL/s)."""
    for name, spec in PIPETTES.items():
        if abs(spec.flow_uL_s - flow_uL_s) < 0.01:
            return name
    return None


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 3)


def flatten_run_log(run_log: Iterable) -> list[str]:
    """The text lines of a run log: ``ctx.commands()`` strings or ``simulate()``'s nested dicts, depth first."""
    lines: list[str] = []
    for entry in run_log:
        if isinstance(entry, str):
            lines.append(entry)
            continue
        lines.append(entry["payload"]["text"])
        lines.extend(flatten_run_log(entry.get("logs", [])))
    return lines


def parse_run_log(run_log: Iterable, rack_pipette: dict[str, str] | None = None) -> list[Step]:
    """Steps of an opentrons run log.

    Parameters
    ----------
    run_log : ``ProtocolContext.commands()`` or the first item ``opentrons.simulate.simulate`` returns.
    rack_pipette : tip-rack label -> pipette name, to name the pipette of pick-ups (optional).
    """
    rack_pipette = rack_pipette or {}
    lines = flatten_run_log(run_log)
    steps: list[Step] = []
    holder: str | None = None  # the pipette that picked up the last tip, for drop_tip, blow_out and touch_tip
    at: tuple[str | None, str | None] = (None, None)  # (labware, well) of the last located command
    i = 0
    while i < len(lines):
        text = lines[i].strip()
        i += 1
        if m := _MIX.match(text):
            n, v = int(m["n"]), float(m["v"])
            inner = [_ASPIRATE.match(s.strip()) or _DISPENSE.match(s.strip()) for s in lines[i:i + 2 * n]]
            if len(inner) != 2 * n or not all(inner):
                raise UsageError(f"run log: '{text}' is not followed by {2 * n} aspirate/dispense lines")
            i += 2 * n
            first = inner[0]
            steps.append(Step("mix", _pipette_of_flow(float(first["flow"])), first["lw"], first["well"], _round(v), n))
            at = (first["lw"], first["well"])
        elif m := _ASPIRATE.match(text):
            steps.append(Step("aspirate", _pipette_of_flow(float(m["flow"])), m["lw"], m["well"], _round(m["v"])))
            at = (m["lw"], m["well"])
        elif m := _DISPENSE.match(text):
            steps.append(Step("dispense", _pipette_of_flow(float(m["flow"])), m["lw"], m["well"], _round(m["v"])))
            at = (m["lw"], m["well"])
        elif m := _PICK_UP.match(text):
            holder = rack_pipette.get(m["lw"])
            steps.append(Step("pick_up_tip", holder, m["lw"], m["well"]))
            at = (None, None)
        elif _DROP.match(text):
            steps.append(Step("drop_tip", holder))
            at = (None, None)
        elif m := _BLOW_OUT_WELL.match(text):
            steps.append(Step("blow_out", holder, m["lw"], m["well"]))
            at = (m["lw"], m["well"])
        elif _BLOW_OUT_TRASH.match(text):
            steps.append(Step("blow_out", holder))
            at = (None, None)
        elif _TOUCH_TIP.match(text):  # opentrons does not say where: the well the tip was last in
            steps.append(Step("touch_tip", holder, *at))
    return steps


def rack_pipettes(deck) -> dict[str, str]:
    """Tip-rack label -> the pipette whose tips it holds, for every tip rack on ``deck``."""
    return {lw.name: p for p, spec in PIPETTES.items() for lw in deck if lw.type.load_name == spec.tiprack}


def steps_from_log(log: Iterable[dict]) -> list[Step]:
    """Steps of a ``Pipettor.log`` (twin or OT-2 driver), in the same form as ``parse_run_log``."""
    steps: list[Step] = []
    for e in log:
        cmd = e["command"]
        if cmd in ("aspirate", "dispense"):
            steps.append(Step(cmd, e["pipette"], e["labware"], e["well"], _round(e["volume_uL"])))
        elif cmd == "mix":
            steps.append(Step(cmd, e["pipette"], e["labware"], e["well"], _round(e["volume_uL"]), e["repetitions"]))
        elif cmd == "pick_up_tip":
            steps.append(Step(cmd, e["pipette"], e["rack"], e["well"]))
        elif cmd == "drop_tip":
            steps.append(Step(cmd, e["pipette"]))
        elif cmd in ("blow_out", "touch_tip"):  # a blow-out into the trash names no labware
            steps.append(Step(cmd, e["pipette"], e.get("labware"), e.get("well")))
    return steps
