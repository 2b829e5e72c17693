"""``larp-twin fit`` and ``shap``: Gaussian fits of a Gen5 export, and the paper's model comparison + SHAP."""

from __future__ import annotations

from pathlib import Path


def cmd_fit(args) -> int:
    """Fit every spectrum of a Gen5 export (the twin's or a real Cytation's) and write features.csv.

    ``time_min`` is minutes since injection, as in every output (docs/inputs.md): exact when the export sits in
    the ``larp-twin run`` directory that wrote it; else the export's own read times (its kinetic loop's interval),
    else read index x ``--every-min`` (a note when the default 10 min is assumed), plus ``--first-read-min`` (the wells' age at the first
    read; default 0: the first read counts as t=0).
    """
    import numpy as np
    import pandas as pd

    from instruments.cytation import read_gen5_spectra
    from twin import outdir
    from twin.analysis import fit_gaussians
    from twin.messages import UserError, note

    out = outdir.check_target(args.out, "fit", overwrite=args.overwrite)
    if Path(args.export).is_dir():
        raise UserError(f"export {args.export!r} is a directory; give a Gen5 export file (.txt or .csv), e.g. "
                        f"RUN/gen5_export.txt of a `larp-twin run`")
    every_min = args.every_min
    if every_min is not None and not 0 < every_min <= 1440:
        raise UserError(f"--every-min {every_min:g}: allowed: 0 < minutes <= 1440")
    if not 0 <= args.first_read_min <= 1e6:
        raise UserError(f"--first-read-min {args.first_read_min:g}: allowed: minutes >= 0")
    g = read_gen5_spectra(args.export)
    n_reads, n_wells = g.counts.shape[:2]
    ages = run_ages_min(args.export, g.wells, n_reads)  # (reads, wells) minutes since injection, or None
    times_min = None if ages is not None else export_read_times_min(g.procedure, n_reads)
    if ages is not None:
        source = "time_min from the run beside the export (spectra.parquet)"
    elif times_min is not None:
        source = "read times from the export's kinetic loop"
        if every_min is not None and n_reads > 1 and not np.isclose(times_min[1] - times_min[0], every_min):
            note(f"{args.export}: its kinetic loop reads every {times_min[1] - times_min[0]:g} min; using that, not "
                 f"--every-min {every_min:g}")
    else:
        source = "read times from --every-min"
        used = 10.0 if every_min is None else every_min
        times_min = np.arange(n_reads) * used
        if n_reads > 1 and every_min is None:  # given --every-min, the times are the user's: nothing to hint
            note(f"{args.export} holds no read times (Gen5 spectrum exports carry none): time_min assumes reads "
                 f"every {used:g} min (the default); pass --every-min to match your Gen5 procedure")
    if ages is None:
        ages = np.repeat((np.asarray(times_min, float) + args.first_read_min)[:, None], n_wells, axis=1)
    fit = fit_gaussians(g.counts, g.wavelength_nm)  # (reads, wells)
    table = pd.DataFrame({
        "well": np.tile(np.asarray(g.wells, dtype=object), n_reads),
        "read": np.repeat(np.arange(n_reads), n_wells),
        "time_min": np.asarray(ages, float).ravel(),
    })
    for name in ("peak_nm", "fwhm_nm", "height", "area", "r2"):
        table[name] = np.round(np.asarray(getattr(fit, name), float).ravel(), 6)
    table["status"] = np.asarray(fit.status_name if hasattr(fit, "status_name") else fit.status).ravel()
    table = table.sort_values(["well", "read"], kind="stable", key=lambda c: c.map(
        {w: i for i, w in enumerate(g.wells)}) if c.name == "well" else c)
    with outdir.atomic_dir(out, command="fit") as tmp:
        table.to_csv(tmp / "features.csv", index=False, lineterminator="\n")
    counts = table["status"].value_counts().to_dict()
    print(f"{args.export}: {n_wells} wells x {n_reads} reads x {len(g.wavelength_nm)} wavelengths fitted "
          f"({', '.join(f'{k}: {v}' for k, v in counts.items())}; {source}) -> {out / 'features.csv'}")
    return 0


def run_ages_min(export, wells: list[str], n_reads: int):
    """The wells' ages (minutes since injection, (reads, wells)) from the twin run an export sits in, or None.

    A ``larp-twin run`` directory holds its ``gen5_export.txt`` beside ``spectra.parquet``, whose ``time_min`` is
    exact; used only when that table covers exactly these wells and reads.
    """
    import numpy as np
    import pandas as pd

    run = Path(export).parent
    if not ((run / "spectra.parquet").is_file() and (run / "manifest.json").is_file()):
        return None
    try:
        t = pd.read_parquet(run / "spectra.parquet", columns=["well", "read", "time_min"]).drop_duplicates(
            ["well", "read"])
        grid = t.assign(well=t["well"].astype(str)).pivot(index="read", columns="well", values="time_min")
        if list(grid.index) != list(range(n_reads)) or set(grid.columns) != set(wells):
            return None
        ages = grid[list(wells)].to_numpy(float)
    except Exception:  # not the run it seems to be: fall back to the export's own information
        return None
    return ages if np.isfinite(ages).all() else None


