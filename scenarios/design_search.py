"""What-if: search a plate of conditions for the brightest stable green (515-525 nm) emitters over 12 h."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scenarios import plates
from scenarios._whatif import emit, parser, summary
from scenarios.measure import run_plate_map

GREEN_NM = (515.0, 525.0)
ANTISOLVENTS = ("toluene", "xylene", "hexane")
RATIOS = tuple(np.round(np.arange(1, 11) * 0.1, 1))  # 1:0.1 .. 1:1


def design_plate(antisolvents=ANTISOLVENTS, ratios=RATIOS, acid_per_pbbr2=(30, 20, 15)) -> pd.DataFrame:
    """OAc:OLAm across ``ratios`` x acid:PbBr2 (PbBr2 varied, acid fixed) x antisolvents: 90 wells by default."""
    parts = [plates.pbbr2_series(s, "OAc:OLAm", a, ratios=ratios) for s in antisolvents for a in acid_per_pbbr2]
    return plates.place(pd.concat(parts))


def design_search(seed: int = 0, hours: float = 12.0, min_retention: float = 0.8, top: int = 10) -> pd.DataFrame:
    """The ``top`` conditions whose peak stays in 515-525 nm from first to last read with intensity retention >=
    ``min_retention``, brightest (last read) first."""
    t = summary(run_plate_map(design_plate(), "design-search", seed=seed, hours=hours))
    green = t["peak_nm_t0"].between(*GREEN_NM) & t["peak_nm_end"].between(*GREEN_NM)
    stable = t["intensity_retention"] >= min_retention
    cols = ["well", "antisolvent", "acid_to_pbbr2", "amine_per_acid", "peak_nm_t0", "peak_nm_end", "fwhm_nm_end",
            "height_end", "intensity_retention"]
    return t[green & stable].sort_values("height_end", ascending=False)[cols].head(top).reset_index(drop=True)


def main(argv=None) -> int:
    args = parser(__doc__, 12.0).parse_args(argv)
    emit(design_search(args.seed, args.hours), args.out, "design_search")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
