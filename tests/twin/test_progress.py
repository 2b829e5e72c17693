import pytest

from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import Schedule


def tiny():
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0]].copy()
    pm["well"] = ["A1"]
    return Campaign(name="tiny", plate_map=pm, schedule=Schedule(hours=0.5))


def test_progress_bar_counts_virtual_minutes(capsys):
    run_campaign(tiny(), progress=True)
    err = capsys.readouterr().err
    assert "virtual time" in err and "vmin" in err


@pytest.mark.parametrize("progress", [False, None])
def test_no_bar_when_off_or_not_a_tty(capsys, progress):
    run_campaign(tiny(), progress=progress)  # under pytest stderr is not a TTY
    assert "virtual time" not in capsys.readouterr().err
