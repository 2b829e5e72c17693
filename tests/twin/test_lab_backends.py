"""The campaign runner on the real drivers: the OT-2 driver on opentrons' simulator, the Cytation driver over a pty."""

import os
import time
import warnings

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


def test_gen5_folder_campaign_on_copied_exports_of_the_twin(tmp_path):
    """LabConfig(reader_include_existing=True): a campaign reads exports copied into the folder before it started."""
    from instruments.cytation.gen5 import write_gen5_spectra
    from scenarios import build_campaign

    twin = run_campaign(build_campaign("paper-toluene", schedule=Schedule(hours=0.5)), seed=3, progress=False)
    cube = twin.dataset["intensity"]  # well x read x wavelength
    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(3):
        path = write_gen5_spectra(folder / f"read_{k + 1:03d}.txt", list(cube["well"].values),
                                  cube["wavelength_nm"].values, cube.values[:, k, :], excitation_nm=365, gain=100)
        os.utime(path, (time.time() - 600 + k,) * 2)
    lab = LabConfig(reader="gen5-folder", reader_folder=str(folder), reader_include_existing=True,
                    reader_timeout_s=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_campaign(build_campaign("paper-toluene", schedule=Schedule(hours=2 * 10 / 60, every_min=10),
                                             lab=lab), progress=False)
    assert not [w for w in caught if "one scan" in str(w.message)]  # Gen5 times the scans, not the reader twin
    assert result.manifest["reads"] == 3 and result.manifest["backends"]["reader"] == "gen5-folder"
    np.testing.assert_array_equal(result.dataset["intensity"].values, cube.values[:, :3, :])
