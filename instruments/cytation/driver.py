"""CytationSerialReader: the PlateReader backend that drives a real Cytation 5 over its (FTDI) serial port.

Link: 9600 Bd 8N2, RTS/CTS, with a 38400 Bd fallback when the firmware query times out; receive and transmit
buffers are purged before every command (Gen5 does the same). Protocol details live in ``protocol.py``.

A PL emission scan is **emulated**: no spectral-scan command is known on the wire (facts 1.10), so each emission
wavelength is one single-wavelength fluorescence read (``t`` -> ``D`` -> ``O`` -> body) per rectangle of wells.
On a real unit that is ~16 s + ~0.5 s per well for every wavelength (a 126-point scan of 40 wells: ~70 min), far
slower than Gen5's sweep mode; ``timings`` records the measured wall time of every wavelength. Gain, read speed
and optics (top/bottom) are not fields of the known ``D`` frame: the firmware's defaults apply and ``gain`` is only
logged.

A scan that fails part-way raises its typed error with ``partial_counts`` (NaN where not read) and
``wavelengths_done`` attached, so reads already received are kept.

Refusals: a ``D`` frame whose checksum lands in 94..99 is refused by the firmware (``2D06``); the driver grows the
read rectangle until the checksum leaves that band and discards the extra wells (as agilent-cytation-server does).
An unexpected ``2D06`` is retried the same way at most ``refusal_retries`` times. Timeouts and garbled frames are
retried ``link_retries`` times after a purge and a re-probe with ``h``. Every retry is logged.

Each hook does its blocking I/O, measures the elapsed wall time and yields ``clock.timeout(elapsed)``, so virtual
time follows the instrument.
"""

from __future__ import annotations

import time
from typing import Callable, Generator

import numpy as np
import serial
from pydantic import BaseModel, ConfigDict, Field

from instruments.cytation import protocol as p
from instruments.errors import ReaderError, TemperatureError, TrayError, WavelengthError
from instruments.reader import PlateReader


class LinkSettings(BaseModel):
    """Serial link, timeouts (s) and retry policy. Defaults are the real unit's (PyLabRobot's timeouts)."""

    model_config = ConfigDict(extra="forbid")
    baudrate: int = 9600
    fallback_baudrate: int | None = 38400
    rtscts: bool = Field(True, description="RTS/CTS flow control; a Linux pty accepts it, other virtual ports may not")
    query_timeout_s: float = Field(1.0, gt=0, description="e, C, h")
    command_timeout_s: float = Field(20.0, gt=0)
    fluorescence_timeout_s: float = Field(120.0, gt=0, description="data body of one fluorescence read")
    absorbance_timeout_s: float = Field(180.0, gt=0)
    abort_settle_s: float = Field(0.5, ge=0, description="wait for the stale reply of an abort before purging")
    max_reply_bytes: int = Field(65_536, gt=0)
    link_retries: int = Field(1, ge=0, description="re-sends of a command after a timeout or garbled frame")
    refusal_retries: int = Field(3, ge=0, description="grown rectangles tried after an unexpected 2D06")
    read_height_mm: float = Field(7.0, description="optics height of fluorescence reads (paper: 7 mm)")
    wait_for_temperature: bool = True
    temperature_tolerance_C: float = Field(0.5, gt=0)
    temperature_timeout_s: float = Field(3600.0, gt=0)
    temperature_poll_s: float = Field(10.0, gt=0)


def _status_error(command: str, status: str, what: str) -> ReaderError:
    if status == p.STATUS_TRAY_OUT_ASSUMED:
        return TrayError(f"the reader refused {what}: the tray is out (status {status})")
    if status == p.STATUS_WAVELENGTH_ASSUMED:
        return WavelengthError(f"the reader refused {what}: wavelength out of range (status {status})")
    return p.StatusError(f"the reader answered {command!r} ({what}) with status {status!r}", status)


