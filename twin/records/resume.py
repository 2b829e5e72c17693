"""Crash-safe campaigns: a run directory with a durable journal, and ``resume`` after a crash.

Run directory layout::

    RUN/campaign.json     the campaign and seed, written atomically before anything runs
    RUN/journal.jsonl     append-only, fsynced: plate state after preparation, every fault event, every read
    RUN/results/          the usual outputs (``twin.records.export.write_results``, atomic) + events.jsonl, at the end

How resume works on the twins (virtual time): the campaign is re-run from ``campaign.json`` with the same seed, so
the twins regenerate the same plate, the same events and the same reads at the same virtual times; the journal
verifies every regenerated record against the recorded one (``ReplayMismatch`` if the code or inputs changed) and
appends only what is new.  Virtual time therefore continues at exactly the offset where the crash happened, and the
outputs are byte-for-byte those of an uninterrupted run.  Replaying a 12 h twin campaign takes seconds.

Real drivers (``realtime`` / serial / OT-2) cannot be replayed -- the plate exists once.  Their journal also holds
``clock`` (the wall-clock epoch of campaign t=0, written before preparation) and ``kinetic`` (the schedule's t0).
Resuming one restores the plate (contents per component, injection times) from its journaled ``plate`` record,
skips preparation, reconnects the reader from the saved LabConfig (``lab_overrides``, e.g. a new ``reader_port``,
replace fields of it), puts the plate back on the reader and continues on the wall clock: campaign time is again
``(now - epoch) / time_factor``, the reads already journaled are kept, slots missed while the run was down are logged
as ``read_missed`` and the next read is the first slot still ahead, or the latest overdue one at once.  A crash
during preparation (no ``plate`` record: a half-made plate) is refused: start a new run with a new plate.  On a
virtual clock (``realtime=False``) the lost time is unknown; the campaign continues at the last journaled time.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from twin.config import LabConfig
from twin.outdir import umask
from twin.early import RunEndedEarly
from twin.records.documents import JournalWriter
from twin.records.journal import Journal, JournalError, read_journal

CAMPAIGN_FILE = "campaign.json"
JOURNAL_FILE = "journal.jsonl"
RESULTS_DIR = "results"
EVENTS_FILE = "events.jsonl"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 would hide the run from the lab's other users
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, tmp):  # name the file, not its temporary twin
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def campaign_spec(campaign, seed: int) -> dict:
    """Everything needed to re-run ``campaign`` identically (the plate map as CSV text)."""
    return {
        "format": 1,
        "seed": int(seed),
        "name": campaign.name,
        "description": campaign.description,
        "plate_wells": campaign.plate_wells,
        "plate_map_csv": campaign.plate_map.to_csv(index=False, lineterminator="\n"),
        "schedule": campaign.schedule.model_dump(mode="json"),
        "lab": campaign.lab.model_dump(mode="json"),
        "start_time": campaign.start_time.isoformat(),
        "faults": campaign.faults.model_dump(mode="json") if campaign.faults is not None else None,
        **({"procedure": campaign.procedure.model_dump(mode="json")} if campaign.procedure is not None else {}),
    }


def campaign_from_spec(spec: dict):
    """The Campaign and seed of a ``campaign.json``."""
    from twin.campaign import Campaign

    if spec.get("format", 1) != 1:
        raise JournalError(f"{CAMPAIGN_FILE} has format {spec.get('format')!r}; this larp-twin reads format 1: "
                           f"resume it with the larp-twin version that wrote it")
    pm = pd.read_csv(io.StringIO(spec["plate_map_csv"]), dtype={"well": str})
    c = Campaign(name=spec["name"], description=spec["description"], plate_map=pm, plate_wells=spec["plate_wells"],
                 schedule=spec["schedule"], lab=spec["lab"], start_time=spec["start_time"], faults=spec["faults"],
                 procedure=spec.get("procedure"))
    return c, int(spec["seed"])


def _spec_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def start_run(campaign, run_dir: str | Path, seed: int = 0) -> Path:
    """Create ``run_dir`` with ``campaign.json`` (refuses a directory that already holds a run)."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if (run / CAMPAIGN_FILE).exists():
        raise FileExistsError(f"{run} already holds a run ({CAMPAIGN_FILE}); continue it with `larp-twin resume "
                              f"{run}` or choose another directory")
    _atomic_write(run / CAMPAIGN_FILE, json.dumps(campaign_spec(campaign, seed), indent=1) + "\n")
    return run


