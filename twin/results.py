"""Campaign results: a labelled spectra cube (well x read x wavelength) with per-well conditions, plus tables.

``dataset`` is an ``xarray.Dataset`` with ``intensity`` (RFU, NaN = OVRFLW) on dims ``(well, read, wavelength_nm)``,
``time_min`` (well, read) = minutes since that well's precursor injection at the middle of its scan (blanks, never
injected: since the plate's first injection), and the
plate map's columns as per-well coordinates. It is built on first use from ``cube`` (the same arrays, plain numpy):
the tables and files of ``larp-twin run`` come from the arrays, so a run does not import xarray (~0.1 s) at all.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from instruments.labware import Labware
from instruments.pipettor import INJECTION_COMPONENT
from instruments.sim.plate_recipes import cs_stock_name
from twin.params import params_record

if TYPE_CHECKING:
    import xarray as xr


def _defer_dask_probe() -> None:
    """Keep xarray from importing dask (~0.5-0.8 s, scipy.fft with it) to learn that a numpy array is not a dask one.

    Every ``xr.Dataset(...)`` asks ``array_type("dask")``, and xarray answers that by importing ``dask.array``.
    No dask array can exist before ``dask.array`` is imported, so until then the answer is "no dask type"; once
    anything has imported ``dask.array`` (a sweep on a scheduler, a user's own dask arrays), or any other property
    of the probe is asked for, xarray's own probe takes over. A no-op if xarray's internals differ.
    """
    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover - another xarray layout: keep its behaviour
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    real = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or real is None or "dask" in cache or "dask.array" in sys.modules:
        return

    class _Deferred:
        @property
        def type(self):
            if "dask.array" not in sys.modules:
                return ()
            return self._real().type

        def _real(self):
            probe = cache["dask"] = real("dask")  # from now on xarray's own answer
            return probe

        def __getattr__(self, name):  # module, version, available: the real probe
            return getattr(self._real(), name)

    cache["dask"] = _Deferred()
    # the same for "is this a dask collection?" (asked of every index; xarray imports dask.base to answer it)
    from xarray.namedarray import utils as nutils

    asked = getattr(nutils, "is_dask_collection", None)
    if asked is not None and not getattr(asked, "_twin_deferred", False):
        def is_dask_collection(x) -> bool:
            return "dask" in sys.modules and asked(x)

        is_dask_collection._twin_deferred = True
        nutils.is_dask_collection = is_dask_collection


FEATURE_COLUMNS = ["well", "time_min", "peak_nm", "fwhm_nm", "height", "area", "r2"]


def dispensed_table(plate_map: pd.DataFrame, plate: Labware) -> pd.DataFrame:
    """The plate map with the volumes that actually reached each well and its injection time."""
    idx = plate.indices(plate_map["well"])
    out = plate_map.copy()
    out["dispensed_antisolvent_uL"] = [plate.component(s)[i] for s, i in zip(plate_map["antisolvent"], idx)]
    out["dispensed_cs_uL"] = [plate.component(cs_stock_name(s))[i] for s, i in zip(plate_map["antisolvent"], idx)]
    out["dispensed_pbbr2_uL"] = plate.component(INJECTION_COMPONENT)[idx]
    out["dispensed_acid_uL"] = [plate.component(a)[i] for a, i in zip(plate_map["acid"], idx)]
    out["dispensed_amine_uL"] = [plate.component(a)[i] for a, i in zip(plate_map["amine"], idx)]
    out["injected_at_min"] = plate.injected_at_s[idx] / 60.0
    out["blank"] = plate_map["pbbr2_uL"].to_numpy(float) <= 0  # no PbBr2: no reaction, a blank
    for c in [c for c in out.columns if c.startswith("dispensed_")]:
        out[c] = out[c].round(4)
    out["injected_at_min"] = out["injected_at_min"].round(4)
    return out


@dataclass
class SpectraCube:
    """The arrays of ``CampaignResult.dataset``, before xarray labels them (what the run's own tables need)."""

    wells: np.ndarray  #: (W,) well names, as the dataset's ``well`` coordinate holds them
    read: np.ndarray  #: (R,) read index
    wavelength_nm: np.ndarray  #: (L,)
    read_start_min: np.ndarray  #: (R,) start of each read, minutes of the run
    time_min: np.ndarray  #: (W, R) minutes since the well's injection, middle of its scan
    intensity: np.ndarray  #: (W, R, L) RFU, NaN = OVRFLW
    per_well: dict  #: plate-map column -> (W,) values, per-well coordinates
    attrs: dict

    def to_dataset(self) -> xr.Dataset:
        """The labelled ``xarray.Dataset`` (xarray imported here, kept from importing dask to probe it)."""
        import xarray as xr

        _defer_dask_probe()
        coords = {
            "well": self.wells,
            "read": self.read,
            "wavelength_nm": self.wavelength_nm,
            "read_start_min": ("read", self.read_start_min),
            "time_min": (("well", "read"), self.time_min),
        }
        for col, values in self.per_well.items():
            coords[col] = ("well", values)
        ds = xr.Dataset({"intensity": (("well", "read", "wavelength_nm"), self.intensity)}, coords=coords)
        ds.attrs.update(self.attrs)
        return ds


@dataclass
class CampaignResult:
    """Everything one campaign produced."""

    name: str
    seed: int
    plate: pd.DataFrame
    cube: SpectraCube
    manifest: dict
    logs: dict = field(default_factory=dict)
    deck_sheet: str = ""
    #: absorbance reads, long: ``well, read, step, time_min, wavelength_nm, od`` (None: the procedure had none)
    absorbance: pd.DataFrame | None = None
    #: the Gen5 read order of the run: ("em", PL read index) / ("abs", absorbance read index), in time order
    read_order: list = field(default_factory=list)
    procedure: object = None  #: the run's ``twin.procedure.Procedure`` (for exports)

    @classmethod
    def from_run(cls, *, campaign, plate_map, plate: Labware, reads, seed, virtual_s, wall_s, backends, marks,
                 logs, deck_sheet, abs_reads=(), procedure=None) -> "CampaignResult":
        table = dispensed_table(plate_map, plate)
        wells = reads[0].wells
        counts = np.stack([r.counts for r in reads], axis=1)  # (well, read, wavelength)
        mid_s = np.array([(r.start_s + r.end_s) / 2 for r in reads])
        inj = plate.injected_at_s[plate.indices(wells)]
        # wells never injected (blanks) run on the plate's clock: time since its first injection
        first = np.nanmin(plate.injected_at_s) if np.isfinite(plate.injected_at_s).any() else marks["kinetic_start_s"]
        inj = np.where(np.isfinite(inj), inj, first)
        age_min = (mid_s[None, :] - inj[:, None]) / 60.0
        per_well = table.set_index("well").loc[wells]
        cube = SpectraCube(
            wells=np.asarray(wells), read=np.arange(len(reads)), wavelength_nm=np.asarray(reads[0].wavelength_nm),
            read_start_min=np.array([r.start_s for r in reads]) / 60.0, time_min=age_min, intensity=counts,
            per_well={col: per_well[col].to_numpy() for col in per_well.columns},
            attrs={"campaign": campaign.name, "seed": seed, "excitation_nm": reads[0].excitation_nm,
                   "gain": reads[0].gain, "units": "RFU", "plate_wells": int(plate.n_wells),
                   "start_time": campaign.start_time.isoformat(),
                   "reading_type": "Simulation" if backends["reader"] == "sim" else "Reader"},
        )
        from twin import __version__

        manifest = {
            "larp_twin_version": __version__,
            "scenario": campaign.name,
            "description": campaign.description,
            "seed": seed,
            "start_time": campaign.start_time.isoformat(),
            "backends": backends,
            "plate_wells": int(plate.n_wells),
            "wells_read": len(wells),
            "reads": len(reads),
            "wavelengths": int(len(reads[0].wavelength_nm)),
            "schedule": campaign.schedule.model_dump(),
            "virtual_s": round(float(virtual_s), 3),
            "prep_s": round(float(marks["prep_done_s"]), 3),
            "kinetic_start_s": round(float(marks["kinetic_start_s"]), 3),
            # wall seconds of the simulation itself; ``wall_s`` (the whole run, files and figures included) is
            # added by ``twin.records.export.write_results``
            "sim_wall_s": round(float(wall_s), 3),
            "overflow_points": int(np.isnan(counts).sum()),
            "chemistry": params_record(campaign.lab.chemistry, campaign.lab.chemistry_source),
        }
        if procedure is not None:
            manifest["procedure"] = procedure.model_dump(mode="json")
        absorbance = None
        order = [("em", i, r.start_s) for i, r in enumerate(reads)]
        if abs_reads:
            manifest["absorbance_reads"] = len(abs_reads)
            inj_of = dict(zip(wells, inj))
            absorbance = _absorbance_long(abs_reads, inj_of)
            order += [("abs", i, r.start_s) for i, r in enumerate(abs_reads)]
        order.sort(key=lambda o: o[2])
        return cls(campaign.name, seed, table, cube, manifest, logs, deck_sheet, absorbance,
                   [(kind, i) for kind, i, _ in order], procedure)

    @cached_property
    def dataset(self) -> xr.Dataset:
        """The spectra as a labelled ``xarray.Dataset`` (see the module docstring); built on first use."""
        return self.cube.to_dataset()

    def absorbance_features(self) -> pd.DataFrame | None:
        """Band edge and first excitonic peak of every absorbance spectrum (``twin.analysis.absorbance``)."""
        if self.absorbance is None:
            return None
        from twin.analysis.absorbance import absorbance_features

        return absorbance_features(self.absorbance)

    def spectra_long(self) -> pd.DataFrame:
        """Long format: ``well, read, time_min, wavelength_nm, intensity`` (one row per point)."""
        c = self.cube
        nw, nr, nl = c.intensity.shape
        return pd.DataFrame({
            "well": pd.Categorical.from_codes(np.repeat(np.arange(nw), nr * nl), categories=list(c.wells)),
            "read": np.tile(np.repeat(c.read, nl), nw),
            "time_min": np.repeat(np.round(c.time_min, 4).ravel(), nl),
            "wavelength_nm": np.tile(c.wavelength_nm, nw * nr),
            "intensity": c.intensity.ravel(),
        })

    @cached_property
    def fit(self):
        """Gaussian fit of every spectrum (batched)."""
        from twin.analysis import fit_gaussians

        return fit_gaussians(self.cube.intensity, self.cube.wavelength_nm, gain=int(self.cube.attrs.get("gain", 100)))

    def features(self) -> pd.DataFrame:
        """``well, read, time_min, peak_nm, fwhm_nm, height, area, r2, status`` for every spectrum."""
        c, f = self.cube, self.fit
        nw, nr = c.time_min.shape
        out = pd.DataFrame({
            "well": np.repeat(c.wells, nr),
            "read": np.tile(c.read, nw),
            "time_min": np.round(c.time_min.ravel(), 4),
        })
        for name in ("peak_nm", "fwhm_nm", "height", "area", "r2"):
            out[name] = np.round(np.asarray(getattr(f, name), float).ravel(), 6)
        out["status"] = np.asarray(f.status_name if hasattr(f, "status_name") else f.status).ravel()
        return out


def _absorbance_long(abs_reads, inj_of: dict) -> pd.DataFrame:
    """``well, read, time_min, wavelength_nm, od`` for every absorbance read (time since the well's injection at
    the middle of the read)."""
    parts = []
    for k, r in enumerate(abs_reads):
        wl = np.asarray(r.wavelength_nm, float)
        mid = (r.start_s + r.end_s) / 2
        t = np.array([(mid - inj_of.get(w, np.nan)) / 60.0 for w in r.wells])
        n = len(wl)
        parts.append(pd.DataFrame({
            "well": np.repeat(r.wells, n), "read": k, "time_min": np.repeat(np.round(t, 4), n),
            "wavelength_nm": np.tile(wl, len(r.wells)), "od": np.asarray(r.od, float).ravel()}))
    out = pd.concat(parts, ignore_index=True)
    out["well"] = pd.Categorical(out["well"], categories=list(dict.fromkeys(abs_reads[0].wells)))
    return out
