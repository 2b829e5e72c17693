"""``larp-twin run``, ``scenarios`` and ``export-ot2``: campaigns on the twin and the robot's protocol file."""

from __future__ import annotations

import threading
import time
from pathlib import Path


def _schedule(hours, every_min):
    """The Schedule for ``--hours``/``--every-min`` (None: the default), errors naming the option."""
    from pydantic import ValidationError

    from twin.config import Schedule
    from twin.messages import UserError, validation_text

    sched = {}
    if hours is not None:
        sched["hours"] = hours
    if every_min is not None:
        sched["every_min"] = every_min
    try:
        return Schedule(**sched)
    except ValidationError as e:
        raise UserError(f"{validation_text(e)} (allowed: 0 < --hours <= 168, 0 <= --every-min <= 1440, 0 = back to back)") from None


def _campaign_from_arg(target: str, hours, every_min):
    from scenarios import SCENARIOS, build_campaign
    from twin.campaign import Campaign
    from twin.messages import UserError
    from twin.platemap import read_plate_map

    schedule = _schedule(hours, every_min)
    if target in SCENARIOS:
        return build_campaign(target, schedule=schedule)
    path = Path(target)
    if path.is_dir():
        raise UserError(f"plate map {target!r} is a directory; give a plate-map .csv file (one row per well) or a "
                        f"built-in scenario ({', '.join(sorted(SCENARIOS))})")
    if target.lower().endswith(".csv") or path.exists():
        pm = read_plate_map(target)
        return Campaign(name=path.stem, description=f"plate map {target}", plate_map=pm,
                        plate_wells=pm.attrs["plate_wells"], schedule=schedule)
    raise UserError(f"{target!r} is neither a built-in scenario ({', '.join(sorted(SCENARIOS))}) nor a plate-map "
                    f".csv file; check the spelling or the path")


def check_seed(seed: int) -> None:
    from twin.messages import UserError

    if not 0 <= seed < 2**32:
        raise UserError(f"--seed {seed}: allowed: an integer 0 <= seed < 2**32")


def check_gen5_folder_args(args) -> None:
    """Refuse the Gen5-folder options that cannot work, before any work: a folder that is not a directory, a
    timeout that is not > 0, the folder-only options without ``--gen5-folder``, a fault plan on a lab run."""
    import math

    from twin.messages import UserError

    folder = getattr(args, "gen5_folder", None)
    timeout = getattr(args, "reader_timeout_s", None)
    if folder is None:
        given = [o for o, v in (("--include-existing", getattr(args, "include_existing", False)),
                                ("--reader-timeout-s", timeout is not None)) if v]
        if given:
            raise UserError(f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} --gen5-folder DIR "
                            f"(they set how the Gen5 export folder is watched)")
        return
    if not folder.strip() or not Path(folder).is_dir():  # "" would be the working directory
        what = "is empty" if not folder.strip() else "is a file" if Path(folder).exists() else "does not exist"
        raise UserError(f"--gen5-folder {folder!r} {what}; give the folder Gen5 exports each read into")
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise UserError(f"--reader-timeout-s {timeout:g}: allowed: a number of seconds > 0 (the longest wait for "
                        f"the next Gen5 export)")
    if args.faults:
        raise UserError(f"--faults {args.faults} injects faults into the twins; a --gen5-folder run reads the "
                        f"lab's real exports: drop --faults (rehearse faults on a twin run)")


def _with_gen5_folder(campaign, args):
    """``campaign`` with its reader on Gen5 folder mode (``--gen5-folder``), or unchanged without the option."""
    if getattr(args, "gen5_folder", None) is None:
        return campaign
    update = {"reader": "gen5-folder", "reader_folder": args.gen5_folder,
              "reader_include_existing": args.include_existing}
    if args.reader_timeout_s is not None:
        update["reader_timeout_s"] = args.reader_timeout_s
    return campaign.model_copy(update={"lab": campaign.lab.model_copy(update=update)})


def _read_lines(args) -> list:
    """Subscribers for a Gen5-folder run: one ``read N taken (FILE)`` line per read, unless ``--quiet``.

    A lab run takes hours and its reads arrive when Gen5 writes them: a line per read says it is alive."""
    if getattr(args, "gen5_folder", None) is None or args.quiet:
        return []
    from twin.records.documents import on

    def show(doc: dict) -> None:
        source = f" ({doc['source']})" if doc.get("source") else ""
        print(f"read {doc['index'] + 1} taken{source}", flush=True)

    return [on("read", show)]


