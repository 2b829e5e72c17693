"""Built-in campaigns: the paper's experiments and full-plate runs. ``larp-twin scenarios`` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from scenarios import plates
from twin.messages import UserError


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    plate_map: Callable[[], pd.DataFrame]
    plate_wells: int = 96
    #: the scenario's read interval when the caller sets none; 0 = back to back
    every_min: float | None = None
    #: the scenario's reader procedure (a ``twin.procedure.Procedure`` factory); None: the schedule's PL loop
    procedure: Callable | None = None


#: the paper's 40-well plates ran as back-to-back reads: the lab's notebook records 103 reads of ~7 min in 12 h
#: (``scenarios/data/real/README.md``), not the "every 10 min" of the methods text
LAB_CADENCE = 0.0


def pl_and_absorbance(hours: float = 12.0):
    """The paper's read-out with an absorbance scan (300-600 nm, 5 nm) before each PL scan, back to back."""
    from twin.procedure import AbsorbanceSpectrum, Kinetic, PLSpectrum, Procedure

    return Procedure(name="pl-and-absorbance", steps=[Kinetic(
        interval_min=LAB_CADENCE, duration_min=hours * 60.0,
        steps=[AbsorbanceSpectrum(start_nm=300, stop_nm=600, step_nm=5), PLSpectrum()])])


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("paper-toluene", "Fig. 2: OAc:OLAm 1:0.1-1:2 at 1:30 and 1:15 acid:PbBr2 in toluene (40 wells, 12 h)",
             lambda: plates.paper_series("toluene", "OAc:OLAm"), every_min=LAB_CADENCE),
    Scenario("paper-chloroform", "Fig. 6: OAc:OLAm 1:0.1-1:2 at 1:30 and 1:15 in chloroform (40 wells, 12 h)",
             lambda: plates.paper_series("chloroform", "OAc:OLAm"), every_min=LAB_CADENCE),
    Scenario("paper-chloroform-abs", "Fig. 6 plate at 30 % volumes (OD < 2, readable) with an absorbance scan "
             "(300-600 nm) before each PL scan, back to back: excitonic peak, band edge and PL peak over 12 h",
             lambda: plates.paper_series("chloroform", "OAc:OLAm", scale=plates.ABSORBANCE_SCALE),
             every_min=LAB_CADENCE, procedure=pl_and_absorbance),
    Scenario("paper-octyl-toluene", "Figs. 3E-H, S5: OctAc:OctAm 1:0.1-1:2 at 1:30 and 1:15 in toluene (40 wells)",
             lambda: plates.paper_series("toluene", "OctAc:OctAm"), every_min=LAB_CADENCE),
    Scenario("paper-octyl-chloroform", "Fig. S13: OctAc:OctAm 1:0.1-1:2 at 1:30 and 1:15 in chloroform (40 wells)",
             lambda: plates.paper_series("chloroform", "OctAc:OctAm"),
             every_min=LAB_CADENCE),
    Scenario("paper-shap-160", "Figs. 4, S7: the 160-condition SHAP learning design (OAc:OLAm at 1:30/1:20/1:15 "
             "PbBr2, OctAc:OctAm at 1:30, toluene and chloroform; 384-well plate, 30 % volumes)", plates.shap_160, 384),
    Scenario("plate-96", "Full 96-well plate: 2 antisolvents x 2 ligand pairs x 20 ratios + 1:15 series + blanks",
             plates.full_96),
    Scenario("plate-384", "384-well plate: the paper's 160-condition design in duplicate + 64 blanks (30 % volumes)",
             plates.full_384, 384),
]}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; built-in scenarios: {sorted(SCENARIOS)} "
                       f"(or pass a plate-map .csv)") from None


def build_campaign(name: str, **overrides):
    """The Campaign of a built-in scenario; ``overrides`` go to ``twin.campaign.Campaign``."""
    from twin.campaign import Campaign
    from twin.config import Schedule

    s = get_scenario(name)
    if s.procedure is not None and "procedure" not in overrides:
        given = overrides.get("schedule")
        hours = given.hours if given is not None and "hours" in given.model_fields_set else 12.0
        if given is not None and "every_min" in given.model_fields_set:
            raise UserError(f"scenario {name} reads by its own procedure (absorbance + PL back to back); "
                             f"--every-min does not apply (give --procedure FILE for another schedule)")
        overrides["procedure"] = s.procedure(hours)
    if s.every_min is not None:  # the scenario's cadence, unless the caller set every_min itself
        given = overrides.get("schedule") or Schedule()
        if "every_min" not in given.model_fields_set:
            overrides["schedule"] = given.model_copy(update={"every_min": s.every_min})
    return Campaign(name=s.name, description=s.summary, plate_map=s.plate_map(), plate_wells=s.plate_wells,
                    **overrides)
