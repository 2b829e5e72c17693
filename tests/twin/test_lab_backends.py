"""The campaign runner on the real drivers: the OT-2 driver on opentrons' simulator, the Cytation driver over a pty."""

import numpy as np
import pytest

from instruments.cytation import Cytation5Emulator, LinkSettings
from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import LabConfig, Schedule


def tiny_map():
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 19]].copy()
    pm["well"] = ["A1", "A2"]
    return pm


def test_campaign_reads_through_the_serial_driver_and_emulator():
    with Cytation5Emulator(time_factor=0.0005, line_rate=False) as emu:
        lab = LabConfig(reader="cytation-serial", reader_port=emu.port,
                        reader_link=LinkSettings(wait_for_temperature=False))
        c = Campaign(name="serial", plate_map=tiny_map(), lab=lab,
                     schedule=Schedule(hours=0.3, every_min=10, emission_step_nm=25))
        r = run_campaign(c, progress=False)
    assert r.manifest["backends"]["reader"] == "cytation-serial"
    assert r.dataset["intensity"].shape == (2, r.manifest["reads"], 11)
    assert r.manifest["reads"] >= 2 and np.isfinite(r.dataset["intensity"].values).all()
    assert emu.state.commands.count("O") >= 11 * r.manifest["reads"]


def test_serial_backend_needs_a_port():
    with pytest.raises(ValueError, match="needs reader_port"):
        LabConfig(reader="cytation-serial")


@pytest.mark.ot2
@pytest.mark.filterwarnings("ignore")
def test_campaign_prep_through_the_ot2_driver_on_the_opentrons_simulator():
    c = Campaign(name="ot2", plate_map=tiny_map(), lab=LabConfig(pipettor="ot2-sim"),
                 schedule=Schedule(hours=0.2))
    r = run_campaign(c, progress=False)
    # the real driver reports no pipetting error: what reached the wells is what was asked
    assert np.allclose(r.plate["dispensed_pbbr2_uL"], 15.0) and r.plate["injected_at_min"].notna().all()
    cmds = [e["command"] for e in r.logs["pipettor"]]
    assert cmds.count("dispense") > 4 and r.manifest["backends"]["pipettor"] == "ot2-sim"


def test_real_robot_requires_realtime():
    with pytest.raises(ValueError, match="realtime=True"):
        LabConfig(pipettor="ot2")


def test_gen5_folder_backend_needs_a_folder(tmp_path):
    with pytest.raises(ValueError, match="needs reader_folder"):
        LabConfig(reader="gen5-folder")
    assert LabConfig(reader="gen5-folder", reader_folder=str(tmp_path)).reader == "gen5-folder"