def check_documents_arg(args) -> None:
    """Refuse a ``--documents`` path that cannot be written, before any work (a directory, a missing folder, an
    existing file without ``--overwrite``)."""
    path = getattr(args, "documents", None)
    if path is None:
        return
    from twin.messages import UserError

    p = Path(path)
    if p.is_dir():
        raise UserError(f"--documents {path!r} is a directory; give a file name such as run.jsonl")
    if not p.parent.is_dir():
        raise UserError(f"--documents {path!r}: the folder {str(p.parent)!r} does not exist")
    if p.exists() and not args.overwrite:
        raise UserError(f"--documents {path!r} exists; add --overwrite to replace it")


def _documents_subscriber(args):
    """(subscriber, close) for ``--documents FILE.jsonl``: the run as bluesky event-model documents, one JSON line
    each; ``close(exc)`` ends the file with a ``stop`` (``fail``/``abort`` when the run raised)."""
    if getattr(args, "documents", None) is None:
        return None, lambda exc=None: None
    from twin.records.bluesky import DocumentFile, EventModelDocuments

    out = DocumentFile(args.documents)
    translator = EventModelDocuments(out)

    def close(exc: BaseException | None = None) -> None:
        if exc is not None:
            status = "abort" if isinstance(exc, KeyboardInterrupt) else "fail"
            translator.close(status, f"{type(exc).__name__}: {exc}")
        out.close()

    return translator, close


def cmd_run(args) -> int:
    """Run a campaign; the summary's wall time is the whole command's (reading inputs to the last file written)."""
    from twin import outdir

    wall0 = getattr(args, "wall0", None) or time.perf_counter()
    check_seed(args.seed)
    check_gen5_folder_args(args)
    check_documents_arg(args)
    out = outdir.check_target(args.out, "run", overwrite=args.overwrite)
    if not args.no_figures:  # the figure worker imports matplotlib while this process imports the lab and runs it
        from twin.records.figure_workers import discard_figure_workers, prepare_figure_workers

        prepare_figure_workers()
    try:
        return _cmd_run(args, out, wall0)
    except BaseException:
        if not args.no_figures:
            discard_figure_workers()
        raise


