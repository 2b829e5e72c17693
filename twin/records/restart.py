"""Restarting a run on real drivers after a crash: ``Restart`` (where it continues) and the codecs between the
journal's ``plate``/``read``/``abs_read`` records and the plate and reads they stand for (``twin.records.journal``
stores the records; ``twin.records.resume`` builds the ``Restart``; ``twin.campaign.run_campaign`` consumes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from instruments.reader import AbsorbanceSpectrumRead, SpectrumRead


@dataclass
class Restart:
    """Where a run on real drivers continues after a crash (``twin.records.resume`` builds it from the journal).

    The physical plate exists once, so nothing is replayed: the plate's state is restored from its journaled record,
    preparation is skipped, and the kinetic schedule continues at campaign time ``at_s``.
    """

    plate: dict  #: the journaled ``plate`` record (filled wells, volumes per component, ``injected_at_s``)
    at_s: float  #: campaign seconds at which the clock restarts
    time_factor: float = 1.0  #: wall seconds per campaign second (realtime clock)
    reads: list = field(default_factory=list)  #: journaled reads as ``SpectrumRead``, in order
    abs_reads: list = field(default_factory=list)  #: journaled absorbance reads as ``AbsorbanceSpectrumRead``
    events: list = field(default_factory=list)  #: journaled events, in order
    kinetic_start_s: float | None = None  #: journaled t0 of the kinetic schedule; None: not started before the crash
    last_slot: int = -1  #: schedule slot of the last journaled read
    last_loop: int = 0  #: procedure step (kinetic loop) of the last journaled read
    done: bool = False  #: the journal already holds ``done`` (the crash came while writing the outputs)
    #: files the reader took before: names of the exports read, (name, size, mtime_ns) of those refused
    sources: list = field(default_factory=list)
    wall_epoch_s: float | None = None  #: journaled wall time of campaign t=0 of the first session


def read_from_record(rec: dict) -> SpectrumRead:
    """The SpectrumRead of a journaled ``read`` record (None counts, i.e. OVRFLW, back to NaN)."""
    counts = np.array([[np.nan if v is None else v for v in row] for row in rec["counts"]], float)
    return SpectrumRead(list(rec["wells"]), np.asarray(rec["wavelength_nm"], float), counts, float(rec["start_s"]),
                        float(rec["end_s"]), float(rec["excitation_nm"]), int(rec["gain"]), source=rec.get("source"),
                        wall_s=rec.get("wall_s"))


def abs_read_from_record(rec: dict) -> AbsorbanceSpectrumRead:
    """The AbsorbanceSpectrumRead of a journaled ``abs_read`` record."""
    od = np.array([[np.nan if v is None else v for v in row] for row in rec["od"]], float)
    return AbsorbanceSpectrumRead(list(rec["wells"]), np.asarray(rec["wavelength_nm"], float), od,
                                  float(rec["start_s"]), float(rec["end_s"]))


def restore_plate(plate, state: dict) -> None:
    """Put the journaled contents and injection times back into the (empty) ``plate``."""
    idx = plate.indices(state["wells"])
    plate.contents = {}
    for comp, vols in state["components"].items():
        plate.contents[comp] = np.zeros(plate.n_wells)
        plate.contents[comp][idx] = np.asarray(vols, float)
    plate.injected_at_s = np.full(plate.n_wells, np.nan)
    plate.injected_at_s[idx] = [np.nan if v is None else v for v in state["injected_at_s"]]


def plate_state(plate) -> dict:
    """The filled wells of ``plate``: volume, components and injection time (journaled after preparation)."""
    idx = [i for i in range(plate.n_wells) if plate.volume_uL[i] > 0]
    comps = sorted({c for i in idx for c in plate.mixture(i)})
    return {"wells": [plate.wells[i] for i in idx], "volume_uL": plate.volume_uL[idx].round(6),
            "injected_at_s": plate.injected_at_s[idx],
            "components": {c: plate.component(c)[idx].round(6) for c in comps}}
