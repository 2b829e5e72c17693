"""``larp-twin sweep SPEC --out DIR``: many campaigns in parallel (local processes or a Dask cluster)."""

from __future__ import annotations


def cmd_sweep(args) -> int:
    """``larp-twin sweep SPEC --out DIR``: run a sweep and print where the tables are.

    ``--out`` follows ``twin.outdir``: new, empty, or a sweep's own directory (finished campaigns are skipped);
    ``--overwrite`` starts afresh.  A ``--scheduler`` that does not answer is refused before anything is written.
    """
    from twin import outdir
    from twin.messages import UserError
    from twin.studies.spec import PARAMETERS, load_spec
    from twin.studies.sweep import SweepRunError, run_sweep

    out = outdir.check_target(args.out, "sweep", overwrite=args.overwrite, extra_files_ok=True)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: allowed: 1 or more")
    for option, name in (("--x", args.x), ("--y", args.y)):
        if name is not None and name not in PARAMETERS:
            raise UserError(f"{option} {name!r}; allowed: {', '.join(PARAMETERS)}")
    spec = load_spec(args.spec)  # a bad spec is refused before the scheduler is contacted or a file written
    if args.scheduler:
        check_scheduler(args.scheduler)
    try:
        with outdir.replacing(out, args.overwrite):
            result = run_sweep(spec, out, scheduler=args.scheduler, max_workers=args.workers,
                               progress=False if args.quiet else None, figure=not args.no_figure, x=args.x, y=args.y)
            outdir.write_marker(out, "sweep")
    except SweepRunError as e:
        raise UserError(str(e)) from None
    m = result.manifest
    print(f"{m['sweep']}: {m['conditions']} conditions x {len(m['seeds'])} seed(s) in {m['campaigns']} campaigns "
          f"({m['skipped_as_done']} already done) in {m['wall_s']:.1f} s -> {result.out}/summary/, features/ "
          f"(Parquet datasets: pandas.read_parquet('{result.out}/summary'))")
    return 0


def check_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Refuse a ``tcp://host:port`` Dask scheduler that does not accept a connection (in seconds, not Dask's 30)."""
    import socket
    from urllib.parse import urlsplit

    from twin.messages import UserError

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or not port:
        raise UserError(f"--scheduler {address!r}: expected a Dask scheduler address tcp://HOST:PORT (e.g. "
                        f"tcp://127.0.0.1:8786); omit --scheduler to use local processes")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:
        raise UserError(f"--scheduler {address}: no Dask scheduler answers there ({e.strerror or e}); start one "
                        f"(`dask scheduler`) or omit --scheduler to use local processes") from None


def add_cli(subparsers) -> None:
    """Add the ``sweep`` sub-command to ``larp-twin``'s argparse sub-parsers."""
    p = subparsers.add_parser("sweep", help="run a parameter sweep (grid / random / Latin hypercube) of campaigns")
    p.add_argument("spec", help="sweep spec (.json, or .yaml with pyyaml installed)")
    p.add_argument("--out", required=True, help="output directory; finished campaigns in it are skipped")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786); default: local "
                   "process pool")
    p.add_argument("--workers", type=int, default=None, help="local process-pool size (default: CPU count)")
    from twin.studies.names import PARAMETERS

    p.add_argument("--x", default=None, help=f"figure x parameter, one of {list(PARAMETERS)}")
    p.add_argument("--y", default=None, help="figure y parameter")
    p.add_argument("--no-figure", action="store_true", help="skip summary.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from twin.outdir import add_overwrite

    add_overwrite(p)
    p.set_defaults(func=cmd_sweep)