def _cmd_run(args, out, wall0) -> int:
    campaign = _with_gen5_folder(_campaign_from_arg(args.target, args.hours, args.every_min), args)
    if args.faults:
        from twin.faults import FaultPlan, check_fault_wells

        plan = FaultPlan.load(args.faults)
        check_fault_wells(plan, campaign.plate_map, source=args.faults)
        campaign = campaign.model_copy(update={"faults": plan})
    if getattr(args, "procedure", None):
        from twin.procedure import load_procedure

        if args.hours is not None or args.every_min is not None:
            from twin.messages import UserError

            raise UserError(f"--procedure {args.procedure} sets the reading schedule; drop --hours/--every-min (or "
                            f"edit the procedure's kinetic loops)")
        campaign = campaign.model_copy(update={"procedure": load_procedure(args.procedure)})
    if args.params:
        from twin.params import load_params

        lab = campaign.lab.model_copy(update={"chemistry": load_params(args.params), "chemistry_source": args.params})
        campaign = campaign.model_copy(update={"lab": lab})
    progress = None if not args.quiet else False
    if getattr(args, "gen5_folder", None) is not None:
        progress = False  # a line per read instead (_read_lines): the bar's virtual minutes mean little here
    server = None
    if args.serve:  # the monitor watches the journal, so a served run is a durable one
        from twin.monitor.cli import serve

        args.durable = True
        Path(args.out).mkdir(parents=True, exist_ok=True)
        server = serve(args.out, host=args.host, port=args.port, token=args.token, params=args.params,
                       seeds=args.seeds, consecutive=args.consecutive, block=False)
    from twin.faults import SimulatedCrash
    from twin.records.figure_workers import _freeze_imports

    _freeze_imports()  # the campaign and the export allocate much; full GC passes need not walk the imports
    try:
        result, written = _run(campaign, out, args, progress)
    except SimulatedCrash as e:  # a rehearsed crash (a fault plan's `crash` with hard: false)
        from twin.messages import UserError

        then = (f"continue it with `larp-twin resume {out}`" if args.durable else
                "add --durable to rehearse the recovery with `larp-twin resume`")
        raise UserError(f"the fault plan {args.faults} crashed the run ({e}), as planned; {then}") from None
    m = result.manifest
    absorbance = f" (+ {m['absorbance_reads']} absorbance reads)" if m.get("absorbance_reads") else ""
    print(f"{m['scenario']}: {m['wells_read']} wells x {m['reads']} reads x {m['wavelengths']} wavelengths{absorbance}; "
          f"{m['virtual_s'] / 3600:.2f} virtual h in {time.perf_counter() - wall0:.2f} wall s -> {written}")
    print(_timing_line(campaign, m))
    if "faults" in m:
        f = m["faults"]
        acts = ", ".join(f"{k} {v}" for k, v in sorted(f["actions"].items()))
        planned = len(campaign.faults.faults)
        fired = planned - len(f.get("not_fired", []))
        print(f"faults: {fired} of {planned} planned faults fired ({f['injected_total']} injected); actions: "
              f"{acts} (events.jsonl)")
        for text in f.get("not_fired", []):
            print(f"faults: did not fire: {text}")
        from twin.monitor.cli import append_flag_events
        from twin.monitor.forecast import flags_for_result

        already = any(e.get("kind") == "forecast" for e in result.events)  # a real run's flags are in its log
        flags = [] if already else flags_for_result(result, params=args.params, seeds=args.seeds,
                                                    consecutive=args.consecutive)
        if flags:
            append_flag_events(flags, Path(written) / "events.jsonl")
            print(f"forecast: {len(flags)} well(s) left the twin's band: "
                  f"{', '.join(sorted({f['well'] for f in flags}))} (events.jsonl)")
    if server is not None:
        print("run finished; still serving (Ctrl-C stops)")
        _serve_until_ctrl_c(server)
    return 0


