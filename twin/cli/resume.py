"""``larp-twin resume DIR``: finish a crash-safe (``--durable``) run from its journal."""

from __future__ import annotations

from pathlib import Path


def cmd_resume(args) -> int:
    from twin.records.resume import RESULTS_DIR, resume

    overrides = {"reader_port": args.reader_port} if args.reader_port else None
    result = resume(args.run_dir, figures=not args.no_figures, pace=args.pace, progress=not args.quiet and None,
                    lab_overrides=overrides, group_by=args.group_by)
    if result is None:
        print(f"{args.run_dir}: already complete ({RESULTS_DIR}/manifest.json)")
        return 0
    m = result.manifest
    print(f"{m['scenario']}: {m['reads']} reads, {m['journal']['records']} journal records, "
          f"{sum(1 for e in result.events if e['action'] == 'injected')} faults injected -> "
          f"{Path(args.run_dir) / RESULTS_DIR}")
    for text in m.get("faults", {}).get("not_fired", []):
        print(f"faults: did not fire: {text}")
    return 0


def add_cli(subparsers) -> None:
    """Add ``resume DIR`` to ``larp-twin``'s sub-commands."""
    p = subparsers.add_parser("resume", help="continue an interrupted crash-safe run (a DIR with campaign.json)")
    p.add_argument("run_dir", help="run directory (campaign.json + journal.jsonl)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--reader-port", help="the reader's serial port now, if it changed since the run started "
                   "(a re-plugged USB adapter)")
    from twin.cli.run import add_group_by_arg, add_pace_arg

    add_pace_arg(p)
    add_group_by_arg(p)
    p.set_defaults(func=cmd_resume)
