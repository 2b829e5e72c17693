"""The run's document stream as bluesky event-model documents: ``start``, ``descriptor``, ``event``, ``stop``.

``EventModelDocuments`` subscribes to a campaign (``run_campaign(..., subscribers=[EventModelDocuments(cb)])``)
and hands every translated ``(name, doc)`` to ``cb``: any bluesky callback (``LiveTable``, ``BestEffortCallback``,
a ``RunRouter``, a databroker/Tiled writer) or ``DocumentFile`` (``larp-twin run --documents FILE.jsonl``).

The twin's documents (``twin.records.documents``) map as follows:

- ``start``    -> the run's ``start`` (campaign, seed, wells, procedure, ``plan_name='larp_twin_campaign'``)
- ``plate``    -> stream ``plate``: one event, each component's volume per well (``<component>_uL``; ``/`` in a
  component name becomes ``_``: ``PbBr2_DMF_uL``), ``injected_at_s``
- ``read``     -> stream ``pl_spectrum``: one event per PL emission scan (``counts`` wells x wavelengths in RFU,
  ``null`` where the reader overflowed; ``wavelength_nm``, ``wells``, ``excitation_nm``, ``gain``, times, indices)
- ``abs_read`` -> stream ``absorbance_spectrum``: one event per absorbance read (``od`` wells x wavelengths)
- ``event``, ``alert`` -> stream ``twin_events``: faults, recoveries, alerts (``kind``, ``action``, ``detail``)
- ``done``     -> ``stop`` with ``exit_status='success'`` and the events per stream; a run that raises is closed
  by ``close(exit_status='fail', reason=...)`` (``larp-twin run`` does it)
- ``clock`` (real drivers: the wall time of campaign t=0) sets the documents' ``time``; ``kinetic`` is not passed on.

Each stream has one descriptor (a new one, same name, if a read's shape changes).  ``time`` is seconds since the
Unix epoch: the real wall time on real drivers; on virtual time campaign t=0 is ``instruments.clock.VIRTUAL_EPOCH_S``
(2000-01-01 09:00 UTC), so the same seed gives the same bytes.  For the same reason the uids are version-4 UUIDs
drawn from a generator seeded with the campaign's seed (its own stream: no other output changes), not
``uuid.uuid4()``: unique within a run and across seeds, repeated by a rerun of the same seed, which is the point.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from instruments.clock import VIRTUAL_EPOCH_S
from twin.records.journal import _plain

Callback = Callable[[str, dict], None]

#: the generator of a run's uids is seeded with (campaign seed, this): a stream of its own
_UID_STREAM = 0xB1E5
DETECTOR = "cytation5"
STREAMS = ("plate", "pl_spectrum", "absorbance_spectrum", "twin_events")


def _key(component: str) -> str:
    """A data-key name for a component (event-model keys carry no ``/`` or ``.``)."""
    return component.replace("/", "_").replace(".", "_") + "_uL"


def _array_key(value, source: str, units: str | None, dims: list[str], dtype_numpy: str) -> dict:
    shape = list(np.shape(value))
    return {"dtype": "array", "shape": shape, "source": source, "units": units, "dims": dims,
            "dtype_numpy": dtype_numpy}


def _scalar_key(dtype: str, source: str, units: str | None = None) -> dict:
    return {"dtype": dtype, "shape": [], "source": source, "units": units}


class EventModelDocuments:
    """Subscriber: the twin's ``(name, doc)`` stream -> event-model documents, each passed to ``callback``."""

    def __init__(self, callback: Callback):
        self.callback = callback
        self._rng: np.random.Generator | None = None
        self._start: dict | None = None
        self._epoch_s = VIRTUAL_EPOCH_S
        self._descriptors: dict[str, tuple[dict, tuple]] = {}
        self._seq: dict[str, int] = {}
        self._last_time = 0.0
        self.stopped = False

    # -- the subscriber -----------------------------------------------------------------------------------------
    def __call__(self, name: str, doc: dict) -> None:
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(doc)

    def close(self, exit_status: str = "fail", reason: str = "") -> None:
        """Emit the ``stop`` of a run that ended without ``done`` (an error, Ctrl-C); nothing if already stopped."""
        if self._start is not None and not self.stopped:
            self._stop(exit_status, reason, self._last_time)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _uid(self) -> str:
        return str(uuid.UUID(bytes=self._rng.bytes(16), version=4))

    def _time(self, t_s: float) -> float:
        return round(self._epoch_s + float(t_s), 6)

    def _emit(self, name: str, doc: dict) -> None:
        self.callback(name, doc)

    def _event(self, stream: str, t_s: float, data: dict, data_keys: dict, hints: list[str]) -> None:
        shape = tuple((k, tuple(v["shape"])) for k, v in data_keys.items())
        known = self._descriptors.get(stream)
        if known is None or known[1] != shape:
            descriptor = {"uid": self._uid(), "run_start": self._start["uid"], "time": self._time(t_s),
                          "name": stream, "data_keys": {k: {**v, "object_name": DETECTOR}
                                                        for k, v in data_keys.items()},
                          "object_keys": {DETECTOR: list(data_keys)}, "configuration": {},
                          "hints": {DETECTOR: {"fields": hints}}}
            self._descriptors[stream] = (descriptor, shape)
            self._emit("descriptor", descriptor)
        descriptor = self._descriptors[stream][0]
        self._seq[stream] = self._seq.get(stream, 0) + 1
        t = self._time(t_s)
        self._last_time = t_s
        self._emit("event", {"uid": self._uid(), "descriptor": descriptor["uid"], "seq_num": self._seq[stream],
                             "time": t, "data": data, "timestamps": {k: t for k in data}, "filled": {}})

    def _stop(self, exit_status: str, reason: str, t_s: float) -> None:
        self.stopped = True
        self._emit("stop", {"uid": self._uid(), "run_start": self._start["uid"], "time": self._time(t_s),
                            "exit_status": exit_status, "reason": reason,
                            "num_events": {s: self._seq.get(s, 0) for s in STREAMS if s in self._seq}})

    # -- the twin's documents -------------------------------------------------------------------------------------
    def _on_start(self, doc: dict) -> None:
        self._rng = np.random.default_rng([int(doc["seed"]), _UID_STREAM])
        self._last_time = 0.0
        self._start = {"uid": self._uid(), "time": self._time(0.0), "plan_name": "larp_twin_campaign",
                       "plan_type": "generator", "plan_args": {"campaign": doc["campaign"], "seed": int(doc["seed"])},
                       "scan_id": 1, "campaign": doc["campaign"], "seed": int(doc["seed"]),
                       "wells": list(doc["wells"]), "resumed": bool(doc.get("resumed", False)),
                       "procedure": _plain(doc["procedure"]), "detectors": [DETECTOR],
                       "hints": {"dimensions": [[["time"], "primary"]]}}
        self._emit("start", self._start)

    def _on_clock(self, doc: dict) -> None:
        if doc.get("wall_epoch_s") is not None:
            self._epoch_s = float(doc["wall_epoch_s"])

    def _on_plate(self, doc: dict) -> None:
        src = "twin:ot2/plate"
        data = {"wells": list(doc["wells"]), "volume_uL": _plain(doc["volume_uL"]),
                "injected_at_s": _plain(doc["injected_at_s"])}
        keys = {"wells": _array_key(data["wells"], src, None, ["well"], "<U3"),
                "volume_uL": _array_key(data["volume_uL"], src, "uL", ["well"], "<f8"),
                "injected_at_s": _array_key(data["injected_at_s"], src, "s", ["well"], "<f8")}
        for comp, vols in doc["components"].items():
            data[_key(comp)] = _plain(vols)
            keys[_key(comp)] = _array_key(data[_key(comp)], src, "uL", ["well"], "<f8")
        self._event("plate", doc["t_s"], data, keys, ["volume_uL"])

    def _on_read(self, doc: dict) -> None:
        src = f"twin:{DETECTOR}/pl_spectrum"
        data = {"counts": _plain(doc["counts"]), "wavelength_nm": _plain(doc["wavelength_nm"]),
                "wells": list(doc["wells"]), "excitation_nm": float(doc["excitation_nm"]), "gain": int(doc["gain"]),
                "start_s": float(doc["start_s"]), "end_s": float(doc["end_s"]), "index": int(doc["index"]),
                "slot": int(doc["slot"]), "loop": int(doc.get("loop", 0))}
        keys = {"counts": _array_key(doc["counts"], src, "RFU", ["well", "wavelength_nm"], "<f8"),
                "wavelength_nm": _array_key(doc["wavelength_nm"], src, "nm", ["wavelength_nm"], "<f8"),
                "wells": _array_key(data["wells"], src, None, ["well"], "<U3"),
                "excitation_nm": _scalar_key("number", src, "nm"), "gain": _scalar_key("integer", src),
                "start_s": _scalar_key("number", src, "s"), "end_s": _scalar_key("number", src, "s"),
                "index": _scalar_key("integer", src), "slot": _scalar_key("integer", src),
                "loop": _scalar_key("integer", src)}
        self._event("pl_spectrum", doc["end_s"], data, keys, ["counts"])

    def _on_abs_read(self, doc: dict) -> None:
        src = f"twin:{DETECTOR}/absorbance_spectrum"
        data = {"od": _plain(doc["od"]), "wavelength_nm": _plain(doc["wavelength_nm"]), "wells": list(doc["wells"]),
                "start_s": float(doc["start_s"]), "end_s": float(doc["end_s"]), "index": int(doc["index"]),
                "slot": int(doc["slot"]), "loop": int(doc.get("loop", 0)), "step": int(doc.get("step", 0))}
        keys = {"od": _array_key(doc["od"], src, "OD", ["well", "wavelength_nm"], "<f8"),
                "wavelength_nm": _array_key(data["wavelength_nm"], src, "nm", ["wavelength_nm"], "<f8"),
                "wells": _array_key(data["wells"], src, None, ["well"], "<U3"),
                **{k: _scalar_key("number", src, "s") for k in ("start_s", "end_s")},
                **{k: _scalar_key("integer", src) for k in ("index", "slot", "loop", "step")}}
        self._event("absorbance_spectrum", doc["end_s"], data, keys, ["od"])

    def _on_event(self, doc: dict, kind_of: str = "event") -> None:
        src = "twin:runner"
        rest = {k: v for k, v in doc.items() if k not in ("t_s", "kind", "action")}
        data = {"t_s": float(doc.get("t_s", self._last_time)), "kind": str(doc.get("kind", kind_of)),
                "action": str(doc.get("action", "")), "detail": json.dumps(_plain(rest), sort_keys=True)}
        keys = {"t_s": _scalar_key("number", src, "s"), "kind": _scalar_key("string", src),
                "action": _scalar_key("string", src), "detail": _scalar_key("string", src)}
        self._event("twin_events", data["t_s"], data, keys, ["kind", "action"])

    def _on_alert(self, doc: dict) -> None:
        self._on_event(doc, kind_of="alert")

    def _on_done(self, doc: dict) -> None:
        self._stop("success", "", doc["virtual_s"])


class DocumentFile:
    """Callback: writes each ``(name, doc)`` as one JSON line ``[name, doc]`` (the layout of bluesky's JSONL
    serializers), flushed per document so a crash keeps what was written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8")

    def __call__(self, name: str, doc: dict) -> None:
        self._fh.write(json.dumps([name, doc], allow_nan=False, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_documents(path: str | Path):
    """The ``(name, doc)`` pairs of a ``--documents`` file, in order (to replay into a bluesky callback)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            name, doc = json.loads(line)
            yield name, doc
