"""A Cytation 5 reader emulator that speaks the serial protocol on a pseudo-terminal, for testing the real driver.

The emulator owns the master side of an ``os.openpty()`` pair and serves it from a background thread; the driver
opens the slave path (``emulator.port``) with pyserial exactly as it would open the FTDI port of a real unit.
What it models (``docs/cytation_facts.md`` part 1):

- framing (ACK/ETX, parameter commands), ``e`` firmware, ``C`` serial, ``h``/``g`` temperature with a ramp,
  ``J``/``A`` tray out/in (``0000`` / ``5A00``), ``y`` geometry, ``t`` optics height, ``D`` read definitions
  (length and checksum checked), ``O`` start -> ``0000`` + data body in serpentine order, ``*******`` overrange;
- refusals: ``2D06`` for checksums 94..99 (as a real fw-2.09 unit) and for an invalid or missing definition;
  assumed codes ``2C01`` (tray out) and ``2C02`` (wavelength outside 250..700 nm) -- the real codes are unknown;
- ``x`` abort: cancels a running read and *answers* ``ACK 0000 ETX`` after a delay, the stale reply that
  desynchronises a driver that does not purge;
- the line rate: a reply takes 11 bits per byte at the configured baud; a driver at another baud rate gets no reply
  (the emulator reads the slave's termios through the master, so pyserial's baud setting is what counts);
- timing: every delay is the real unit's (measured) duration times ``time_factor``;
- injected faults (``faults=``, a ``twin.faults.FaultInjector``, duck-typed ``fire(kind, now_s, **context)``),
  consulted at every read start ``O`` (``reader_timeout``: the reply never ends; ``read_refused``: ``2D06``;
  ``garbled_frame``: broken framing), tray move ``J``/``A`` (``tray_jam``: assumed status ``2C04``) and
  temperature query ``h`` (``temperature_excursion``), on the emulated instrument's clock (wall seconds since
  ``start()`` divided by ``time_factor``), so the real serial driver meets them.

Counts come from a pluggable ``source(rows, cols, excitation_nm, emission_nm) -> counts`` (rows/cols 0-based numpy
arrays); ``sim_reader_source`` plugs in the project's ``SimPlateReader`` (chemistry + detector model).
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from instruments.cytation import protocol as p

EmissionSource = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]
AbsorbanceSource = Callable[[np.ndarray, np.ndarray, float], np.ndarray]

#: ASSUMED status of a jammed tray (the real firmware's code is not documented).
STATUS_TRAY_JAM_ASSUMED = "2C04"

_BAUD_CONSTANTS = {getattr(termios, f"B{b}"): b for b in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)}


def gaussian_source(peak_nm: float = 515.0, fwhm_nm: float = 22.0, peak_counts: float = 20_000.0,
                    baseline_counts: float = 10.0) -> EmissionSource:
    """A fixed Gaussian emission, brighter down the plate (so wells are distinguishable in tests)."""
    sigma = fwhm_nm / 2.3548

    def source(rows, cols, excitation_nm, emission_nm):
        scale = peak_counts * (1 + 0.1 * np.asarray(rows) + 0.01 * np.asarray(cols))
        return np.rint(baseline_counts + scale * np.exp(-0.5 * ((emission_nm - peak_nm) / sigma) ** 2))

    return source


def flat_absorbance(rows, cols, wavelength_nm):
    return 0.05 + 0.01 * np.asarray(rows) + 0.001 * np.asarray(cols)


def sim_reader_source(sim, at_s: Callable[[], float] | None = None, gain: int = 100) -> EmissionSource:
    """Counts from a ``SimPlateReader`` with a loaded plate: its chemistry's emission at ``at_s()`` and its detector.

    ``at_s`` gives the campaign time of each read (default: the sim's clock). Counts at or above the sim's
    saturation come back as NaN and go on the wire as ``*******``. Excitation other than 365 nm is not rescaled.
    """

    def source(rows, cols, excitation_nm, emission_nm):
        t = at_s() if at_s is not None else sim.clock.now
        expected = sim.expected_emission(t, np.array([float(emission_nm)]))[:, 0]
        idx = np.asarray(rows) * sim.plate.type.columns + np.asarray(cols)
        return sim.detect(expected[idx], gain)

    return source


@dataclass
class EmulatorTiming:
    """Real-unit durations (s) before ``time_factor``: 9-well fluorescence ~20 s, absorbance ~14 s (facts 1.8)."""

    query_s: float = 0.03
    param_s: float = 0.05
    tray_out_s: float = 1.0
    tray_in_s: float = 6.0
    fluorescence_fixed_s: float = 15.5
    absorbance_fixed_s: float = 9.3
    per_well_s: float = 0.5
    abort_reply_s: float = 0.3


@dataclass
class EmulatorState:
    tray_out: bool = False
    temperature_C: float = 25.0
    set_point_C: float | None = None
    geometry: p.PlateGeometry | None = None
    optics_param: str | None = None
    definition: p.ReadDefinition | None = None
    definition_error: str | None = None
    commands: list[str] = field(default_factory=list)


class Cytation5Emulator:
    """Serves the Cytation 5 reader protocol on a pty; use as a context manager or ``start()``/``stop()``."""

    def __init__(self, *, source: EmissionSource | None = None, absorbance_source: AbsorbanceSource | None = None,
                 time_factor: float = 1.0, baudrate: int = 9600, serial_number: str = "23030927",
                 firmware: str = "2.09", refused_checksums=p.REFUSED_CHECKSUMS,
                 timing: EmulatorTiming | None = None, heating_C_per_min: float = 1.0, line_rate: bool = True,
                 faults=None):
        self.source = source or gaussian_source()
        self.absorbance_source = absorbance_source or flat_absorbance
        self.time_factor = float(time_factor)
        self.baudrate = int(baudrate)
        self.serial_number = serial_number
        self.firmware = firmware
        self.refused_checksums = frozenset(refused_checksums)
        self.timing = timing or EmulatorTiming()
        self.heating_C_per_min = heating_C_per_min
        self.line_rate = line_rate
        self.state = EmulatorState()
        #: set to make the next reply never end (no ETX): tests the driver's timeout
        self.hang_next_reply = False
        #: set to corrupt the next reply's framing
        self.garble_next_reply = False
        self._master = self._slave = None
        self._thread = None
        self._stop = threading.Event()
        self._pending = bytearray()
        self._last_temp_update = time.monotonic()
        self.faults = faults
        self._t0 = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "Cytation5Emulator":
        self._t0 = time.monotonic()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo before (or after) pyserial opens it
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._serve, name="cytation5-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> "Cytation5Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def press_eject(self) -> None:
        """The front-panel eject button: the tray goes out without the driver knowing."""
        self.state.tray_out = True

    def now_s(self) -> float:
        """Emulated instrument time: wall seconds since ``start()`` divided by ``time_factor``."""
        elapsed = time.monotonic() - self._t0
        return elapsed / self.time_factor if self.time_factor > 0 else elapsed

    def _fault(self, kind: str, **context) -> object | None:
        """Ask the injector about one opportunity; an injected error or a returned fault both mean 'it fired'."""
        if self.faults is None:
            return None
        try:
            return self.faults.fire(kind, self.now_s(), **context)
        except Exception as exc:  # the injector raises the driver-side error type; here we only act on it
            return exc

    # -- I/O helpers ------------------------------------------------------------------------------------------
    def _link_matches(self) -> bool:
        attrs = termios.tcgetattr(self._master)  # on Linux the master reports the slave's termios
        return _BAUD_CONSTANTS.get(attrs[5]) == self.baudrate

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds * time_factor`` while collecting input; False if an abort (``x``) arrived."""
        deadline = time.monotonic() + seconds * self.time_factor
        while True:
            if b"x" in self._pending:
                return False
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return True
            self._read_into_pending(min(left, 0.05))

    def _read_into_pending(self, timeout: float) -> None:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if ready:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if self._link_matches():
                self._pending += data
            # at another baud rate the UART sees framing garbage: ignore it

    def _send(self, data: bytes) -> None:
        if self.hang_next_reply:
            self.hang_next_reply = False
            data = data[:-1]  # the ETX never comes
        elif self.garble_next_reply:
            self.garble_next_reply = False
            data = b"\x15?" + data[2:]
        if self.line_rate:
            time.sleep(len(data) * 11 / self.baudrate * self.time_factor)
        os.write(self._master, data)

    def _reply(self, payload: str) -> None:
        self._send(p.encode_reply(payload))

    def _next_byte(self, timeout: float) -> int | None:
        if not self._pending:
            self._read_into_pending(timeout)
        if not self._pending:
            return None
        b = self._pending[0]
        del self._pending[0]
        return b

    def _read_param(self, letter: str) -> str | None:
        """Collect a parameter string up to ETX (D: or until its length field is satisfied)."""
        buf = bytearray()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not self._stop.is_set():
            b = self._next_byte(0.05)
            if b is None:
                continue
            if b == p.ETX[0]:
                return buf.decode("ascii", "replace")
            buf.append(b)
            if letter == "D" and len(buf) >= 4 and buf[:4].isdigit() and len(buf) == int(buf[:4]) + 4:
                return buf.decode("ascii", "replace")  # luminescence frames come without ETX
        return None

    # -- server loop ------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            b = self._next_byte(0.05)
            if b is None:
                continue
            letter = chr(b)
            self.state.commands.append(letter)
            try:
                self._dispatch(letter)
            except OSError:
                return

    def _update_temperature(self) -> None:
        now = time.monotonic()
        dt_min = (now - self._last_temp_update) / self.time_factor / 60 if self.time_factor > 0 else 1e9
        self._last_temp_update = now
        target = self.state.set_point_C if self.state.set_point_C is not None else 25.0
        step = self.heating_C_per_min * dt_min
        diff = target - self.state.temperature_C
        self.state.temperature_C = target if abs(diff) <= step else self.state.temperature_C + np.sign(diff) * step

    def _dispatch(self, letter: str) -> None:
        t, s = self.timing, self.state
        if letter in p.PARAM_COMMANDS:
            self._send(p.ACK)
            param = self._read_param(letter)
            if param is None:
                return
            self._handle_param(letter, param)
            return
        if letter == "e":
            self._sleep(t.query_s)
            self._reply(f"1320200  Version {self.firmware}   0000")
        elif letter == "C":
            self._sleep(t.query_s)
            self._reply(f"{self.serial_number:<8}        0000")
        elif letter == "h":
            self._sleep(t.query_s)
            self._update_temperature()
            offset = 0.0
            if self.faults is not None:
                hit = self._fault("temperature_excursion")
                offset = self.faults.temperature_offset_C(self.now_s()) + getattr(hit, "delta_C", 0.0)
            self._reply(f"{max(round((s.temperature_C + offset) * 100_000), 0):07d}")
        elif letter == "J":
            self._sleep(t.tray_out_s)
            if self._fault("tray_jam", move="out") is not None:
                self._reply(STATUS_TRAY_JAM_ASSUMED)
                return
            s.tray_out = True
            self._reply(p.STATUS_OK)
        elif letter == "A":
            self._sleep(t.tray_in_s)
            if self._fault("tray_jam", move="in") is not None:
                self._reply(STATUS_TRAY_JAM_ASSUMED)
                return
            s.tray_out = False
            self._reply(p.STATUS_MOTION_DONE)
        elif letter == "O":
            self._start_read()
        elif letter == "x":
            self._abort()
        # anything else (stray ETX, garbage) is ignored, as the firmware does with unknown bytes

    def _abort(self, consume: bool = False) -> None:
        if consume:
            self._pending = self._pending.replace(b"x", b"", 1)
        time.sleep(self.timing.abort_reply_s * self.time_factor)
        self._reply(p.STATUS_OK)  # the stale reply

    def _handle_param(self, letter: str, param: str) -> None:
        t, s = self.timing, self.state
        self._sleep(t.param_s)
        if letter == "y":
            try:
                s.geometry = p.PlateGeometry.decode(param)
            except p.ProtocolError:
                self._reply("2C03")  # assumed code: bad geometry
                return
            self._reply(p.STATUS_OK)
        elif letter == "t":
            s.optics_param = param
            self._reply(p.STATUS_OK)
        elif letter == "g":
            try:
                s.set_point_C = p.parse_set_point(param)
            except p.ProtocolError:
                self._reply("2C03")
                return
            self._update_temperature()
            self._reply(p.STATUS_OK)
        elif letter == "D":
            try:
                s.definition, s.definition_error = p.parse_definition(param), None
            except p.ProtocolError as exc:
                s.definition, s.definition_error = None, str(exc)
            self._reply(p.D_ACK_BLOCK)
        else:  # &, i, Y: accepted, no effect here
            self._reply(p.STATUS_OK)

    def _refusal(self) -> str | None:
        s, d = self.state, self.state.definition
        if d is None:
            return p.STATUS_READ_REFUSED
        if d.checksum in self.refused_checksums:
            return p.STATUS_READ_REFUSED
        if s.tray_out:
            return p.STATUS_TRAY_OUT_ASSUMED
        rows, cols = (s.geometry.rows, s.geometry.columns) if s.geometry else (8, 12)
        if d.region.max_row > rows or d.region.max_col > cols:
            return p.STATUS_READ_REFUSED
        if d.kind == "fluorescence":
            lo, hi = p.FLUORESCENCE_RANGE_NM
            if not (lo <= d.excitation_nm <= hi and lo <= d.emission_nm <= hi):
                return p.STATUS_WAVELENGTH_ASSUMED
        elif not p.ABSORBANCE_RANGE_NM[0] <= d.wavelength_nm <= p.ABSORBANCE_RANGE_NM[1]:
            return p.STATUS_WAVELENGTH_ASSUMED
        return None

    def _start_read(self) -> None:
        t, d = self.timing, self.state.definition
        if self._fault("reader_timeout") is not None:
            self.hang_next_reply = True
        elif self._fault("garbled_frame") is not None:
            self.garble_next_reply = True
        elif self._fault("read_refused") is not None:
            self._sleep(t.query_s)
            self._reply(p.STATUS_READ_REFUSED)
            return
        refusal = self._refusal()
        if refusal:
            self._sleep(t.query_s)
            self._reply(refusal)
            return
        self._reply(p.STATUS_OK)
        fixed = t.fluorescence_fixed_s if d.kind == "fluorescence" else t.absorbance_fixed_s
        if not self._sleep(fixed + t.per_well_s * d.region.n_wells):
            self._abort(consume=True)
            return
        cells = d.region.serpentine()
        rows = np.array([r - 1 for r, _ in cells])
        cols = np.array([c - 1 for _, c in cells])
        if d.kind == "fluorescence":
            values = np.asarray(self.source(rows, cols, float(d.excitation_nm), float(d.emission_nm)), float)
            fields = [p.format_rfu(v) for v in values]
        else:
            values = np.asarray(self.absorbance_source(rows, cols, float(d.wavelength_nm)), float)
            fields = [p.format_od(v) if v < 4.0 else p.OVERRANGE for v in values]
        self._update_temperature()
        field = round(self.state.temperature_C * 10) % 1000
        self._send(p.encode_body(d.region, dict(zip(cells, fields)), field=field, trailer=len(cells) % 1000))
