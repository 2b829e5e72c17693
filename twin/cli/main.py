"""``larp-twin``: run campaigns on the twin, list scenarios, fit exports, explain with SHAP."""

from __future__ import annotations

import argparse
import contextlib
import sys
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
        raise UserError(f"{validation_text(e)} (allowed: 0 < --hours <= 168, 0 < --every-min <= 1440)") from None


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


def _check_seed(seed: int) -> None:
    from twin.messages import UserError

    if not 0 <= seed < 2**32:
        raise UserError(f"--seed {seed}: allowed: an integer 0 <= seed < 2**32")


def cmd_run(args) -> int:
    """Run a campaign; the summary's wall time is the whole command's (reading inputs to the last file written)."""
    from twin import outdir

    wall0 = getattr(args, "wall0", None) or time.perf_counter()
    _check_seed(args.seed)
    out = outdir.check_target(args.out, "run", overwrite=args.overwrite)
    campaign = _campaign_from_arg(args.target, args.hours, args.every_min)
    if args.faults:
        from twin.faults import FaultPlan, check_fault_wells

        plan = FaultPlan.load(args.faults)
        check_fault_wells(plan, campaign.plate_map, source=args.faults)
        campaign = campaign.model_copy(update={"faults": plan})
    progress = None if not args.quiet else False
    from twin.faults import SimulatedCrash

    try:
        result, written = _run(campaign, out, args, progress)
    except SimulatedCrash as e:  # a rehearsed crash (a fault plan's `crash` with hard: false)
        from twin.messages import UserError

        then = (f"continue it with `larp-twin resume {out}`" if args.durable else
                "add --durable to rehearse the recovery with `larp-twin resume`")
        raise UserError(f"the fault plan {args.faults} crashed the run ({e}), as planned; {then}") from None
    m = result.manifest
    print(f"{m['scenario']}: {m['wells_read']} wells x {m['reads']} reads x {m['wavelengths']} wavelengths; "
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
    return 0


def _timing_line(campaign, m: dict) -> str:
    """What lab day takes, from the twin: robot preparation, one scan, the reads (docs/lab_day.md quotes it)."""
    from twin.campaign import read_duration_s

    scan_min = read_duration_s(campaign, m["wells_read"]) / 60.0
    return (f"timing: robot preparation {m['prep_s'] / 60:.1f} min; plate on the reader "
            f"{(m['kinetic_start_s'] - m['prep_s']) / 60:.1f} min later; one scan of {m['wells_read']} wells "
            f"{scan_min:.1f} min; {m['reads']} reads in {(m['virtual_s'] - m['kinetic_start_s']) / 3600:.2f} h")


def _run(campaign, out, args, progress):
    """Run ``campaign`` (durable or not) and write its outputs; (result, the results directory)."""
    from twin import outdir
    from twin.campaign import run_campaign
    from twin.records.export import write_results

    if args.durable:
        from twin.records.resume import run_durable

        # a finished previous run is replaced (moved aside, removed once this one has finished)
        with outdir.replacing(out, args.overwrite or outdir.owner(out)[0] == "run"):
            result = run_durable(campaign, out, seed=args.seed, figures=not args.no_figures, progress=progress)
            outdir.write_marker(out, "run")
        return result, out / "results"
    result = run_campaign(campaign, seed=args.seed, progress=progress)
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


def cmd_fit(args) -> int:
    """Fit every spectrum of a Gen5 export (the twin's or a real Cytation's) and write features.csv.

    ``time_min`` is minutes since injection, as in every output (docs/inputs.md): exact when the export sits in
    the ``larp-twin run`` directory that wrote it; else the export's own read times (its kinetic loop's interval),
    else read index x ``--every-min`` (said in a note), plus ``--first-read-min`` (the wells' age at the first
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
    times_min = None if ages is not None else export_read_times_min(args.export, n_reads)
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
        if n_reads > 1:
            note(f"{args.export} holds no read times (Gen5 spectrum exports carry none): time_min assumes reads "
                 f"every {used:g} min{' (the default)' if every_min is None else ''}; pass --every-min to match "
                 f"your Gen5 procedure")
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


def export_read_times_min(path, n_reads: int):
    """Read start times (minutes from the first read) a Gen5 export declares, or None if it declares none.

    Gen5 writes no time per spectrum, but a procedure with a kinetic loop declares its interval
    (``Start Kinetic  Runtime 12:00:00 (HH:MM:SS), Interval 0:10:00, 73 Reads``): reads are that far apart.
    """
    import numpy as np

    from instruments.cytation.gen5_tables import read_gen5

    try:
        kinetic = read_gen5(path).procedure.get("kinetic") or {}
    except ValueError:
        return None
    interval_s = kinetic.get("interval_s")
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
    _check_seed(args.seed)
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


def _lazy(module: str, name: str):
    """A handler imported only when its sub-command runs (keeps `larp-twin --help` fast)."""

    def handler(args):
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return handler


DEBUG_HELP = "show the full traceback of an error (for bug reports)"


def main(argv=None) -> int:
    """Parse ``argv`` and run the sub-command; returns the exit code (0 ok, 2 user error, 1 internal error).

    Sub-commands registered by other modules' ``add_cli(sub)`` get the same error policy and ``--debug``
    automatically; a command that writes should apply ``twin.outdir.check_target`` and call ``add_overwrite``.
    """
    from twin.outdir import add_overwrite

    wall0 = time.perf_counter()
    parser = argparse.ArgumentParser(prog="larp-twin", description=__doc__)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a campaign (a built-in scenario or a plate-map CSV) on the twin")
    p.add_argument("target", help="scenario name (see `larp-twin scenarios`) or PLATE.csv")
    p.add_argument("--out", required=True, help="output directory: new, empty, or a finished run (replaced "
                   "atomically); anything else needs --overwrite")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    p.add_argument("--hours", type=float, default=None, help="kinetic read-out length (default 12)")
    p.add_argument("--every-min", type=float, default=None, help="minutes between reads (default 10)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--faults", default=None, help="fault plan (YAML/JSON) to inject; see twin/faults/plan.py")
    p.add_argument("--durable", action="store_true",
                   help="journal every read into OUT/journal.jsonl, results in OUT/results; "
                        "an interrupted run continues with `larp-twin resume OUT`")
    add_overwrite(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("export-ot2", help="write a stand-alone OT-2 protocol (.py) for the Opentrons App")
    p.add_argument("target", help="scenario name or PLATE.csv")
    p.add_argument("-o", "--out", required=True, help="protocol file to write")
    p.add_argument("--api-level", default="2.20", help="OT-2 protocol apiLevel (default 2.20)")
    add_overwrite(p)
    p.set_defaults(func=cmd_export_ot2)
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
    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(func=cmd_scenarios)
    from twin.records.resume import add_cli as add_resume_cli
    from twin.cli.gen5 import add_cli as add_gen5_cli
    from twin.cli.optimize import add_cli as add_optimize_cli
    from twin.studies.sweep import add_cli as add_sweep_cli

    add_gen5_cli(sub)
    add_resume_cli(sub)
    add_sweep_cli(sub)
    add_optimize_cli(sub)
    p = sub.add_parser("reproduce", help="run the paper's experiments on the twin and write a PASS/FAIL report "
                       "(report.md, report.html) of every claim")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--hours", type=float, default=12.0, help="kinetic read-out per campaign (default 12)")
    add_overwrite(p)
    p.set_defaults(func=_lazy("scenarios.reproduce", "cmd_reproduce"))
    for p in sub.choices.values():  # every sub-command, those added by add_cli included
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    args = parser.parse_args(argv)
    args.wall0 = wall0
    return run_command(args.func, args, debug=args.debug)


def run_command(func, args, debug: bool = False) -> int:
    """Run a sub-command under the CLI's error policy (``twin.messages``): user errors end in one line
    ``larp-twin: error: ...`` and exit 2, a bug in one ``internal error`` line and exit 1, warnings become
    ``note:`` lines; ``debug`` re-raises so the traceback shows."""
    from twin.messages import error_line, is_user_error, notes_for_warnings

    try:
        with contextlib.nullcontext() if debug else notes_for_warnings():  # --debug: Python's own warnings
            return func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("larp-twin: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(error_line(e), file=sys.stderr)
        return 2 if is_user_error(e) else 1


if __name__ == "__main__":
    sys.exit(main())
