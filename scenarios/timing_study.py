"""What-if: how injection order across 96/384-well plates and the read interval distort early-time PL data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenarios import plates
from scenarios._whatif import emit, parser
from scenarios.measure import run_plate_map

EARLY_RATIOS = (0.1, 0.5, 1.0)  # OctAc:OctAm wells whose PL rises within minutes, then collapses (Fig. 3E-H)


def timing_plate(n_wells: int, plate_wells: int) -> pd.DataFrame:
    """``n_wells`` filled wells: the C8 probe wells first, the rest OAc:OLAm 1:30 toluene series repeated."""
    scale = 1.0 if plate_wells == 96 else 0.3
    probe = plates.ligand_series("toluene", "OctAc:OctAm", 30, ratios=EARLY_RATIOS, scale=scale)
    filler = plates.ligand_series("toluene", "OAc:OLAm", 30, scale=scale)
    n_fill = max(0, n_wells - len(probe))
    rows = pd.concat([probe] + [filler] * (n_fill // len(filler) + 1)).iloc[:n_wells]
    return plates.place(rows, plate_wells)


def timing_study(seed: int = 0, hours: float = 3.0, layouts=((4, 96), (40, 96), (96, 96), (384, 384)),
                 every_min=(0.0, 10.0, 30.0)) -> pd.DataFrame:
    """Per plate layout and read interval: scan time, reads, first-read age range across the plate and whether the
    early PL rise of the C8 probe wells is seen (their brightest read comes after their first read).

    ``every_min`` 0 reads back to back, as the lab did (a 40-well, 126-point scan takes ~7 min: 103 reads in 12 h)."""
    rows = []
    for n, plate_wells in layouts:
        for every in every_min:
            run = run_plate_map(timing_plate(n, plate_wells), f"timing-{n}-{every:g}", plate_wells, seed, hours, every)
            ds = run.result.dataset
            ages = ds["time_min"].values
            starts = ds["read_start_min"].values
            probe = [run.plate["well"].iloc[i] for i in range(len(EARLY_RATIOS))]
            f = run.features[run.features["well"].isin(probe)]
            h = f.pivot(index="well", columns="read", values="height").to_numpy(float)
            rise = np.nanargmax(h, axis=1) > 0
            rows.append(dict(wells=n, plate=plate_wells, every_min=every, reads=ages.shape[1],
                             scan_min=float(np.median(np.diff(starts))) if starts.size > 1 else np.nan,
                             first_read_age_min_min=float(ages[:, 0].min()),
                             first_read_age_min_max=float(ages[:, 0].max()),
                             injection_spread_min=float(run.plate["injected_at_min"].max()
                                                        - run.plate["injected_at_min"].min()),
                             c8_rise_seen=f"{int(rise.sum())}/{rise.size}"))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    args = parser(__doc__, 3.0).parse_args(argv)
    emit(timing_study(args.seed, args.hours), args.out, "timing_study")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
