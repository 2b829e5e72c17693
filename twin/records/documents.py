"""The run's document stream (after bluesky): the runner emits ``(name, doc)`` pairs, subscribers consume them.

Documents, in order (``doc`` is a plain JSON-ready dict):

- ``start``     campaign, seed, procedure (the procedure as data), wells read
- ``clock``     real drivers only: the wall-clock epoch of campaign t=0 (``wall_epoch_s``, ``time_factor``)
- ``plate``     the plate after preparation: wells, volumes per component, injection times (``t_s``)
- ``kinetic``   real drivers only: campaign time the procedure starts (``t_s``)
- ``event``     every fault and recovery action (``t_s``, ``kind``, ``action``, ...)
- ``alert``     a pause-and-alert (also logged as an ``event``)
- ``read``      one PL emission scan: ``index``, ``slot`` (cycle of its kinetic loop), ``start_s``, ``end_s``,
  ``wells``, ``wavelength_nm``, ``excitation_nm``, ``gain``, ``counts``; ``loop`` (its step in the procedure) when
  not the first
- ``abs_read``  one absorbance scan or endpoint: ``index``, ``slot``, ``loop``, ``step``, ``start_s``, ``end_s``,
  ``wells``, ``wavelength_nm``, ``od``
- ``done``      the stop document: ``virtual_s``, ``reads`` (PL), plus ``abs_reads`` when there were any

A subscriber is any callable ``(name, doc)``; ``twin.records.bluesky.EventModelDocuments`` translates the stream
into bluesky event-model documents for bluesky callbacks (``larp-twin run --documents``).  The journal (``JournalWriter``) records every document but ``start``
and ``alert`` (the journal's own ``start`` record is written by ``twin.records.resume``; alerts are events), so a
journal is the document stream on disk and resume replays it.  Journals written before documents existed hold the
same records (a PL-only run's records are unchanged), so they resume as before.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable

Subscriber = Callable[[str, dict], None]

#: documents the journal records (the rest are for live consumers only)
JOURNALED = ("clock", "plate", "kinetic", "event", "read", "abs_read", "done")


class DocumentStream:
    """Fans documents out to subscribers, in subscription order."""

    def __init__(self, subscribers: Iterable[Subscriber] = ()):
        self.subscribers: list[Subscriber] = [s for s in subscribers if s is not None]

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def emit(self, name: str, doc: dict) -> None:
        for s in self.subscribers:
            s(name, doc)


class JournalWriter:
    """Subscriber: appends the journaled documents to a ``twin.records.journal.Journal``.

    ``fresh`` tells whether the last document was newly written (False while a resumed run replays the journal).
    """

    def __init__(self, journal):
        self.journal = journal
        self.fresh = True

    def __call__(self, name: str, doc: dict) -> None:
        if name in JOURNALED:
            self.fresh = self.journal.append(name, **doc)


class ProgressBar:
    """Subscriber: a tqdm bar over campaign minutes, moved by each document's time; off when stderr is no TTY."""

    def __init__(self, total_min: float, enabled: bool | None = None):
        enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = None
        self.at_min = 0.0
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=round(total_min), unit="vmin", desc="virtual time", leave=True, dynamic_ncols=True)

    def __call__(self, name: str, doc: dict) -> None:
        t = next((doc[k] for k in ("end_s", "virtual_s", "t_s") if isinstance(doc.get(k), (int, float))), None)
        if self.bar is not None and t is not None and t / 60.0 > self.at_min:
            self.bar.update(t / 60.0 - self.at_min)
            self.at_min = t / 60.0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def on(names: str | Iterable[str], callback: Callable[[dict], None]) -> Subscriber:
    """A subscriber calling ``callback(doc)`` for documents named ``names`` only (``on("read", show)``)."""
    wanted = {names} if isinstance(names, str) else set(names)

    def subscriber(name: str, doc: dict) -> None:
        if name in wanted:
            callback(doc)

    return subscriber
