"""Write a stand-alone OT-2 protocol file for the Opentrons App from a pipettor's command log.

The log of a ``SimPipettor`` with its pipetting error switched off (``nominal_twin``: the robot's nominal volumes)
becomes the protocol's step list, embedded as literals.  The file needs nothing but ``opentrons``: ``run(protocol)``
loads the same labware in the same slots, the same pipettes, marks the stocks the operator must put out (Labware &
Liquids in the App), then replays the steps.  ``twin.protocol_export`` records such a log for a plate map.
"""

from __future__ import annotations

import re

from instruments.deck import Deck
from instruments.errors import UsageError
from instruments.pipettor import PIPETTES, assign_mounts
from instruments.sim.pipettor import LIQUID_CLASSES, LiquidClass, SimPipettor
from instruments.clock import Clock

#: load_liquid needs API 2.14; the newest level opentrons 8.8.2 runs is 2.27 (checked against the installed opentrons)
MIN_API_LEVEL = (2, 14)
_API_RE = re.compile(r"^2\.(\d{1,2})$")
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def check_api_level(api_level: str) -> str:
    """``api_level`` if it is a ``'2.N'`` level the protocol's calls exist in and the installed opentrons runs."""
    m = _API_RE.match(str(api_level))
    if not m or (2, int(m[1])) < MIN_API_LEVEL:
        raise UsageError(f"api_level {api_level!r} is not supported; use '2.{MIN_API_LEVEL[1]}' or newer, "
                         f"e.g. '2.20'")
    try:
        from opentrons.protocols.api_support.definitions import MAX_SUPPORTED_VERSION
    except ImportError:  # opentrons is not installed here: the robot will judge
        return api_level
    if (2, int(m[1])) > (MAX_SUPPORTED_VERSION.major, MAX_SUPPORTED_VERSION.minor):
        raise UsageError(f"api_level {api_level!r} is newer than the installed opentrons supports "
                         f"({MAX_SUPPORTED_VERSION}); use '2.20'")
    return api_level


def nominal_twin(clock: Clock, deck: Deck, pipettes=("p20", "p300")) -> SimPipettor:
    """The twin with no pipetting error: what the robot is told to do, which is what the protocol must say."""
    exact = LiquidClass(bias=0.0, cv_floor=0.0, cv_at_min=0.0)
    return SimPipettor(clock, deck, pipettes, liquid_classes={k: exact for k in LIQUID_CLASSES}, calibration_sd=0.0)


def stock_fills(deck: Deck) -> list[tuple[str, str, str, float]]:
    """(labware, well, component, uL) of everything on the deck now: the stocks the operator puts out."""
    fills = []
    for lw in sorted(deck, key=lambda lw: lw.slot):
        for comp, arr in lw.contents.items():
            for i in map(int, arr.nonzero()[0]):
                fills.append((lw.name, lw.wells[i], comp, round(float(arr[i]), 1)))
    return fills


def protocol_steps(log: list[dict]) -> list[tuple]:
    """The robot's step list from a ``Pipettor.log``: tuples a protocol file can hold as literals."""
    steps: list[tuple] = []
    for e in log:
        cmd = e["command"]
        if cmd == "home":
            steps.append(("home",))
        elif cmd == "pick_up_tip":
            steps.append(("pick_up_tip", e["pipette"], e["rack"], e["well"]))
        elif cmd in ("aspirate", "dispense"):
            steps.append((cmd, e["pipette"], e["labware"], e["well"], _uL(e["volume_uL"])))
        elif cmd == "mix":
            steps.append(("mix", e["pipette"], e["labware"], e["well"], int(e["repetitions"]),
                          _uL(e["volume_uL"])))
        elif cmd == "drop_tip":
            steps.append(("drop_tip", e["pipette"]))
        elif cmd in ("blow_out", "touch_tip"):  # a blow-out into the trash names no labware: (..., None, None)
            steps.append((cmd, e["pipette"], e.get("labware"), e.get("well")))
        elif cmd == "operator_refill_tips":
            steps.append(("refill_tips", e["pipette"]))
        else:
            raise ValueError(f"the twin's log has a command {cmd!r} the protocol export does not know")
    return steps


def _uL(volume) -> float:
    """A volume as the protocol prints it: rounded to 0.1 nL, far below any pipette's resolution (no
    ``0.9999999999999999``)."""
    return round(float(volume), 4) + 0.0


def _literal_list(items, indent: str = "    ") -> str:
    return "[\n" + "".join(f"{indent}{item!r},\n" for item in items) + "]"


