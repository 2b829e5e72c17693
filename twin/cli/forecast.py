"""``larp-twin forecast PLATE_MAP --out DIR``: the twin's band of every well and read, before the plate is made."""

from __future__ import annotations

import time


def cmd_forecast(args) -> int:
    """Plate map -> forecast.csv (well, run_min, metric, lo, median, hi), forecast.json, forecast.png."""
    from twin import outdir
    from twin.cli.run import check_seed

    wall0 = getattr(args, "wall0", None) or time.perf_counter()
    check_seed(args.seed)
    out = outdir.check_target(args.out, "forecast", overwrite=args.overwrite)
    from twin.cli.run import _campaign_from_arg
    from twin.forecast import check_level, forecast_plate

    check_level(args.level)
    campaign = _campaign_from_arg(args.target, args.hours, args.every_min)
    if args.params:
        from twin.params import load_params

        lab = campaign.lab.model_copy(update={"chemistry": load_params(args.params), "chemistry_source": args.params})
        campaign = campaign.model_copy(update={"lab": lab})
    with outdir.atomic_dir(out, command="forecast") as tmp:
        fc = forecast_plate(campaign, tmp, uncertainty=args.uncertainty or args.params, level=args.level,
                            seed=args.seed, draws=args.draws, figure=not args.no_figures)
    s = fc.summary
    print(f"{s['plate']}: {s['wells']} wells x {s['reads']} reads, central {s['level']:.0%} band from {s['draws']} "
          f"draws (parameters: {s['uncertainty']['names']}; well scatter; pipetting; reader noise) in "
          f"{time.perf_counter() - wall0:.1f} wall s -> {out}")
    return 0


def add_cli(sub) -> None:
    """Add ``forecast``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("forecast", help="the twin's forecast band of a plate map (peak, FWHM, height per well and "
                       "read, with its uncertainty) -> forecast.csv, forecast.json, forecast.png")
    p.add_argument("target", help="scenario name (see `larp-twin scenarios`) or PLATE.csv")
    p.add_argument("--out", required=True, help="output directory: new, empty, or an earlier forecast; anything "
                   "else needs --overwrite")
    p.add_argument("--params", default=None, help="chemistry parameters (LarpParameters JSON, as `larp-twin "
                   "calibrate` writes; its P.uncertainty.json beside it is used); default: the built-in calibration")
    p.add_argument("--uncertainty", default=None, help="parameter uncertainty JSON (default: the one beside "
                   "--params, else the built-in calibration's)")
    p.add_argument("--level", type=float, default=0.9, help="central interval written as lo..hi (default 0.9)")
    p.add_argument("--hours", type=float, default=None, help="kinetic read-out length (default 12)")
    p.add_argument("--every-min", type=float, default=None, help="minutes between reads (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the Monte Carlo (default 0)")
    p.add_argument("--draws", type=int, default=100, help="Monte Carlo draws (default 100)")
    p.add_argument("--no-figures", action="store_true", help="skip forecast.png")
    add_overwrite(p)
    p.set_defaults(func=cmd_forecast)