class CytationSerialReader(PlateReader):
    """A real Cytation 5 driven through pyserial; ``connect()`` before use, ``close()`` after."""

    def __init__(self, clock, port: str, *, settings: LinkSettings | None = None,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial):
        super().__init__(clock)
        self.port = port
        self.settings = settings or LinkSettings()
        self._serial_factory = serial_factory
        self.ser: serial.Serial | None = None
        self._rx = bytearray()
        self.firmware: str | None = None
        #: one entry per emission wavelength / absorbance read: wall seconds, wells, rectangles, retries
        self.timings: list[dict] = []

    # -- link ---------------------------------------------------------------------------------------------------
    def connect(self) -> str:
        """Open the port and identify the reader (falls back to 38400 Bd); returns the firmware version."""
        s = self.settings
        try:
            self.ser = self._serial_factory(self.port, s.baudrate, bytesize=8, parity="N", stopbits=2,
                                            rtscts=s.rtscts, timeout=0.01, write_timeout=s.command_timeout_s)
        except (serial.SerialException, OSError) as exc:
            raise ReaderError(f"cannot open the Cytation's serial port {self.port!r}: {exc}") from exc
        tried = []
        for baud in [s.baudrate] + ([s.fallback_baudrate] if s.fallback_baudrate else []):
            self.ser.baudrate = baud
            tried.append(baud)
            try:
                self.firmware = p.parse_firmware(self._transact("e", timeout_s=s.query_timeout_s))
                self._record("connect", port=self.port, baudrate=baud, firmware=self.firmware)
                return self.firmware
            except (p.LinkTimeout, p.ProtocolError):
                continue
        self.ser.close()
        raise p.LinkTimeout(f"no valid reply to the firmware query 'e' on {self.port} at "
                            f"{' or '.join(map(str, tried))} Bd (reader off, wrong port, or Gen5 holding it?)")

    def close(self) -> None:
        if self.ser is not None:
            self.ser.close()
            self.ser = None

    def _purge(self) -> None:
        self._rx.clear()
        self.ser.reset_input_buffer()
        self.ser.reset_output_buffer()

    def _read_until(self, terminator: bytes, timeout_s: float, what: str) -> bytes:
        """Bytes up to and including the first ``terminator``; anything after it stays buffered for the next call
        (the ``O`` reply and the data body can arrive in one chunk)."""
        deadline = time.monotonic() + timeout_s
        while True:
            end = self._rx.find(terminator)
            if end >= 0:
                frame = bytes(self._rx[:end + len(terminator)])
                del self._rx[:end + len(terminator)]
                return frame
            if len(self._rx) > self.settings.max_reply_bytes:
                raise p.ProtocolError(f"{what}: reply exceeds {self.settings.max_reply_bytes} bytes without "
                                      f"{terminator!r}; received {bytes(self._rx[:40])!r}...")
            chunk = self.ser.read(max(1, self.ser.in_waiting))
            if chunk:
                self._rx += chunk
            elif time.monotonic() > deadline:
                got = f"{len(self._rx)} bytes, last {bytes(self._rx[-20:])!r}" if self._rx else "nothing"
                raise p.LinkTimeout(f"{what}: no {terminator!r} within {timeout_s:g} s (received {got})")

    def _transact(self, letter: str, param: str | None = None, *, timeout_s: float | None = None) -> str:
        """Send one command (and its parameter) and return the reply payload, framing checked."""
        if self.ser is None:
            raise ReaderError("the Cytation is not connected; call connect() first")
        timeout_s = timeout_s or self.settings.command_timeout_s
        self._purge()
        self.ser.write(letter.encode("ascii"))
        if param is not None:
            ack = self._read_until(p.ACK, timeout_s, f"command {letter!r} (waiting for ACK)")
            if ack != p.ACK:
                raise p.ProtocolError(f"command {letter!r}: expected ACK before the parameter, got {ack[:40]!r}")
            self.ser.write(param.encode("ascii") + p.ETX)
        raw = self._read_until(p.ETX, timeout_s, f"command {letter!r}")
        return p.decode_reply(raw, letter)

    def _command(self, letter: str, param: str | None = None, *, expect: str | None = p.STATUS_OK,
                 timeout_s: float | None = None, what: str = "") -> str:
        """``_transact`` with the link retry policy and a status check."""
        for attempt in range(self.settings.link_retries + 1):
            try:
                payload = self._transact(letter, param, timeout_s=timeout_s)
                break
            except (p.LinkTimeout, p.ProtocolError) as exc:
                if attempt == self.settings.link_retries:
                    raise
                self._record("link_retry", wire_command=letter, error=str(exc))
                self.resync()
        if expect is not None and p.status_of(payload) != expect:
            raise _status_error(letter, p.status_of(payload) or payload, what or f"command {letter!r}")
        return payload

    def resync(self) -> None:
        """Drop stale replies (e.g. the answer to an abort) and re-probe with ``h`` until the link answers cleanly."""
        time.sleep(self.settings.abort_settle_s)
        for _ in range(3):
            self._purge()
            try:
                p.parse_temperature(self._transact("h", timeout_s=self.settings.query_timeout_s))
                return
            except (p.LinkTimeout, p.ProtocolError):
                time.sleep(self.settings.abort_settle_s)
        raise p.LinkTimeout(f"the Cytation on {self.port} does not answer 'h' cleanly after a purge")

    # -- simple queries -----------------------------------------------------------------------------------------
    def serial_number(self) -> str:
        return p.parse_serial_number(self._command("C", expect=None, timeout_s=self.settings.query_timeout_s))

    def current_temperature_C(self) -> float:
        return p.parse_temperature(self._command("h", expect=None, timeout_s=self.settings.query_timeout_s))

    def abort(self) -> None:
        """Abort a running read; the reader answers anyway, so purge and re-probe before the next command."""
        self._purge()
        self.ser.write(b"x")
        self._record("abort")
        self.resync()

    # -- hooks: tray and incubator ------------------------------------------------------------------------------
    def _timed(self, fn, *args):
        start = time.perf_counter()
        value = fn(*args)
        return value, time.perf_counter() - start

    def _hw_open_tray(self) -> Generator:
        _, elapsed = self._timed(self._command, "J", None)
        yield self.clock.timeout(elapsed)

    def _close(self) -> None:
        if self.plate is not None:
            geometry = p.PlateGeometry.sbs(self.plate.type.rows, self.plate.type.columns)
            self._command("y", geometry.encode(), what="plate geometry")
        self._command("A", expect=p.STATUS_MOTION_DONE, what="tray in")

    def _hw_close_tray(self) -> Generator:
        _, elapsed = self._timed(self._close)
        yield self.clock.timeout(elapsed)

    def _set_temperature(self, celsius: float) -> None:
        s = self.settings
        self._command("g", p.format_temperature(celsius), what=f"set-point {celsius:g} °C")
        if not s.wait_for_temperature:
            return
        deadline = time.monotonic() + s.temperature_timeout_s
        while True:
            now_C = self.current_temperature_C()
            if abs(now_C - celsius) <= s.temperature_tolerance_C:
                return
            if time.monotonic() > deadline:
                raise TemperatureError(f"the incubator is at {now_C:.2f} °C, not within {s.temperature_tolerance_C} "
                                       f"°C of {celsius:g} °C after {s.temperature_timeout_s:g} s")
            time.sleep(s.temperature_poll_s)

    def _hw_set_temperature(self, celsius: float) -> Generator:
        _, elapsed = self._timed(self._set_temperature, celsius)
        yield self.clock.timeout(elapsed)

    # -- reads --------------------------------------------------------------------------------------------------
    def _cells(self, wells: np.ndarray) -> list[tuple[int, int]]:
        columns = self.plate.type.columns
        return [(int(i) // columns + 1, int(i) % columns + 1) for i in wells]

    def _read_region(self, region: p.Region, kind: str, **nm) -> tuple[dict, dict]:
        """One rectangle at one wavelength, growing it past checksum refusals; returns (values, stats)."""
        rows, cols = self.plate.type.rows, self.plate.type.columns
        timeout = self.settings.fluorescence_timeout_s if kind == "fluorescence" else self.settings.absorbance_timeout_s
        refusals = 0
        for candidate in [region] + p.grown_regions(region, rows, cols):
            frame = (p.fluorescence_definition(candidate, nm["excitation_nm"], nm["emission_nm"])
                     if kind == "fluorescence" else p.absorbance_definition(candidate, nm["wavelength_nm"]))
            if p.definition_checksum(frame) in p.REFUSED_CHECKSUMS:
                continue  # known refusal band: grow the rectangle instead of asking
            what = f"{kind} read of {candidate.encode()} at {nm}"
            for attempt in range(self.settings.link_retries + 1):
                try:
                    self._transact("D", frame)
                    status = p.status_of(self._transact("O"))
                    if status != p.STATUS_OK:
                        break
                    body = p.parse_body(self._read_until(p.ETX, timeout, what))
                    break
                except (p.LinkTimeout, p.ProtocolError) as exc:
                    if attempt == self.settings.link_retries:
                        raise
                    self._record("link_retry", read=what, error=str(exc))
                    self.resync()
            if status == p.STATUS_READ_REFUSED:
                refusals += 1
                self._record("read_refused", read=what, checksum=p.definition_checksum(frame))
                if refusals > self.settings.refusal_retries:
                    raise p.StatusError(f"the reader refused the {what} {refusals} times (status 2D06, last "
                                        f"checksum {p.definition_checksum(frame):02d})", status)
                continue
            if status != p.STATUS_OK:
                raise _status_error("O", status, what)
            if body.status != p.STATUS_OK:
                raise _status_error("O", body.status, what + " (data trailer)")
            missing = set(candidate.serpentine()) - set(body.values)
            if missing:
                raise p.ProtocolError(f"{what}: the data body lacks wells {sorted(missing)[:5]}")
            values = {cell: body.values[cell] for cell in region.serpentine()}
            return values, {"extra_wells": candidate.n_wells - region.n_wells, "refusals": refusals}
        raise p.StatusError(f"no read rectangle around {region.encode()} escapes the refused checksums", "2D06")

    def _hw_read_pl(self, wells: np.ndarray, excitation_nm: float, wavelength_nm: np.ndarray,
                    gain: int) -> Generator:
        nm = np.concatenate([[excitation_nm], wavelength_nm])
        if not np.allclose(nm, np.rint(nm)):
            raise WavelengthError(f"the serial protocol takes whole nanometres; got excitation {excitation_nm:g} "
                                  f"and emission {wavelength_nm.tolist()}")
        self._record("gain_not_sent", gain=gain, note="no gain field is known in the D frame; firmware default")
        cells = self._cells(wells)
        index = {cell: k for k, cell in enumerate(cells)}
        regions = p.cover_with_rectangles(cells)
        counts = np.full((len(cells), len(wavelength_nm)), np.nan)
        done = np.zeros(len(wavelength_nm), bool)
        for j, em in enumerate(wavelength_nm):
            start = time.perf_counter()
            stats = []
            try:
                self._command("t", p.format_optics_height(self.settings.read_height_mm), what="optics height")
                for region in regions:
                    values, st = self._read_region(region, "fluorescence", excitation_nm=int(round(excitation_nm)),
                                                   emission_nm=int(round(em)))
                    for cell, v in values.items():
                        counts[index[cell], j] = v
                    stats.append(st)
            except ReaderError as exc:
                # keep the error's type (TrayError, WavelengthError, LinkTimeout...) and attach what was read
                exc.partial_counts, exc.wavelengths_done = counts, done
                exc.add_note(f"PL scan stopped at emission {em:g} nm; {j} of {len(wavelength_nm)} wavelengths "
                             f"read are kept in .partial_counts (NaN elsewhere)")
                raise
            elapsed = time.perf_counter() - start
            done[j] = True
            self.timings.append({"kind": "fluorescence", "emission_nm": float(em), "wells": len(cells),
                                 "rectangles": len(regions), "wall_s": elapsed,
                                 "extra_wells": sum(s["extra_wells"] for s in stats),
                                 "refusals": sum(s["refusals"] for s in stats)})
            yield self.clock.timeout(elapsed)
        return counts

    def _hw_read_absorbance(self, wells: np.ndarray, wavelength_nm: float) -> Generator:
        if wavelength_nm != round(wavelength_nm):
            raise WavelengthError(f"the serial protocol takes whole nanometres; got {wavelength_nm:g}")
        cells = self._cells(wells)
        start = time.perf_counter()
        od = np.full(len(cells), np.nan)
        index = {cell: k for k, cell in enumerate(cells)}
        for region in p.cover_with_rectangles(cells):
            values, _ = self._read_region(region, "absorbance", wavelength_nm=int(round(wavelength_nm)))
            for cell, v in values.items():
                od[index[cell]] = v
        elapsed = time.perf_counter() - start
        self.timings.append({"kind": "absorbance", "wavelength_nm": wavelength_nm, "wells": len(cells),
                             "wall_s": elapsed})
        yield self.clock.timeout(elapsed)
        return od
