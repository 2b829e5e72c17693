"""A run on real instruments that ended before its procedure did: the reads received are kept, never lost.

Why: in Gen5 folder mode the reads come from exports Gen5 writes; if Gen5 stops early (the operator aborts the
kinetic run, the PC crashes, the disk fills) or the user presses Ctrl-C, hours of reads are already in memory (and in
the journal of a durable run).  ``twin.campaign.run_campaign`` then builds the normal ``CampaignResult`` of the reads
received, marks its manifest ``ended_early`` and raises ``RunEndedEarly`` carrying it, so that:

- the caller writes it like any result (``write_results(stop.result, out)``; ``larp-twin`` and durable runs do it
  themselves) -- the files are those of a full run, just fewer reads;
- nobody mistakes it for a finished run: it is an exception, and ``larp-twin`` exits 3 (130 after Ctrl-C) after
  writing, with one line naming the folder, why, and how many reads of how many planned were kept.

Twins are not concerned: their runs replay identically, so their errors propagate unchanged.
"""

from __future__ import annotations

from pathlib import Path

#: exit status of ``larp-twin`` when a run ended early and its reads were written (0 ok, 1 bug, 2 user error)
EXIT_ENDED_EARLY = 3
#: exit status after Ctrl-C (the shell's convention, 128 + SIGINT), with or without reads written
EXIT_INTERRUPTED = 130


class RunEndedEarly(Exception):
    """The procedure stopped before its end; ``result`` holds every read received (manifest ``ended_early``).

    ``interrupted``: stopped by Ctrl-C (KeyboardInterrupt) rather than by the instrument.  ``written``: where the
    result was written, once a caller has written it (the CLI's message names it).
    """

    def __init__(self, message: str, result, *, interrupted: bool = False):
        super().__init__(message)
        self.message = message
        self.result = result
        self.interrupted = interrupted
        self.written: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.interrupted else EXIT_ENDED_EARLY

    def __str__(self) -> str:
        m = self.result.manifest["ended_early"]
        planned = f" of {m['planned_reads']} planned" if m.get("planned_reads") else ""
        where = f" in {self.written}" if self.written is not None else " (not written yet)"
        return f"{self.message}; kept {m['reads']}{planned} reads{where} (manifest.json: ended_early)"


def ended_early_record(reason: str, reads: int, planned: int | None, *, interrupted: bool, folder=None,
                       at_s: float, rejected=(), rejected_files=None) -> dict:
    """The manifest's ``ended_early``: why, after which read, how many of how many planned were received.

    ``rejected_files``: {file: (size, mtime_ns)} of the files refused, so that ``resume`` looks at one again only
    once it has changed."""
    files = [{"file": name, "size": size, "mtime_ns": mtime_ns} for name, (size, mtime_ns) in
             (rejected_files or {}).items()]
    return {"reason": reason, "interrupted": interrupted, "after_read": reads, "reads": reads,
            "planned_reads": planned, "at_s": round(float(at_s), 3),
            **({"folder": str(folder)} if folder is not None else {}),
            **({"rejected": list(rejected)} if rejected else {}),
            **({"rejected_files": files} if files else {})}


def ended_early_message(campaign: str, record: dict) -> str:
    """One line: ``NAME: ended early after read N of M planned: REASON`` (the reader's reason names the folder),
    or ``NAME: interrupted (Ctrl-C) after read N of M planned while watching FOLDER``."""
    planned = f" of {record['planned_reads']} planned" if record.get("planned_reads") else ""
    if record["interrupted"]:
        folder = f" while watching {record['folder']}" if record.get("folder") else ""
        return f"{campaign}: interrupted (Ctrl-C) after read {record['after_read']}{planned}{folder}"
    return f"{campaign}: ended early after read {record['after_read']}{planned}: {record['reason']}"
