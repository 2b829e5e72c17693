"""The PyLabRobot back ends against the real pylabrobot package: its LiquidHandler and PlateReader front ends on an
OTDeck, the OT-2 and Cytation twins behind them."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pylabrobot.liquid_handling import LiquidHandler
from pylabrobot.plate_reading import PlateReader
from pylabrobot.plate_reading.molecular_devices import KineticSettings
from pylabrobot.resources.opentrons import OTDeck

from chemistry import spectral_features
from instruments.errors import ReaderError, TrayError, VolumeError, WavelengthError
from instruments.pylabrobot import EPOCH_S, TwinBench, TwinCytationBackend, TwinOT2Backend


class Setup:
    """A bench with a plate, a solvent reservoir, a vial rack and tips, as a PyLabRobot script builds it."""

    def __init__(self, seed: int = 0):
        self.bench = TwinBench(seed)
        self.deck = OTDeck()
        self.lh = LiquidHandler(backend=TwinOT2Backend(self.bench), deck=self.deck)
        b, d = self.bench, self.deck
        self.plate = b.load(d, "corning_96_wellplate_360ul_flat", 1, "plate")
        self.solvents = b.load(d, "nest_12_reservoir_15ml", 2, "solvents")
        self.vials = b.load(d, "opentrons_24_tuberack_nest_1.5ml_snapcap", 4, "premix")
        self.tips20 = b.load(d, "opentrons_96_tiprack_20ul", 10, "tips_20")
        self.tips300 = b.load(d, "opentrons_96_tiprack_300ul", 9, "tips_300")
        self.reader = PlateReader(name="cytation5", size_x=159.0, size_y=107.0, size_z=20.0,
                                  backend=TwinCytationBackend(self.bench))
        self.tip = {0: iter(self.tips20.get_all_items()), 1: iter(self.tips300.get_all_items())}

    def vial(self, well: str):
        return self.vials[well][0].children[0]

    async def start(self):
        await self.lh.setup()
        await self.reader.setup()
        self.bench.fill(self.solvents["A1"][0], {"toluene": 12_000.0})
        self.bench.fill(self.solvents["A2"][0], {"Cs-oleate/toluene": 12_000.0})

    async def move(self, channel: int, source, dest, uL: float, **kw):
        await self.lh.pick_up_tips([next(self.tip[channel])], use_channels=[channel])
        await self.lh.aspirate([source], vols=[uL], use_channels=[channel])
        await self.lh.dispense([dest], vols=[uL], use_channels=[channel], **kw)
        await self.lh.drop_tips([self.deck.get_trash_area()], use_channels=[channel])

    async def make_well(self, well: str, vial: str, olam_per_oac: float):
        """One paper well: 150 uL toluene, 100 uL Cs-oleate, 15.5 uL + amine of a PbBr2/DMF + OAc + OLAm premix."""
        self.bench.fill(self.vial(vial), {"PbBr2/DMF": 300.0, "OAc": 10.0, "OLAm": 10.0 * olam_per_oac})
        dest = self.plate[well][0]
        await self.move(1, self.solvents["A1"][0], dest, 150.0)
        await self.move(1, self.solvents["A2"][0], dest, 100.0)
        await self.move(0, self.vial(vial), dest, 15.5 + 0.5 * olam_per_oac, blow_out=True, touch_tip=True)

    async def to_reader(self):
        await self.reader.open()
        self.plate.unassign()
        self.reader.assign_child_resource(self.plate)
        await self.reader.close()


def run(coro):
    return asyncio.run(coro)


def test_dispenses_record_each_liquid_with_the_twins_pipetting_error_and_timing():
    s = Setup()

    async def go():
        await s.start()
        t0 = s.bench.now_s
        await s.make_well("A1", "A1", 1.0)
        took_s = s.bench.now_s - t0
        for _ in range(2):  # the same liquid twice into one well: each dispense records its own share
            await s.move(1, s.solvents["A1"][0], s.plate["B1"][0], 75.0)
        return took_s

    took_s = run(go())
    twice = [d["delivered"]["toluene"] for d in s.bench.dispenses if d["well"] == "B1"]
    assert len(twice) == 2 and twice == pytest.approx([75.0, 75.0], rel=0.05)
    assert sum(twice) == pytest.approx(s.bench.contents(s.plate)["B1"]["toluene"])
    contents = s.bench.contents(s.plate)["A1"]
    assert set(contents) == {"toluene", "Cs-oleate/toluene", "PbBr2/DMF", "OAc", "OLAm"}
    assert contents["toluene"] == pytest.approx(150.0, rel=0.05) and contents["toluene"] != 150.0
    assert contents["OAc"] == pytest.approx(contents["OLAm"], rel=1e-9)  # one premix: the ratio is kept
    plate_dispenses = [d for d in s.bench.dispenses if d["well"] == "A1"]
    assert [sorted(d["delivered"]) for d in plate_dispenses] == [
        ["toluene"], ["Cs-oleate/toluene"], ["OAc", "OLAm", "PbBr2/DMF"]]
    # three tips, three moves, ~265 uL through the OT-2's flow rates: tens of virtual seconds
    assert 30.0 < took_s < 120.0
    assert s.bench.labware(s.plate).injected_at_s[0] > 0  # the precursor started the well's clock


def test_the_twins_limits_hold_behind_the_front_end():
    s = Setup()

    async def go():
        await s.start()
        await s.lh.pick_up_tips([next(s.tip[0])], use_channels=[0])
        await s.lh.aspirate([s.solvents["A1"][0]], vols=[0.5], use_channels=[0])  # below the p20's 1 uL

    with pytest.raises(VolumeError, match="below its minimum 1 uL"):
        run(go())
    s = Setup()

    async def wrong_tip():
        await s.start()
        await s.lh.pick_up_tips([next(s.tip[1])], use_channels=[0])  # a 300 uL tip on the p20's channel

    with pytest.raises(RuntimeError, match="Cannot pick up tips on channels"):
        run(wrong_tip())


def test_amine_blue_shifts_the_pl_peak_read_through_the_plate_reader():
    s = Setup()

    async def go():
        await s.start()
        await s.make_well("A1", "A1", 0.1)
        await s.make_well("A2", "A2", 2.0)
        await s.to_reader()
        await s.bench.sleep(3600.0)
        wells = [s.plate["A1"][0], s.plate["A2"][0]]
        spectrum = await s.reader.backend.experimental_read_fluorescence_emission_spectrum(
            s.plate, wells, 365, 400, 650, 2)
        endpoint = await s.reader.read_fluorescence(365, 516, 8.5, wells=wells, use_new_return_type=True)
        return spectrum, endpoint

    spectrum, endpoint = run(go())
    assert len(spectrum) == 126 and [d["em_wavelength"] for d in spectrum[:3]] == [400, 402, 404]
    counts = np.array([[d["data"][0][0], d["data"][0][1]] for d in spectrum]).T  # (well, wavelength)
    peak = spectral_features(np.arange(400, 651, 2), counts).peak_nm
    assert peak[0] - peak[1] > 4.0  # OLAm:OAc 2 is bluer than 0.1
    row = endpoint[0]["data"][0]
    assert row[0] > 1000 and row[1] > 1000 and row[2] is None  # read wells bright, the rest not read
    assert endpoint[0]["ex_wavelength"] == 365 and endpoint[0]["em_wavelength"] == 516


def test_a_kinetic_read_plays_out_in_virtual_time():
    s = Setup()

    async def go():
        await s.start()
        await s.make_well("A1", "A1", 1.0)
        await s.to_reader()
        t0 = s.bench.now_s
        out = await s.reader.read_absorbance(550, wells=[s.plate["A1"][0]], use_new_return_type=True,
                                             kinetic_settings=KineticSettings(interval=3600, num_readings=12))
        return t0, out

    t0, out = run(go())
    starts = np.array([d["start_time"] for d in out]) - EPOCH_S
    assert len(out) == 12
    np.testing.assert_allclose(np.diff(starts), 3600.0)
    assert starts[0] == pytest.approx(t0) and s.bench.now_s > t0 + 11 * 3600
    assert all(0 < d["data"][0][0] < 4 for d in out)


def test_reader_refuses_what_the_cytation_refuses():
    s = Setup()

    async def go(call):
        await s.start()
        await s.make_well("A1", "A1", 1.0)
        await s.to_reader()
        await call()

    well = lambda: [s.plate["A1"][0]]  # noqa: E731
    with pytest.raises(ReaderError, match="focal_height"):
        run(go(lambda: s.reader.read_fluorescence(365, 516, 20.0, wells=well(), use_new_return_type=True)))
    s = Setup()
    with pytest.raises(WavelengthError, match="20 nm above"):
        run(go(lambda: s.reader.backend.experimental_read_fluorescence_emission_spectrum(
            s.plate, well(), 365, 370, 650, 2)))
    s = Setup()

    async def tray_open():
        await s.reader.open()
        await s.reader.read_fluorescence(365, 516, 8.5, wells=well(), use_new_return_type=True)

    with pytest.raises(TrayError, match="tray open"):
        run(go(tray_open))


def test_same_seed_same_reads():
    def once(seed):
        s = Setup(seed)

        async def go():
            await s.start()
            await s.make_well("B3", "A1", 0.5)
            await s.to_reader()
            return await s.reader.backend.experimental_read_fluorescence_emission_spectrum(
                s.plate, [s.plate["B3"][0]], 365, 480, 560, 4)

        return [d["data"][1][2] for d in run(go())]

    assert once(3) == once(3)
    assert once(3) != once(4)


def test_the_bench_refuses_what_the_deck_cannot_hold_and_keeps_both_decks_alike():
    from instruments.errors import LabwareError

    bench, deck = TwinBench(), OTDeck()
    bench.load(deck, "corning_96_wellplate_360ul_flat", 1, "plate")
    with pytest.raises(LabwareError, match="no PyLabRobot resource for 'corning_384_wellplate_112ul_flat'"):
        bench.load(deck, "corning_384_wellplate_112ul_flat", 2, "p384")
    with pytest.raises(LabwareError, match="slot 1 already holds plate"):
        bench.load(deck, "nest_12_reservoir_15ml", 1, "solvents")
    assert [lw.name for lw in bench.deck] == ["plate"]
    assert [r.name for r in deck.slots if r is not None] == ["plate", "trash_container"]
