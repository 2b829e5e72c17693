"""The pyserial Cytation driver against the protocol emulator over a real pty (os.openpty), through the front end."""

import threading
import time

import numpy as np
import pytest

from instruments.cytation import protocol as p
from instruments.cytation.driver import CytationSerialReader, LinkSettings
from instruments.cytation.emulator import Cytation5Emulator, gaussian_source, sim_reader_source
from instruments.errors import ReaderError, TrayError, WavelengthError
from instruments.labware import Labware
from instruments.clock import Clock

FACTOR = 0.001  # emulated reads take 1/1000 of the real unit's time
FAST = dict(query_timeout_s=0.3, command_timeout_s=2.0, fluorescence_timeout_s=2.0, absorbance_timeout_s=2.0,
            abort_settle_s=0.05, temperature_poll_s=0.02, temperature_timeout_s=5.0)


@pytest.fixture
def emulator():
    with Cytation5Emulator(time_factor=FACTOR) as emu:
        yield emu


def connected(emu, **settings):
    clock = Clock()
    reader = CytationSerialReader(clock, emu.port, settings=LinkSettings(**{**FAST, **settings}))
    reader.connect()
    return clock, reader


def loaded(emu, **settings):
    clock, reader = connected(emu, **settings)
    clock.run_process(reader.open_tray())
    reader.load_plate(Labware("corning_96_wellplate_360ul_flat", name="plate"))
    clock.run_process(reader.close_tray())
    return clock, reader


def expected(wells, excitation_nm, wavelength_nm, source=None):
    source = source or gaussian_source()
    rows = np.array([ord(w[0]) - 65 for w in wells])
    cols = np.array([int(w[1:]) - 1 for w in wells])
    return np.stack([source(rows, cols, excitation_nm, em) for em in wavelength_nm], axis=1)


def test_connect_reads_firmware_serial_and_temperature(emulator):
    _, reader = connected(emulator)
    assert reader.firmware == "2.09"
    assert reader.serial_number() == "23030927"
    assert reader.current_temperature_C() == pytest.approx(25.0)
    reader.close()


def test_falls_back_to_38400_baud_when_9600_gets_no_reply():
    with Cytation5Emulator(time_factor=FACTOR, baudrate=38400) as emu:
        _, reader = connected(emu)
        assert reader.ser.baudrate == 38400 and reader.log[0]["baudrate"] == 38400


def test_wrong_baud_rate_raises_a_timeout_naming_the_rates_tried():
    with Cytation5Emulator(time_factor=FACTOR, baudrate=19200) as emu:
        with pytest.raises(p.LinkTimeout, match="9600 or 38400"):
            connected(emu)


def test_unplugged_device_is_a_reader_error_naming_the_port():
    reader = CytationSerialReader(Clock(), "/dev/does-not-exist", settings=LinkSettings(**FAST))
    with pytest.raises(ReaderError, match="does-not-exist"):
        reader.connect()


def test_pl_scan_through_the_front_end_returns_the_emulated_counts(emulator):
    clock, reader = loaded(emulator)
    wells = ["A1", "A2", "B1", "B2", "C5"]
    start = clock.now
    read = clock.run_process(reader.read_pl(wells, emission_start_nm=500, emission_stop_nm=530,
                                            emission_step_nm=10))
    assert read.wells == wells and read.counts.shape == (5, 4)
    np.testing.assert_array_equal(read.counts, expected(wells, 365.0, read.wavelength_nm))
    # the virtual clock advanced by the measured wall time of the four emulated wavelengths
    assert clock.now - start == pytest.approx(sum(t["wall_s"] for t in reader.timings), rel=1e-6)
    assert [t["rectangles"] for t in reader.timings] == [2] * 4
    assert emulator.state.commands.count("O") >= 8


def test_refused_checksum_band_is_avoided_by_growing_the_rectangle(emulator):
    clock, reader = loaded(emulator)
    # ex 360 / em 400 on A1:C3 has checksum 95, which a real Cytation 5 refuses (2D06)
    wells = [f"{r}{c}" for r in "ABC" for c in (1, 2, 3)]
    read = clock.run_process(reader.read_pl(wells, excitation_nm=360, emission_start_nm=400, emission_stop_nm=420,
                                            emission_step_nm=10))
    np.testing.assert_array_equal(read.counts, expected(wells, 360.0, read.wavelength_nm))
    assert reader.timings[0]["extra_wells"] > 0
    assert not any(e["command"] == "read_refused" for e in reader.log)


def test_unexpected_refusals_are_retried_a_bounded_number_of_times():
    with Cytation5Emulator(time_factor=FACTOR, refused_checksums=range(100)) as emu:
        clock, reader = loaded(emu, refusal_retries=2)
        with pytest.raises(p.StatusError, match="refused") as info:
            clock.run_process(reader.read_pl(["A1"], emission_start_nm=500, emission_stop_nm=510,
                                             emission_step_nm=10))
        assert info.value.status == "2D06"
        assert sum(e["command"] == "read_refused" for e in reader.log) == 3
        assert np.isnan(info.value.partial_counts).all()


def test_read_with_the_tray_ejected_at_the_front_panel_is_a_tray_error(emulator):
    clock, reader = loaded(emulator)
    emulator.press_eject()
    with pytest.raises(TrayError, match="tray is out"):
        clock.run_process(reader.read_pl(["A1"], emission_start_nm=500, emission_stop_nm=510, emission_step_nm=10))


def test_out_of_range_emission_refused_by_the_unit_is_a_wavelength_error(emulator):
    clock, reader = loaded(emulator)
    # bypass the front end's own range check to see the unit's refusal mapped to a typed error
    with pytest.raises(WavelengthError):
        clock.run_process(reader._hw_read_pl(np.array([0]), 365.0, np.array([710.0]), 100))


