"""Typed instrument errors: one base, one subclass per kind of fault, messages that name thing, value and range."""


class InstrumentError(Exception):
    """Base of every error raised by a pipettor or a plate reader (twin or real)."""


class UsageError(InstrumentError, ValueError):
    """A call or a configuration an instrument does not accept (unknown pipette, bad option, malformed run log)."""


class LabwareError(InstrumentError, ValueError):
    """Unknown labware, well name or deck slot."""


class TipError(InstrumentError):
    """No tip attached, a tip already attached, or the tip racks are empty."""


class OutOfTipsError(TipError):
    """Every tip rack is empty."""


class VolumeError(InstrumentError, ValueError):
    """A volume outside a pipette's, tip's or well's limits (over-aspirate, overfill, below minimum)."""


class ReaderError(InstrumentError):
    """A plate reader refused a command."""


class TrayError(ReaderError):
    """Reading with the tray open, or moving the plate while the tray is closed."""


class WavelengthError(ReaderError, ValueError):
    """A wavelength outside the reader's range, or an invalid scan definition."""


class TemperatureError(ReaderError, ValueError):
    """A set-point outside the incubator's range."""