def _serve_until_ctrl_c(server) -> None:
    """Keep the monitor of a finished run up until Ctrl-C: the user is still looking at it."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


def _timing_line(campaign, m: dict) -> str:
    """What lab day takes, from the twin: robot preparation, one scan, the reads (docs/lab_day.md quotes it)."""
    from twin.campaign import read_duration_s

    scan_min = read_duration_s(campaign, m["wells_read"]) / 60.0
    return (f"timing: robot preparation {m['prep_s'] / 60:.1f} min; plate on the reader "
            f"{(m['kinetic_start_s'] - m['prep_s']) / 60:.1f} min later; one scan of {m['wells_read']} wells "
            f"{scan_min:.1f} min; {m['reads']} reads in {(m['virtual_s'] - m['kinetic_start_s']) / 3600:.2f} h")


def _run(campaign, out, args, progress):
    """Run ``campaign`` (durable or not) and write its outputs; (result, the results directory)."""
    subscribers = _read_lines(args)
    documents, close_documents = _documents_subscriber(args)
    if documents is not None:
        subscribers.append(documents)
    try:
        result, written = _run_with(campaign, out, args, progress, subscribers)
    except BaseException as exc:
        close_documents(exc)
        raise
    close_documents()
    return result, written


def _run_with(campaign, out, args, progress, subscribers):
    from twin import outdir
    from twin.campaign import run_campaign
    from twin.early import RunEndedEarly
    from twin.records.export import write_results

    if args.durable:
        from twin.records.resume import run_durable

        # a finished previous run is replaced (moved aside, removed once this one has finished)
        stopped = None
        with outdir.replacing(out, args.overwrite or outdir.owner(out)[0] == "run"):
            try:
                result = run_durable(campaign, out, seed=args.seed, figures=not args.no_figures, progress=progress,
                                     subscribers=subscribers)
            except RunEndedEarly as stop:  # its reads are in OUT (journal, results): keep them, not the old run
                stopped = stop
            else:
                outdir.write_marker(out, "run")
        if stopped is not None:
            raise stopped
        return result, out / "results"

    try:
        result = run_campaign(campaign, seed=args.seed, progress=progress, subscribers=subscribers)
    except RunEndedEarly as stop:  # real instruments stopped early: the reads received go to disk first (exit 3)
        stop.written = write_results(stop.result, out, figures=not args.no_figures)
        raise
    return result, write_results(result, out, figures=not args.no_figures)


def cmd_scenarios(args) -> int:
    from scenarios import SCENARIOS

    width = max(len(n) for n in SCENARIOS)
    for name, s in SCENARIOS.items():
        print(f"{name:<{width}}  {s.summary}")
    return 0


def _is_ot2_protocol(head: bytes) -> bool:
    """An OT-2 protocol file ``export-ot2`` wrote (it may be replaced without --overwrite)."""
    return b"exported from the larp-twin twin" in head or b"larp-twin" in head[:400]


def cmd_export_ot2(args) -> int:
    from twin import outdir
    from twin.protocol_export import export_protocol

    out = outdir.check_target(args.out, "export-ot2", overwrite=args.overwrite, kind="file", option="-o/--out",
                              own_file=_is_ot2_protocol)
    campaign = _campaign_from_arg(args.target, None, None)
    with outdir.atomic_file(out) as tmp:
        export_protocol(campaign.plate_map, tmp, api_level=args.api_level, plate_wells=campaign.plate_wells,
                        name=f"LARP {campaign.name}")
    print(f"{campaign.name}: OT-2 protocol -> {out} (check: opentrons_simulate {out})")
    return 0


def add_cli(sub) -> None:
    """Add ``run``, ``export-ot2`` and ``scenarios``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("run", help="run a campaign (a built-in scenario or a plate-map CSV) on the twin")
    p.add_argument("target", help="scenario name (see `larp-twin scenarios`) or PLATE.csv")
    p.add_argument("--out", required=True, help="output directory: new, empty, or a finished run (replaced "
                   "atomically); anything else needs --overwrite")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    p.add_argument("--hours", type=float, default=None, help="kinetic read-out length (default 12)")
    p.add_argument("--every-min", type=float, default=None, help="minutes between reads (default 10)")
    p.add_argument("--procedure", default=None, metavar="FILE.yaml",
                   help="reader procedure (read steps, delays, kinetic loops; see scenarios/data/two_phase.yaml) "
                        "instead of --hours/--every-min")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar (nor, with --gen5-folder, a line per read)")
    p.add_argument("--faults", default=None, help="fault plan (YAML/JSON) to inject; see twin/faults/plan.py")
    p.add_argument("--params", default=None, help="chemistry parameters (LarpParameters JSON, as `larp-twin "
                   "calibrate` writes); default: the built-in calibration")
    p.add_argument("--gen5-folder", default=None, metavar="DIR",
                   help="lab day: take the reads from the exports Gen5 writes into DIR, one per read (the "
                        "reader's side of a real run; --hours/--every-min as in Gen5)")
    p.add_argument("--include-existing", action="store_true",
                   help="with --gen5-folder: also take the exports already in DIR, oldest first (copied files)")
    p.add_argument("--reader-timeout-s", type=float, default=None, metavar="S",
                   help="with --gen5-folder: longest wait for the next export before the run ends early "
                        "(default 3600)")
    p.add_argument("--documents", default=None, metavar="FILE.jsonl",
                   help="also write the run as bluesky event-model documents (start, descriptor, event, stop), one "
                        "[name, doc] JSON line each; see docs/bluesky.md")
    p.add_argument("--durable", action="store_true",
                   help="journal every read into OUT/journal.jsonl, results in OUT/results; "
                        "an interrupted run continues with `larp-twin resume OUT`")
    p.add_argument("--serve", action="store_true", help="serve the live monitor of OUT while it runs (implies "
                   "--durable); see `larp-twin watch`")
    from twin.monitor.cli import add_forecast_args, add_server_args

    add_server_args(p)
    add_forecast_args(p, params=False)
    add_overwrite(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("export-ot2", help="write a stand-alone OT-2 protocol (.py) for the Opentrons App")
    p.add_argument("target", help="scenario name or PLATE.csv")
    p.add_argument("-o", "--out", required=True, help="protocol file to write")
    p.add_argument("--api-level", default="2.20", help="OT-2 protocol apiLevel (default 2.20)")
    add_overwrite(p)
    p.set_defaults(func=cmd_export_ot2)
    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(func=cmd_scenarios)