def export_read_times_min(procedure: dict, n_reads: int):
    """Read start times (minutes from the first read) a Gen5 export's procedure declares, or None if none.

    Gen5 writes no time per spectrum, but a procedure with a kinetic loop declares its interval
    (``Start Kinetic  Runtime 12:00:00 (HH:MM:SS), Interval 0:10:00, 73 Reads``): reads are that far apart.
    ``procedure``: the reader's parse of it (``Gen5Spectra.procedure``), so the file is parsed once.
    """
    import numpy as np

    interval_s = (procedure.get("kinetic") or {}).get("interval_s")
    if not interval_s or interval_s <= 0:
        return None
    return np.arange(n_reads) * (float(interval_s) / 60.0)


def cmd_shap(args) -> int:
    """Train LR/RF/SVR/MLP on synthesis parameters -> a PL target, explain the forest with SHAP."""
    import pandas as pd

    from twin import outdir
    from twin.analysis import design_table, run_shap
    from twin.messages import UserError

    src = Path(args.features)
    if args.time_min is not None and not 0 <= args.time_min < 1e7:
        raise UserError(f"--time-min {args.time_min:g}: allowed: minutes since injection >= 0")
    if not src.exists():
        raise UserError(f"{args.features!r}: no such file or directory; pass a `larp-twin run` directory or a "
                        f"table .csv")
    default_out = src / f"shap_{args.target}" if src.is_dir() else Path(str(src.with_suffix("")) + "_shap")
    out = outdir.check_target(args.out or default_out, "shap", overwrite=args.overwrite)
    if src.is_dir():  # a run directory: its plate map and features, at one time point
        run = src / "results" if (src / "results" / "features.csv").is_file() else src
        for name in ("plate.csv", "features.csv"):
            if not (run / name).is_file():
                raise UserError(f"{src} holds no {name}: pass a `larp-twin run` directory or a table .csv")
        try:
            table = design_table(pd.read_csv(run / "plate.csv"), pd.read_csv(run / "features.csv"),
                                 time_min=args.time_min)
        except ValueError as e:  # a damaged or edited run directory: name it
            from twin.messages import describe

            raise UserError(f"{run}: {describe(e)}") from None
        columns = table.attrs.get("feature_columns")
    else:
        from twin.platemap import read_table_text

        table = read_table_text(src, what="table")
        columns = args.columns.split(",") if args.columns else None
    from twin.cli.run import check_seed

    check_seed(args.seed)
    try:
        with outdir.atomic_dir(out, command="shap") as tmp:
            report = run_shap(table, args.target, columns, out_dir=tmp, seed=args.seed)
    except ValueError as e:  # the table cannot be used: name it
        from twin.messages import describe

        raise UserError(f"{src}: {describe(e)}") from None
    print(report.rmse.to_string())
    top = report.importance.head(5)
    print(f"\nmost important for {args.target}: {', '.join(top['feature'].astype(str))}")
    print(f"files: {out}")
    return 0


def add_cli(sub) -> None:
    """Add ``fit`` and ``shap``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("fit", help="Gaussian-fit every spectrum of a Gen5 export -> DIR/features.csv")
    p.add_argument("export", help="Gen5 spectra export (.txt TAB or the lab's .csv)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--every-min", type=float, default=None, help="minutes between reads when the export declares "
                   "no kinetic interval (default 10; Gen5 spectra carry no times)")
    p.add_argument("--first-read-min", type=float, default=0.0, help="the wells' age at the first read, minutes "
                   "since injection (default 0), so that time_min means what it means in `larp-twin run`")
    add_overwrite(p)
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("shap", help="compare LR/RF/SVR/MLP on a PL target and explain the forest with SHAP")
    p.add_argument("features", help="a `larp-twin run` output directory, or a table .csv of parameters + target")
    p.add_argument("--target", required=True, choices=["peak_nm", "height", "fwhm_nm"])
    p.add_argument("--time-min", type=float, default=None, help="use each well's read nearest this age (default: first)")
    p.add_argument("--columns", default=None, help="feature columns of a table .csv, comma-separated (default: all "
                   "numeric but the target)")
    p.add_argument("--out", default=None, help="output directory (default: beside the input)")
    p.add_argument("--seed", type=int, default=0)
    add_overwrite(p)
    p.set_defaults(func=cmd_shap)
