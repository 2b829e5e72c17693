"""What ``read_gen5`` returns: ``Gen5DataSet`` (one data set of an export) and ``Gen5Export`` (the whole file)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from instruments.cytation.gen5 import OVERFLOW

KINDS = ("spectrum", "kinetic", "endpoint", "result")
#: raw measurements (not Gen5's derived well analyses)
RAW_KINDS = ("spectrum", "kinetic", "endpoint")


@dataclass
class Gen5DataSet:
    """One data set of an export.

    ``kind``: ``spectrum`` (``axis`` = ``wavelength_nm``), ``kinetic`` (``axis`` = ``time_s``; ``temperature_C`` per
    read, NaN where Gen5 wrote none), ``endpoint`` or ``result`` (one value per well, ``axis`` None).
    ``values``: (n_wells, n_axis) or (n_wells,), NaN for non-numeric and empty cells; ``flags``: same shape, the
    non-numeric token (``OVRFLW``, ``MISSED``, ``?????`` ...), ``""`` for numbers and empty cells. ``wells``: only
    wells with at least one non-empty cell, in the file's order.
    """

    name: str
    kind: str
    wells: list[str]
    values: np.ndarray
    flags: np.ndarray
    axis: np.ndarray | None = None
    axis_name: str | None = None
    temperature_C: np.ndarray | None = None
    section: str = ""

    @property
    def overflow(self) -> np.ndarray:
        """True where Gen5 wrote ``OVRFLW``."""
        return self.flags == OVERFLOW

    def to_xarray(self):
        """The values as an ``xarray.DataArray`` with dims ``well`` (and ``wavelength_nm`` or ``time_s``)."""
        import xarray as xr

        dims = ("well",) if self.axis is None else ("well", self.axis_name)
        coords = {"well": self.wells}
        if self.axis is not None:
            coords[self.axis_name] = self.axis
        return xr.DataArray(self.values, dims=dims, coords=coords, name=self.name,
                            attrs={"kind": self.kind, "section": self.section})


@dataclass
class Gen5Export:
    """A parsed Gen5 export: header ``metadata``, ``procedure`` (see ``read_gen5``), ``datasets`` and ``layout``."""

    source: str
    metadata: dict[str, str]
    procedure: dict
    datasets: list[Gen5DataSet]
    layout: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Gen5DataSet:
        for d in self.datasets:
            if d.name == name:
                return d
        raise KeyError(f"{self.source}: no data set {name!r}; it holds {[d.name for d in self.datasets]}")

    def of_kind(self, *kinds: str) -> list[Gen5DataSet]:
        return [d for d in self.datasets if d.kind in kinds]

    def summary(self) -> dict:
        """What ``larp-twin inspect`` prints: reader, software, read types, wells, wavelengths, reads, times,
        overflow and MISSED counts (of raw data sets, not Gen5's derived results)."""
        raw = self.of_kind(*RAW_KINDS)
        wells: list[str] = []
        for d in raw:
            wells += [w for w in d.wells if w not in wells]
        spectra, kinetic = self.of_kind("spectrum"), self.of_kind("kinetic")
        proc = self.procedure
        if spectra:
            wl = np.unique(np.concatenate([d.axis for d in spectra]))
            wavelengths = f"{wl[0]:g}-{wl[-1]:g} nm ({len(wl)} points)"
            if "excitation_nm" in proc:
                wavelengths = f"ex {proc['excitation_nm']:g} nm, em {wavelengths}"
        elif proc.get("filter_sets"):
            wavelengths = ", ".join(f"ex {ex:g}/em {em:g} nm" for ex, em in proc["filter_sets"])
        elif proc.get("absorbance_nm"):
            wavelengths = ", ".join(f"{w:g}" for w in proc["absorbance_nm"]) + " nm"
        else:
            wavelengths = "n/a"
        if spectra:
            n_reads = len(spectra)
        elif kinetic:
            n_reads = max(len(d.axis) for d in kinetic)
        else:
            n_reads = 1 if raw else 0
        if kinetic:
            t = np.concatenate([d.axis for d in kinetic])
            time_span = {"first_s": float(t.min()), "last_s": float(t.max()),
                         "text": f"{_hms(t.min())}-{_hms(t.max())} ({(t.max() - t.min()) / 60:g} min)"}
        else:
            time_span = None
        md = self.metadata
        return {
            "file": self.source,
            "reader_type": md.get("Reader Type", ""),
            "reader_serial": md.get("Reader Serial Number", ""),
            "software_version": md.get("Software Version", ""),
            "reading_type": md.get("Reading Type", ""),
            "read_types": proc.get("read_types", []),
            "kinds": sorted({d.kind for d in raw}, key=KINDS.index),
            "datasets": [d.name for d in raw],
            "wells": wells,
            "wavelengths": wavelengths,
            "reads": n_reads,
            "time_span": time_span,
            "overflow": int(sum(d.overflow.sum() for d in raw)),
            "missed": int(sum((d.flags == "MISSED").sum() for d in raw)),
        }


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
