"""Export a plate map as a stand-alone OT-2 protocol for the Opentrons App, from the twin's own command log.

One source of truth: the nominal twin (no pipetting error) runs ``prepare_plate`` on a virtual clock and
``instruments.ot2.protocol_writer`` turns its log into the protocol file, so the robot does what the twin rehearsed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from instruments.clock import Clock
from instruments.ot2.layout import DeckLayout
from instruments.ot2.protocol_writer import check_api_level, nominal_twin, protocol_source, stock_fills
from twin.prep import PrepPlan, plan_deck, prepare_plate


def record_protocol(plate_map: pd.DataFrame, plate_wells: int | None = None,
                    layout: DeckLayout | dict | None = None) -> tuple[PrepPlan, list, list[dict]]:
    """Run ``prepare_plate`` on the nominal twin; returns (plan, stock fills before the run, the twin's log)."""
    plan = plan_deck(plate_map, plate_wells, layout)
    fills = stock_fills(plan.deck)
    clock = Clock()
    twin = nominal_twin(clock, plan.deck, plan.pipettes)
    clock.run_process(prepare_plate(twin, plan, plate_map))
    return plan, fills, twin.log


def export_protocol(plate_map: pd.DataFrame, out_path: str | Path, api_level: str = "2.20", *,
                    plate_wells: int | None = None, name: str = "LARP plate preparation",
                    layout: DeckLayout | dict | None = None) -> Path:
    """Write a stand-alone OT-2 protocol that prepares ``plate_map`` exactly as the twin's ``prepare_plate`` does.

    Parameters
    ----------
    plate_map : a validated plate map (``twin.platemap.validate_plate_map``).
    out_path : the ``.py`` file to write (upload it in the Opentrons App or run ``opentrons_simulate`` on it).
    api_level : the protocol's ``apiLevel`` ('2.14'..'2.27' with opentrons 8.8.2), stated once, in ``requirements``.
    plate_wells : 96 or 384; default the plate map's ``attrs['plate_wells']`` or 96.
    layout : the deck layout (``DeckLayout`` or its dict); default ``DeckLayout()``.
    """
    check_api_level(api_level)
    plan, fills, log = record_protocol(plate_map, plate_wells, layout)
    text = protocol_source(plan, fills, log, api_level, name=name)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