def test_failure_mid_scan_keeps_the_wavelengths_already_read(emulator):
    clock, reader = loaded(emulator)
    gen = reader.read_pl(["A1", "A2"], emission_start_nm=500, emission_stop_nm=530, emission_step_nm=10)

    def eject_after_two():
        while len(reader.timings) < 2:
            time.sleep(0.001)
        emulator.press_eject()

    threading.Thread(target=eject_after_two, daemon=True).start()
    with pytest.raises(TrayError) as info:
        clock.run_process(gen)
    done = info.value.wavelengths_done
    assert 2 <= done.sum() < 4
    assert np.isfinite(info.value.partial_counts[:, done]).all()
    assert np.isnan(info.value.partial_counts[:, ~done]).all()


def test_absorbance_read_over_the_wire(emulator):
    clock, reader = loaded(emulator)
    read = clock.run_process(reader.read_absorbance(["A1", "H12"], wavelength_nm=450))
    np.testing.assert_allclose(read.od, [0.05, 0.05 + 0.07 + 0.011])


def test_absorbance_spectrum_is_one_endpoint_read_per_wavelength_over_the_wire(emulator):
    clock, reader = loaded(emulator)
    read = clock.run_process(reader.read_absorbance_spectrum(["A1", "H12"], start_nm=440, stop_nm=460, step_nm=10))
    assert read.od.shape == (2, 3) and read.wavelength_nm.tolist() == [440, 450, 460]
    np.testing.assert_allclose(read.od[:, 1], [0.05, 0.05 + 0.07 + 0.011])
    assert [t["wavelength_nm"] for t in reader.timings if t["kind"] == "absorbance"] == [440, 450, 460]


def test_tray_commands_and_plate_geometry_reach_the_unit(emulator):
    clock, reader = loaded(emulator)
    assert emulator.state.tray_out is False
    assert emulator.state.geometry.rows == 8 and emulator.state.geometry.columns == 12
    clock.run_process(reader.open_tray())
    assert emulator.state.tray_out is True


def test_set_temperature_waits_for_the_incubator(emulator):
    clock, reader = connected(emulator)
    clock.run_process(reader.set_temperature(30.0))
    assert emulator.state.set_point_C == 30.0
    assert reader.current_temperature_C() == pytest.approx(30.0, abs=0.5)
    assert clock.now > 0


def test_abort_leaves_a_stale_reply_that_resync_clears(emulator):
    _, reader = connected(emulator)
    reader.ser.write(b"x")
    time.sleep(0.01)
    with pytest.raises(p.ProtocolError):
        # without a purge the next query reads the abort's late '0000' instead of a temperature
        time.sleep(emulator.timing.abort_reply_s * FACTOR + 0.05)
        p.parse_temperature(p.decode_reply(reader._read_until(p.ETX, 1.0, "stale")))
    reader.abort()
    assert reader.current_temperature_C() == pytest.approx(25.0)


def test_a_reply_that_never_ends_times_out_and_is_retried(emulator):
    _, reader = connected(emulator, link_retries=1)
    emulator.hang_next_reply = True
    assert reader.serial_number() == "23030927"
    assert any(e["command"] == "link_retry" for e in reader.log)


def test_without_retries_a_hung_reply_is_a_link_timeout(emulator):
    _, reader = connected(emulator, link_retries=0)
    emulator.hang_next_reply = True
    with pytest.raises(p.LinkTimeout, match="'C'"):
        reader.serial_number()


def test_garbled_frame_is_retried(emulator):
    _, reader = connected(emulator, link_retries=1)
    emulator.garble_next_reply = True
    assert reader.current_temperature_C() == pytest.approx(25.0)


def test_sim_plate_reader_physics_behind_the_wire():
    from instruments.sim import SimPlateReader

    sim_clock = Clock()
    sim = SimPlateReader(sim_clock, rng=np.random.default_rng(0))
    sim_clock.run_process(sim.open_tray())
    plate = Labware("corning_96_wellplate_360ul_flat", name="plate")
    plate.add(0, {"toluene": 150, "Cs-oleate/toluene": 100, "PbBr2/DMF": 15, "OAc": 0.5, "OLAm": 0.05})
    plate.injected_at_s[0] = 0.0
    plate.add(1, {"toluene": 150, "Cs-oleate/toluene": 100})  # blank
    sim.load_plate(plate)
    sim_clock.run_process(sim.close_tray())
    with Cytation5Emulator(time_factor=FACTOR, source=sim_reader_source(sim, at_s=lambda: 600.0)) as emu:
        clock, reader = loaded(emu)
        read = clock.run_process(reader.read_pl(["A1", "A2"], emission_start_nm=480, emission_stop_nm=540,
                                                emission_step_nm=10))
    bright, blank = read.counts
    assert np.nanmax(bright) > 20 * np.nanmax(blank)
    assert blank.max() <= 40


def test_body_arriving_in_the_same_chunk_as_the_start_reply_is_not_lost():
    from instruments.cytation.emulator import EmulatorTiming

    instant = EmulatorTiming(query_s=0, param_s=0, tray_out_s=0, tray_in_s=0, fluorescence_fixed_s=0,
                             absorbance_fixed_s=0, per_well_s=0, abort_reply_s=0)
    with Cytation5Emulator(timing=instant, line_rate=False) as emu:
        clock, reader = loaded(emu)
        read = clock.run_process(reader.read_pl(["A1", "B2"], emission_start_nm=500, emission_stop_nm=540,
                                                emission_step_nm=2))
    np.testing.assert_array_equal(read.counts, expected(["A1", "B2"], 365.0, read.wavelength_nm))