_RUN = '''
def run(protocol):
    """Load the deck, mark the stocks, then replay the twin's step list."""
    labware = {name: protocol.load_labware(load_name, slot, label=name) for slot, load_name, name in LABWARE}
    pipettes = {
        name: protocol.load_instrument(model, mount, tip_racks=[labware[r] for r in racks])
        for name, (model, mount, racks) in PIPETTES.items()
    }
    liquids = {}
    for lw, well, component, volume_uL in STOCKS:
        if component not in liquids:
            liquids[component] = protocol.define_liquid(
                name=component, description=f"stock: {component}", display_color=COLORS[len(liquids) % len(COLORS)])
        labware[lw][well].load_liquid(liquid=liquids[component], volume=volume_uL)
    for step in STEPS:
        kind, args = step[0], step[1:]
        if kind == "home":
            protocol.home()
        elif kind == "pick_up_tip":
            pipette, rack, well = args
            pipettes[pipette].pick_up_tip(labware[rack][well])
        elif kind == "aspirate":
            pipette, lw, well, volume_uL = args
            pipettes[pipette].aspirate(volume_uL, labware[lw][well])
        elif kind == "dispense":
            pipette, lw, well, volume_uL = args
            pipettes[pipette].dispense(volume_uL, labware[lw][well])
        elif kind == "mix":
            pipette, lw, well, repetitions, volume_uL = args
            pipettes[pipette].mix(repetitions, volume_uL, labware[lw][well])
        elif kind == "blow_out":
            pipette, lw, well = args
            pipettes[pipette].blow_out(protocol.fixed_trash if lw is None else labware[lw][well])
        elif kind == "touch_tip":
            pipette, lw, well = args
            pipettes[pipette].touch_tip(labware[lw][well])
        elif kind == "drop_tip":
            pipettes[args[0]].drop_tip()
        elif kind == "refill_tips":
            racks = PIPETTES[args[0]][2]
            protocol.pause(f"Replace the tip racks {', '.join(racks)} with full ones, then resume.")
            for r in racks:
                labware[r].reset()
        else:
            raise ValueError(f"unknown step {step!r}")
'''


def protocol_source(plan, fills: list, log: list[dict], api_level: str = "2.20",
                    name: str = "LARP plate preparation", description: str = "") -> str:
    """The text of a stand-alone OT-2 protocol replaying ``log`` on ``plan``'s deck.

    ``plan`` is a ``twin.prep.PrepPlan`` or anything with its ``deck``, ``pipettes`` and ``deck_sheet()``.
    """
    check_api_level(api_level)
    labware = [(lw.slot, lw.type.load_name, lw.name) for lw in sorted(plan.deck, key=lambda lw: lw.slot)]
    mounts = assign_mounts(plan.pipettes)
    pipettes = {p: (PIPETTES[p].model, mounts[p], [r.name for r in sorted(plan.deck, key=lambda lw: lw.slot)
                                                   if r.type.load_name == PIPETTES[p].tiprack])
                for p in plan.pipettes}
    steps = protocol_steps(log)
    n_liquid = sum(s[0] in ("aspirate", "dispense") for s in steps)
    sheet = "\n".join("# " + line if line else "#" for line in plan.deck_sheet().splitlines())
    metadata = {"protocolName": name, "author": "larp-twin",
                "description": description or f"{len(steps)} steps ({n_liquid} aspirate/dispense) "
                                              f"exported from the larp-twin twin"}
    return (
        f'"""{name}: generated by larp-twin (larp-twin export-ot2); edit the plate map, not this file."""\n\n'
        f"# Deck set-up (put these out before pressing run):\n{sheet}\n\n"
        f"metadata = {metadata!r}\n"
        f"requirements = {{'robotType': 'OT-2', 'apiLevel': {api_level!r}}}\n\n"
        f"# (slot, opentrons load name, label)\nLABWARE = {_literal_list(labware)}\n\n"
        f"# pipette -> (model, mount, tip-rack labels)\nPIPETTES = {pipettes!r}\n\n"
        f"# (labware, well, component, uL) of each stock at the start\nSTOCKS = {_literal_list(fills)}\n\n"
        f"COLORS = {_COLORS!r}\n\n"
        f"# the twin's command log: (command, pipette, labware, well, [repetitions,] [uL])\n"
        f"STEPS = {_literal_list(steps)}\n\n"
        f"{_RUN}"
    )
