"""``larp-twin run --group-by COLUMN`` (figures of a custom plate) and ``--pace X`` (a twin run slowed down to be
watched)."""

import time

import pytest

from twin.cli import main

#: a custom plate: one ligand series at three PbBr2 levels, no 'group' column, a 'batch' column
PLATE = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL,batch\n" + "".join(
    f"{'ABC'[k]}{j + 1},toluene,150,100,{pb},OAc,0.5,OLAm,{0.5 * r:g},day {j % 2 + 1}\n"
    for k, pb in enumerate((7.5, 10, 15)) for j, r in enumerate((0.1, 1.0, 2.0)))
SHORT = ["--hours", "0.5", "--every-min", "10", "--quiet"]


@pytest.fixture
def plate(tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text(PLATE)
    return path


def test_default_figures_of_a_custom_plate_keep_the_pbbr2_levels_apart(plate, tmp_path):
    assert main(["run", str(plate), "--out", str(tmp_path / "run"), *SHORT]) == 0
    names = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {f"heatmaps_toluene_OAc_OLAm_1_{r}_1.png" for r in (15, 20, 30)} <= names
    assert "ratio_summary.png" in names


def test_group_by_a_plate_map_column(plate, tmp_path):
    assert main(["run", str(plate), "--out", str(tmp_path / "run"), "--group-by", "batch", *SHORT]) == 0
    names = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {"heatmaps_day_1_1.png", "heatmaps_day_2_1.png", "ratio_summary.png"} <= names
    assert not any("1_15" in n for n in names)


def test_group_by_an_unknown_column_is_refused_before_the_run(plate, tmp_path, capsys):
    assert main(["run", str(plate), "--out", str(tmp_path / "run"), "--group-by", "btch", *SHORT]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no column 'btch'" in err and "batch" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["0", "-2", "inf"])
def test_pace_must_be_positive(plate, tmp_path, capsys, value):
    assert main(["run", str(plate), "--out", str(tmp_path / "run"), "--pace", value, *SHORT]) == 2
    assert "--pace" in capsys.readouterr().err


def test_pace_plays_the_reads_at_x_times_real_time(plate, tmp_path):
    from twin.platemap import read_plate_map
    from twin.campaign import Campaign
    from twin.config import Schedule
    from twin.records.resume import run_durable

    campaign = Campaign(name="paced", plate_map=read_plate_map(plate).iloc[:2],
                        schedule=Schedule(hours=0.5, every_min=10, emission_step_nm=25))
    seen = []  # (wall s, virtual s) of each read, as the journal gets it
    run_durable(campaign, tmp_path / "run", figures=False, pace=600,
                subscribers=[lambda name, doc: seen.append((time.monotonic(), doc["end_s"])) if name == "read"
                             else None])
    assert len(seen) == 4
    (w0, v0), (w1, v1) = seen[0], seen[-1]
    assert v1 - v0 > 1500  # 30 virtual minutes of reads ...
    assert (w1 - w0) >= (v1 - v0) / 600 * 0.95  # ... at 600 x real time: at least 2.5 wall seconds
    assert (w1 - w0) < (v1 - v0) / 600 + 2.0
