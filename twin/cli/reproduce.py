"""``larp-twin reproduce``: every claim of the paper measured on the twin: PASS, FAIL or NOT MEASURABLE."""

from __future__ import annotations


def cmd_reproduce(args) -> int:
    """``larp-twin reproduce --out DIR``: the report, written atomically under the output policy (``twin.outdir``)."""
    from scenarios.reproduce import reproduce
    from twin import outdir
    from twin.messages import UserError

    out = outdir.check_target(args.out, "reproduce", overwrite=args.overwrite)
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed {args.seed}: allowed: an integer 0 <= seed < 2**32")
    if not 0 < args.hours <= 168:
        raise UserError(f"--hours {args.hours:g}: allowed: 0 < hours <= 168")
    with outdir.atomic_dir(out, command="reproduce") as tmp:
        rep = reproduce(tmp, seed=args.seed, hours=args.hours)
    rep.out_dir = out
    print(f"{rep.summary} in {rep.wall_s:.1f} s -> "
          f"{rep.report_md} and {rep.report_html}")
    for c in rep.claims:
        if c.verdict != "PASS":
            print(f"  {c.verdict} {c.key} ({c.figure}): {c.measured}")
    return 0


def add_cli(sub) -> None:
    """Add ``reproduce``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("reproduce", help="run the paper's experiments on the twin and write a PASS/FAIL report "
                       "(report.md, report.html) of every claim")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--hours", type=float, default=12.0, help="kinetic read-out per campaign (default 12)")
    add_overwrite(p)
    p.set_defaults(func=cmd_reproduce)
