"""``python -m scenarios.pylabrobot_demo``: the paper's toluene plate through the real pylabrobot package, against
``larp-twin run`` of the same plate map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenarios import build_campaign, get_scenario
from scenarios.pylabrobot_demo import late_peak_nm, main
from twin.campaign import run_campaign

#: twin seeds to compare with (the demo runs seed 0: its reader draws the same well scatter as twin seed 0)
TWIN_SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("plr") / "demo"
    assert main(["--out", str(out), "--seed", "0"]) == 0
    return out


@pytest.fixture(scope="module")
def twin_late_peaks() -> pd.DataFrame:
    """Each well's median PL peak over its last 2 h in ``larp-twin run paper-toluene`` for each of TWIN_SEEDS."""
    cols = {}
    for seed in TWIN_SEEDS:
        spectra = run_campaign(build_campaign("paper-toluene"), seed=seed, progress=False).spectra_long()
        cols[seed] = late_peak_nm(spectra.rename(columns={"intensity": "rfu"}))
    return pd.DataFrame(cols)


def test_writes_reads_csv_of_twelve_hours_and_a_figure(demo):
    reads = pd.read_csv(demo / "reads.csv")
    assert list(reads.columns) == ["well", "time_min", "wavelength_nm", "rfu"]
    assert reads["well"].nunique() == 40 and reads["wavelength_nm"].nunique() == 126
    assert len(reads) == 40 * 126 * 103  # back to back, 7 min a read: the lab's 103 reads in 12 h
    assert 11.5 * 60 < reads["time_min"].max() < 13 * 60
    assert (demo / "pylabrobot_demo.png").stat().st_size > 20_000
    dispenses = pd.read_csv(demo / "dispenses.csv")
    injections = dispenses[(dispenses["labware"] == "plate") & dispenses["PbBr2/DMF_uL"].notna()]
    assert len(injections) == 40 and injections["OLAm_uL"].notna().all()


def test_peaks_follow_the_dispensed_amine_to_acid_ratio(demo):
    reads = pd.read_csv(demo / "reads.csv")
    dispensed = pd.read_csv(demo / "dispenses.csv")
    plate = dispensed[dispensed["labware"] == "plate"].groupby("well")[["OAc_uL", "OLAm_uL"]].sum()
    ratio = plate["OLAm_uL"] / plate["OAc_uL"]
    peak = late_peak_nm(reads)
    series = get_scenario("paper-toluene").plate_map().set_index("well")["acid_to_pbbr2"]
    for label in ("1:30", "1:15"):
        wells = series.index[series == label]
        rho = pd.Series(peak[wells]).corr(ratio[wells], method="spearman")
        # -0.7, not -0.8: below equimolar extra OLAm pairs with an acid already counted (chemistry/kinetics.py,
        # issue 21), so the acid-majority half is nearly flat and its ranks there are the wells' scatter
        assert rho < -0.7, f"{label}: peak vs OLAm:OAc Spearman {rho:.2f}"
        low, high = wells[ratio[wells] <= 0.5], wells[ratio[wells] >= 1.5]
        assert peak[low].mean() - peak[high].mean() > 4.0  # blue-shift with amine


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def test_agrees_with_larp_twin_run_within_its_seed_to_seed_scatter(demo, twin_late_peaks):
    """The demo is one more draw of the twin: as far from the seeds' mean as a seed is from the others' mean."""
    twin = twin_late_peaks
    peak = late_peak_nm(pd.read_csv(demo / "reads.csv"))[twin.index]
    mean = twin.mean(axis=1)
    seed_rms = [_rms(twin[s] - twin.drop(columns=s).mean(axis=1)) for s in twin.columns]
    demo_rms = _rms(peak - mean)
    print(f"demo {demo_rms:.2f} nm RMS; seeds {[round(x, 2) for x in seed_rms]}; pooled sd "
          f"{_rms(twin.std(axis=1, ddof=1)):.2f}; worst {(peak - mean).abs().max():.2f} nm")
    assert demo_rms < 1.3 * max(seed_rms), (demo_rms, seed_rms)
    pooled_sd = _rms(twin.std(axis=1, ddof=1))
    worst = (peak - mean).abs()
    assert worst.max() < 5 * pooled_sd, (worst.sort_values().tail(3), pooled_sd)
