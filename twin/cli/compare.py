"""``larp-twin compare RUN_DIR MEASURED``: the twin against the lab, same wells, same run times."""

from __future__ import annotations


def cmd_compare(args) -> int:
    """Twin against lab: a run directory and the lab's measurements -> comparison.csv, summary.json, .png."""
    from twin import outdir
    from twin.compare import compare

    out = outdir.check_target(args.out, "compare", overwrite=args.overwrite)
    from twin.forecast import check_level

    check_level(args.level)
    with outdir.atomic_dir(out, command="compare") as tmp:
        c = compare(args.run_dir, args.measured, tmp, every_min=args.every_min, min_height=args.min_height,
                    level=args.level, draws=args.draws, uncertainty=args.uncertainty)
    s = c.summary

    def num(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    print(f"{s['wells_compared']} wells, {s['rows_compared']} reads compared on {s['time_axis']} "
          f"({s['time_source']}); missing in the twin: {len(s['wells_missing_in_twin'])}, outside its run: "
          f"{s['rows_outside_twin_run']}")
    print(f"peak RMSE {num(s['peak_rmse_nm'])} nm, FWHM RMSE {num(s['fwhm_rmse_nm'])} nm "
          f"({s['rows_emitting']} emitting reads), log10 height RMSE {num(s['log10_height_rmse'])}, "
          f"12 h intensity direction agrees for {num(s['intensity_direction_agreement'], '.0%')} of "
          f"{s['intensity_direction_wells']} wells")
    cov = s["band_coverage"]
    print(f"the twin's central {cov['level']:.0%} band holds {num(cov['all'], '.0%')} of {cov['points']} measured "
          f"points (peak {num(cov['peak_nm'], '.0%')}, FWHM {num(cov['fwhm_nm'], '.0%')}, height "
          f"{num(cov['height'], '.0%')}; {cov['draws']} draws)")
    print(f"files: {out}")
    return 0


def add_cli(sub) -> None:
    """Add ``compare``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("compare", help="twin against lab: a run directory vs the lab's measurements (same wells, "
                       "same run times) -> comparison.csv, summary.json, comparison.png")
    p.add_argument("run_dir", help="a `larp-twin run` output directory (run the lab's plate map)")
    p.add_argument("measured", help="the lab's measurements: a long table well,run_min|time_min,peak_nm,fwhm_nm,"
                   "height[,read] (.csv) or a Gen5 spectrum export")
    p.add_argument("--out", required=True, help="output directory: new, empty, or an earlier comparison; anything "
                   "else needs --overwrite")
    p.add_argument("--every-min", type=float, default=None, help="Gen5 export without read times: minutes between "
                   "read starts (default: back-to-back reads at the reader twin's scan time)")
    p.add_argument("--min-height", type=float, default=1000.0, help="lab heights below this (RFU) are collapsed "
                   "wells: their peak/FWHM are not compared (default 1000)")
    p.add_argument("--level", type=float, default=0.9, help="central band whose coverage is reported (default 0.9)")
    p.add_argument("--draws", type=int, default=100, help="Monte Carlo draws of the band (default 100)")
    p.add_argument("--uncertainty", default=None, help="parameter uncertainty JSON (default: the built-in "
                   "calibration's)")
    add_overwrite(p)
    p.set_defaults(func=cmd_compare)
