"""What-if: how robot volume error propagates into peak-position scatter of replicate wells (why replicates matter)."""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd

from instruments.sim import pipettor as sim_pipettor
from scenarios import plates
from scenarios._whatif import emit, parser
from scenarios.measure import run_plate_map

CONDITIONS = (0.5, 1.0, 1.5)  # OAc:OLAm 1:r in toluene: flat, at the acid = amine switch, amine-rich


@contextmanager
def pipetting_error_scale(factor: float):
    """Scale every liquid class's bias and random CV by ``factor`` inside the block (0 = perfect liquid handling;
    the pipettes' own 1 % calibration offset stays)."""
    saved = dict(sim_pipettor.LIQUID_CLASSES)
    try:
        for k, lc in saved.items():
            sim_pipettor.LIQUID_CLASSES[k] = lc.model_copy(update=dict(
                bias=lc.bias * factor, cv_floor=lc.cv_floor * factor, cv_at_min=lc.cv_at_min * factor))
        yield
    finally:
        sim_pipettor.LIQUID_CLASSES.clear()
        sim_pipettor.LIQUID_CLASSES.update(saved)


def replicate_plate(n: int = 24, ratios=CONDITIONS) -> pd.DataFrame:
    parts = [plates.replicates("toluene", "OAc:OLAm", r, n).drop(columns="well") for r in ratios]
    return plates.place(pd.concat(parts))


def pipetting_error(seed: int = 0, hours: float = 0.5, factors=(0.0, 1.0, 3.0, 10.0), n: int = 24) -> pd.DataFrame:
    """Per error scale and condition: bias and scatter (SD) of the dispensed amine/acid ratio, first-read peak, FWHM
    and height across ``n`` replicate wells.

    The robot premixes one precursor vial per composition, so replicates of a condition share the vial's ligand
    error: it shows as a bias of the whole condition (``ratio_bias``, ``peak_nm_mean``), not as scatter between the
    replicates; their scatter is the PbBr2 injection volume plus well-to-well batch variability. Replicates on one
    plate therefore under-report the ligand-volume error: repeat the premix, not only the wells."""
    rows = []
    for factor in factors:
        with pipetting_error_scale(factor):
            run = run_plate_map(replicate_plate(n), f"pipetting-x{factor:g}", 96, seed, hours)
        p = run.plate.assign(dispensed_ratio=lambda d: d["dispensed_amine_uL"] / d["dispensed_acid_uL"])
        first = run.features[run.features["read"] == 0].merge(p[["well", "amine_per_acid", "dispensed_ratio"]])
        for r, g in first.groupby("amine_per_acid"):
            rows.append(dict(error_scale=factor, amine_per_acid=r, replicates=len(g),
                             ratio_bias=g["dispensed_ratio"].mean() / r - 1,
                             ratio_sd=g["dispensed_ratio"].std(), peak_nm_mean=g["peak_nm"].mean(),
                             peak_nm_sd=g["peak_nm"].std(), fwhm_nm_sd=g["fwhm_nm"].std(),
                             height_cv=g["height"].std() / g["height"].mean()))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    args = parser(__doc__, 0.5).parse_args(argv)
    emit(pipetting_error(args.seed, args.hours), args.out, "pipetting_error")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