def is_complete(run_dir: str | Path) -> bool:
    """True once the run's results are written and the run reached its end (a short run that ended early, with its
    reads written, can still be resumed: its manifest says ``ended_early``)."""
    res = Path(run_dir) / RESULTS_DIR
    if not ((res / "manifest.json").exists() and (res / EVENTS_FILE).exists()):
        return False
    try:
        return "ended_early" not in json.loads((res / "manifest.json").read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return False  # a damaged manifest: write the results again


def _keeps_journal(resume):
    """``resume`` that first removes what a killed write left (``clean_leftovers``), marks the run once finished
    (``.larp-twin.json``), and on a write that fails (a full disk) keeps the journal and says so: the ``OSError``
    names the file and gets a note that ``larp-twin resume RUN`` continues."""
    @functools.wraps(resume)
    def wrapper(run_dir, *args, **kwargs):
        from twin.outdir import MARKER

        run = Path(run_dir)
        if (run / CAMPAIGN_FILE).is_file():
            clean_leftovers(run)  # a results directory half-written by a process killed while writing it
        try:
            result = resume(run_dir, *args, **kwargs)
        except OSError as exc:
            if (run / JOURNAL_FILE).exists():
                keep_note(exc, run)
            raise
        if result is not None or not (run / MARKER).is_file():  # finished now (or before, unmarked)
            _mark(run)
        return result

    return wrapper


def _mark(run: Path) -> None:
    """A finished run directory carries the marker ``larp-twin run`` gives one (``twin.outdir.write_marker``)."""
    from twin.outdir import write_marker

    write_marker(run, "run")


def clean_leftovers(run: Path) -> list[str]:
    """Remove what a process killed while writing left in ``run``: a half-written results directory
    (``.results.partial-*``), a previous one moved aside (``.results.old-*``), a half-written campaign.json or
    events log (``.campaign.json.*``, ``results/.events.jsonl.*``); returns their names."""
    left = [*run.glob(f".{RESULTS_DIR}.partial-*"), *run.glob(f".{RESULTS_DIR}.old-*")]
    if (run / CAMPAIGN_FILE).is_file():
        left += run.glob(f".{CAMPAIGN_FILE}.*")
    left += (run / RESULTS_DIR).glob(f".{EVENTS_FILE}.*")
    for path in left:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return sorted(p.name for p in left)


def journal_reads(run: Path) -> int:
    """How many reads the journal in ``run`` holds (0 if it has none, or no journal)."""
    try:
        return sum(1 for r in _records(Path(run)) if r.get("type") == "read")
    except Exception:  # noqa: BLE001 - an unreadable journal holds no read a replaced run should give way to
        return 0


def keep_note(exc: BaseException, run: Path) -> None:
    """Say (once) on ``exc`` that ``run`` keeps its journal and how to continue it."""
    if getattr(exc, "journal_kept", False):
        return
    exc.journal_kept = True  # ``larp-twin run`` keeps this directory rather than a run it replaced
    reads = sum(1 for r in _records(run) if r.get("type") == "read")
    cause = ("there is space on its disk again" if getattr(exc, "errno", None) == errno.ENOSPC
             else "the cause is fixed")
    exc.add_note(f"{run} keeps the journal of what was done ({JOURNAL_FILE}, {reads} reads): once {cause}, "
                 f"continue with `larp-twin resume {run}`")


@_keeps_journal
def resume(run_dir: str | Path, *, figures: bool = False, pace_s: float = 0.0, progress: bool | None = False,
           lab_overrides: dict | None = None, on_read=None, subscribers=(), pace: float | None = None,
           group_by: str | None = None):
    """Continue (or start) the run in ``run_dir``; returns its CampaignResult, or None if it was already complete.

    ``pace_s``: wall seconds to sleep after each *newly* journaled read (tests use it to slow a run down so it can
    be killed mid-way; replayed reads are not slowed).  ``pace``: play a twin run at ``pace`` x real time from its
    first read on (each new read waits until its virtual time, divided by ``pace``, has passed on the wall clock
    since the first read, or since the last replayed one when resumed: ``larp-twin run --serve --pace 60`` shows 12 h
    of reads in 12 min; the robot's preparation is not paced).
    ``group_by``: the plate-map column the figures group by (``write_results``).
    ``lab_overrides``: LabConfig fields to change for this
    session (a re-plugged reader on a new ``reader_port``); a twin run must reproduce its journal regardless.
    ``on_read(index, fresh)``: called after each PL read (``fresh``: newly journaled, not replayed).
    ``subscribers``: more document subscribers (``twin.records.documents``), after the journal.
    """
    from twin.campaign import run_campaign

    run = Path(run_dir)
    if not run.is_dir():
        what = "is a file, not a run directory" if run.exists() else "does not exist"
        raise JournalError(f"{run} {what}; give the directory a `larp-twin run --durable` wrote (it holds "
                           f"{CAMPAIGN_FILE} and {JOURNAL_FILE})")
    from instruments.input_files import MAX_STRUCTURED_BYTES, load_json, read_capped

    if not (run / CAMPAIGN_FILE).exists():
        raise JournalError(f"{run} is not a run directory: no {CAMPAIGN_FILE}")
    try:  # bounded: a regular file of at most 5 MB, nested at most 32 deep (no RecursionError)
        text = read_capped(run / CAMPAIGN_FILE, "campaign file", MAX_STRUCTURED_BYTES, JournalError).decode("utf-8")
        spec = load_json(text, str(run / CAMPAIGN_FILE), JournalError)
    except UnicodeDecodeError as exc:
        raise JournalError(f"{run / CAMPAIGN_FILE} is damaged: {exc}") from None
    if not isinstance(spec, dict):
        raise JournalError(f"{run / CAMPAIGN_FILE} is damaged: expected a JSON object, got {type(spec).__name__}")
    if is_complete(run):
        return None
    campaign, seed = campaign_from_spec(spec)
    overrides = dict(lab_overrides or {})
    if overrides:
        lab = LabConfig.model_validate({**campaign.lab.model_dump(), **overrides})
        campaign = campaign.model_copy(update={"lab": lab})
    start = {"campaign": campaign.name, "seed": seed, "spec_sha": _spec_sha(text)}

    with Journal(run / JOURNAL_FILE) as journal:
        writer = JournalWriter(journal)
        paced_from: list[float] = []  # (wall s, virtual s) of the first new read, for ``pace``

        def read_hook(name: str, doc: dict) -> None:
            if name != "read":
                return
            if writer.fresh and pace_s > 0:
                time.sleep(pace_s)
            if pace and isinstance(doc.get("end_s"), (int, float)):
                if not writer.fresh or not paced_from:  # a replayed read, or the run's first: the pace starts here
                    paced_from[:] = (time.monotonic(), float(doc["end_s"]))
                else:
                    due = paced_from[0] + (float(doc["end_s"]) - paced_from[1]) / pace
                    time.sleep(max(0.0, due - time.monotonic()))
            if on_read is not None:
                on_read(doc["index"], writer.fresh)

        subs = [writer, read_hook, *subscribers]
        if campaign.lab.is_real:
            restart = restart_point(journal.recorded, campaign, run)
            journal.cursor = len(journal.recorded)  # nothing to replay: append after what is there
            journal.append("start", **start, resumed=restart is not None, lab_overrides=overrides)
            try:
                result = run_campaign(campaign, seed=seed, progress=progress, subscribers=subs, restart=restart)
            except RunEndedEarly as stop:  # the reads received are journaled: write them, stay resumable
                stop.result.manifest["journal"] = {"file": JOURNAL_FILE, "records": len(journal.recorded)}
                stop.written = _write(stop.result, run, figures, group_by)
                stop.add_note(f"{run} keeps the journal: once the reader delivers reads again (Gen5 writes new "
                              f"exports), continue with "
                              f"`larp-twin resume {run}`")
                raise
        else:
            crashed_at = [e["at_s"] for e in journal.of_type("event")
                          if e["kind"] == "crash" and e["action"] == "injected"]
            journal.append("start", **start)
            result = run_campaign(campaign, seed=seed, progress=progress, subscribers=subs, crashed_at=crashed_at)
        if journal.replaying:
            raise JournalError(f"{run}: the journal holds {len(journal.recorded) - journal.cursor} records beyond "
                               f"the end of the re-run campaign")
    result.manifest["journal"] = {"file": JOURNAL_FILE, "records": len(journal.recorded)}
    _write(result, run, figures, group_by)
    return result


def _write(result, run: Path, figures: bool, group_by: str | None = None) -> Path:
    """The run's outputs and event log into ``run/results`` (replacing an earlier short run's)."""
    from twin.records.export import write_results

    out = write_results(result, run / RESULTS_DIR, figures=figures, group_by=group_by)
    write_events(result.events, out / EVENTS_FILE)
    return out


def _last_time_s(records: list[dict]) -> float:
    """The latest campaign time any journaled record mentions."""
    times = [0.0]
    for r in records:
        if r.get("type") == "read" and r.get("wall_s") is not None:
            continue  # a read timed by its own source (a Gen5 export's Date/Time), not by the campaign's clock
        for key in ("t_s", "end_s", "virtual_s"):
            if isinstance(r.get(key), (int, float)):
                times.append(float(r[key]))
    return max(times)


def restart_point(records: list[dict], campaign, run: Path | str = "run"):
    """Where a real-driver run continues: a ``twin.records.restart.Restart``, or None if it never got going.

    Raises JournalError for a crash during preparation (a half-made plate cannot be resumed).
    """
    from twin.records.restart import Restart, abs_read_from_record, read_from_record

    clock = next((r for r in records if r["type"] == "clock"), None)
    if clock is None:
        return None  # died before the lab was up (e.g. a wrong port): nothing was done, start afresh
    plates = [r for r in records if r["type"] == "plate"]
    events = [{k: v for k, v in r.items() if k not in ("seq", "type")} for r in records if r["type"] == "event"]
    if not plates:
        faults = ", ".join(f"{e['kind']} {e['action']} at {e['t_s']:g} s" for e in events) or "no faults"
        raise JournalError(
            f"{run}: the run crashed during plate preparation (the journal holds no plate state after "
            f"{len(records)} records; events: {faults}): the plate is half-made and the journal does not say "
            f"what reached each well. Start a new run (a new directory) with a new plate")
    reads = [r for r in records if r["type"] == "read"]
    if [r["index"] for r in reads] != list(range(len(reads))):
        raise JournalError(f"{run}: journaled read indices {[r['index'] for r in reads]} are not 0, 1, 2 ...")
    kinetic = next((r["t_s"] for r in records if r["type"] == "kinetic"), None)
    last_s = _last_time_s(records)
    factor = clock.get("time_factor") or 1.0
    if clock.get("realtime"):
        at_s = (time.time() - clock["wall_epoch_s"]) / factor
        if at_s < last_s:
            raise JournalError(f"{run}: the wall clock reads campaign time {at_s:.1f} s, before the last journaled "
                               f"record ({last_s:.1f} s); has the system clock been set back?")
    else:
        at_s = last_s
    any_reads = [r for r in records if r["type"] in ("read", "abs_read")]
    last = any_reads[-1] if any_reads else {}
    # files a folder reader took before: the reads' exports (never again) and the exports refused when the run
    # ended early (again once changed: their size and modification time then)
    sources = [r["source"] for r in reads if r.get("source")]
    for e in events:
        if e.get("action") == "ended_early":
            files = e.get("rejected_files")
            sources += ([(f["file"], f["size"], f["mtime_ns"]) for f in files] if files is not None
                        else list(e.get("rejected", ())))
    return Restart(plate=plates[0], at_s=at_s, time_factor=factor, reads=[read_from_record(r) for r in reads],
                   abs_reads=[abs_read_from_record(r) for r in records if r["type"] == "abs_read"],
                   events=events, kinetic_start_s=kinetic, last_slot=last.get("slot", -1),
                   last_loop=last.get("loop", 0), done=any(r["type"] == "done" for r in records),
                   sources=sources, wall_epoch_s=clock.get("wall_epoch_s"))


def write_events(events: list[dict], path: str | Path) -> Path:
    """The event log as JSON lines (atomic)."""
    path = Path(path)
    _atomic_write(path, "".join(json.dumps(e, default=float) + "\n" for e in events))
    return path


def run_durable(campaign, run_dir: str | Path, seed: int = 0, **kwargs):
    """Start a new crash-safe run in ``run_dir`` and run it to the end (``resume`` it after a crash)."""
    run = Path(run_dir)
    existed = run.exists()
    start_run(campaign, run_dir, seed)
    try:
        return resume(run_dir, **kwargs)
    except RunEndedEarly:
        raise  # its reads are written and its note says how to resume
    except Exception as exc:
        if not (campaign.lab.is_real or isinstance(exc, OSError) or _journal_done(run)):
            # on the twins a failed run fails the same way when resumed: leave nothing behind that blocks a rerun
            # (a write that failed, a full disk, is no such failure: the journal is kept for resume)
            if existed:
                for name in (CAMPAIGN_FILE, JOURNAL_FILE):
                    (run / name).unlink(missing_ok=True)
                shutil.rmtree(run / RESULTS_DIR, ignore_errors=True)
            else:
                shutil.rmtree(run, ignore_errors=True)
            raise
        keep_note(exc, run)
        raise


def _records(run: Path) -> list[dict]:
    try:
        return read_journal(run / JOURNAL_FILE)
    except (OSError, JournalError):
        return []


def _journal_done(run: Path) -> bool:
    """The journal holds the whole campaign (its ``done`` record): never deleted, whatever failed after it."""
    return any(r.get("type") == "done" for r in _records(run))

