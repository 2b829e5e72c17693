import numpy as np
import pytest

from instruments.errors import LabwareError, ReaderError, TemperatureError, TrayError, WavelengthError
from instruments.labware import Labware
from instruments.sim import SimPlateReader
from instruments.clock import Clock


def make_plate(n_bright=4):
    plate = Labware("corning_96_wellplate_360ul_flat", name="plate")
    for i in range(n_bright):
        plate.add(i, {"toluene": 150, "Cs-oleate/toluene": 100, "PbBr2/DMF": 15, "OAc": 0.5, "OLAm": 0.05 * (i + 1)})
        plate.injected_at_s[i] = 0.0
    plate.add(n_bright, {"toluene": 150, "Cs-oleate/toluene": 100})  # blank: no precursor
    return plate


@pytest.fixture
def reader():
    clock = Clock()
    r = SimPlateReader(clock, rng=np.random.default_rng(0))
    clock.run_process(r.open_tray())
    r.load_plate(make_plate())
    clock.run_process(r.close_tray())
    return clock, r


def read(clock, r, **kw):
    return clock.run_process(r.read_pl(**kw))


def test_reads_every_filled_well_on_the_paper_grid(reader):
    clock, r = reader
    s = read(clock, r)
    assert s.wells == ["A1", "A2", "A3", "A4", "A5"]
    assert s.counts.shape == (5, 126) and s.wavelength_nm[0] == 400 and s.wavelength_nm[-1] == 650
    peak = s.wavelength_nm[np.nanargmax(s.counts[0])]
    assert 505 <= peak <= 530
    assert np.all(s.counts == np.rint(s.counts))


def test_blank_well_reads_dark_counts_like_the_papers_blanks(reader):
    clock, r = reader
    blank = read(clock, r).counts[4]
    assert blank.min() >= 0 and blank.max() <= 25 and 3 < blank.mean() < 15


def test_scan_time_follows_cytation_sweep_figures(reader):
    clock, r = reader
    t0 = clock.now
    read(clock, r)
    # 5 wells x 126 wavelengths: 11 s + 126 x (0.5 + 0.0686 x 5) s ~ 2.0 min
    assert 1.5 * 60 < clock.now - t0 < 2.5 * 60
    lab = r.timing.scan_s(40, 126)
    assert 6.8 * 60 < lab < 7.2 * 60  # the lab's record: 40 wells x 126 wavelengths in ~7 min, 103 reads in 12 h
    assert int(12 * 3600 // lab) + 1 == 103
    full = r.timing.scan_s(96, 126)
    assert 14 * 60 < full < 16 * 60  # a full plate: more wells, same monochromator steps
    assert r.timing.scan_s(40, 63) < 0.51 * lab + r.timing.read_overhead_s  # half the wavelengths, ~half the time


def test_saturation_reported_as_overflow(reader):
    clock, r = reader
    s = read(clock, r, gain=200)
    assert s.overflow[0].any() and np.isnan(s.counts[0]).any()
    assert not s.overflow[4].any()


def test_reading_with_tray_open_is_refused(reader):
    clock, r = reader
    clock.run_process(r.open_tray())
    with pytest.raises(TrayError, match="tray open"):
        read(clock, r)


@pytest.mark.parametrize("kw, err, match", [
    (dict(excitation_nm=200), WavelengthError, r"excitation_nm=200.*250..700"),
    (dict(emission_stop_nm=800), WavelengthError, r"emission_stop_nm=800.*250..700"),
    (dict(emission_start_nm=370), WavelengthError, "at least 20 nm above"),
    (dict(emission_step_nm=0), WavelengthError, "emission_step_nm must be > 0"),
    (dict(gain=300), ReaderError, r"gain=300.*25..255"),
    (dict(wells=["A1", "Q3"]), LabwareError, r"unknown well 'Q3'"),
])
def test_limits(reader, kw, err, match):
    clock, r = reader
    with pytest.raises(err, match=match):
        read(clock, r, **kw)


def test_temperature_range(reader):
    clock, r = reader
    with pytest.raises(TemperatureError, match=r"temperature_C=80.0.*18..65"):
        clock.run_process(r.set_temperature(80))
    t0 = clock.now
    clock.run_process(r.set_temperature(30))
    assert r.temperature_C == 30 and clock.now - t0 == pytest.approx(300)


def test_plate_handling_rules():
    clock = Clock()
    r = SimPlateReader(clock)
    with pytest.raises(TrayError, match="tray is closed"):
        r.load_plate(make_plate())
    with pytest.raises(TrayError, match="no plate loaded"):
        clock.run_process(r.read_pl())


def test_absorbance_band_edge(reader):
    clock, r = reader
    below_edge = clock.run_process(r.read_absorbance(["A1", "A5"], wavelength_nm=450))
    assert np.isnan(below_edge.od[0]) and below_edge.od[1] < 0.02  # concentrated NCs overflow (> 4 OD)
    past_edge = clock.run_process(r.read_absorbance(["A1", "A5"], wavelength_nm=540))
    assert past_edge.od[0] > past_edge.od[1] + 0.1
    with pytest.raises(WavelengthError):
        clock.run_process(r.read_absorbance(["A1"], wavelength_nm=1200))


def test_same_seed_same_counts():
    def counts(seed):
        clock = Clock()
        r = SimPlateReader(clock, rng=np.random.default_rng(seed))
        clock.run_process(r.open_tray())
        r.load_plate(make_plate())
        clock.run_process(r.close_tray())
        return clock.run_process(r.read_pl()).counts

    assert np.array_equal(counts(1), counts(1), equal_nan=True)
    assert not np.array_equal(counts(1), counts(2), equal_nan=True)
