"""``larp-twin``: run campaigns on the twin, list scenarios, fit exports, explain with SHAP."""

from __future__ import annotations

import argparse
import sys
import threading
import warnings
from pathlib import Path


def _campaign_from_arg(target: str, hours, every_min):
    from scenarios import SCENARIOS, build_campaign
    from twin.campaign import Campaign
    from twin.config import Schedule
    from twin.platemap import read_plate_map

    sched = {}
    if hours is not None:
        sched["hours"] = hours
    if every_min is not None:
        sched["every_min"] = every_min
    if target in SCENARIOS:
        return build_campaign(target, schedule=Schedule(**sched))
    if target.lower().endswith(".csv") or Path(target).exists():
        pm = read_plate_map(target)
        return Campaign(name=Path(target).stem, description=f"plate map {target}", plate_map=pm,
                        plate_wells=pm.attrs["plate_wells"], schedule=Schedule(**sched))
    raise SystemExit(f"larp-twin: {target!r} is neither a built-in scenario ({', '.join(sorted(SCENARIOS))}) "
                     f"nor a plate-map .csv file")


def cmd_run(args) -> int:
    from twin.campaign import run_campaign
    from twin.export import write_results

    campaign = _campaign_from_arg(args.target, args.hours, args.every_min)
    if args.faults:
        from twin.faults import FaultPlan

        campaign = campaign.model_copy(update={"faults": FaultPlan.load(args.faults)})
    progress = None if not args.quiet else False
    if not args.no_figures:  # figure workers import matplotlib while the campaign runs
        from twin.export import prepare_figure_workers

        prepare_figure_workers()
    server = None
    if args.serve:  # the monitor watches the journal, so a served run is a durable one
        from twin.monitor.cli import serve

        args.durable = True
        Path(args.out).mkdir(parents=True, exist_ok=True)
        server = serve(args.out, host=args.host, port=args.port, token=args.token, params=args.params,
                       seeds=args.seeds, consecutive=args.consecutive, block=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.durable:
            from twin.resume import run_durable

            result = run_durable(campaign, args.out, seed=args.seed, figures=not args.no_figures, progress=progress)
        else:
            result = run_campaign(campaign, seed=args.seed, progress=progress)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    out = Path(args.out) / "results" if args.durable else write_results(result, args.out, figures=not args.no_figures)
    m = result.manifest
    print(f"{m['scenario']}: {m['wells_read']} wells x {m['reads']} reads x {m['wavelengths']} wavelengths; "
          f"{m['virtual_s'] / 3600:.2f} virtual h in {m['wall_s']:.2f} wall s -> {out}")
    if "faults" in m:
        acts = ", ".join(f"{k} {v}" for k, v in sorted(m["faults"]["actions"].items()))
        print(f"faults: {m['faults']['injected_total']} injected; actions: {acts} (events.jsonl)")
        from twin.monitor.cli import append_flag_events
        from twin.monitor.forecast import flags_for_result

        flags = flags_for_result(result, params=args.params, seeds=args.seeds, consecutive=args.consecutive)
        if flags:
            append_flag_events(flags, out / "events.jsonl")
            print(f"forecast: {len(flags)} well(s) left the twin's band: "
                  f"{', '.join(sorted({f['well'] for f in flags}))} (events.jsonl)")
    if server is not None:
        print("run finished; still serving (Ctrl-C stops)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            server.shutdown()
    return 0


def cmd_scenarios(args) -> int:
    from scenarios import SCENARIOS

    width = max(len(n) for n in SCENARIOS)
    for name, s in SCENARIOS.items():
        print(f"{name:<{width}}  {s.summary}")
    return 0


def cmd_export_ot2(args) -> int:
    from twin.protocol_export import export_protocol

    campaign = _campaign_from_arg(args.target, None, None)
    out = export_protocol(campaign.plate_map, args.out, api_level=args.api_level,
                          plate_wells=campaign.plate_wells, name=f"LARP {campaign.name}")
    print(f"{campaign.name}: OT-2 protocol -> {out} (check: opentrons_simulate {out})")
    return 0


def cmd_fit(args) -> int:
    """Fit every spectrum of a Gen5 export (the twin's or a real Cytation's) and write features.csv."""
    import numpy as np
    import pandas as pd

    from instruments.cytation import read_gen5_spectra
    from twin.analysis import fit_gaussians

    g = read_gen5_spectra(args.export)
    fit = fit_gaussians(g.counts, g.wavelength_nm)  # (reads, wells)
    n_reads, n_wells = g.counts.shape[:2]
    table = pd.DataFrame({
        "well": np.tile(np.asarray(g.wells, dtype=object), n_reads),
        "read": np.repeat(np.arange(n_reads), n_wells),
        # Gen5 spectrum exports carry no time column: reads are taken as every_min apart
        "time_min": np.repeat(np.arange(n_reads) * args.every_min, n_wells).astype(float),
    })
    for name in ("peak_nm", "fwhm_nm", "height", "area", "r2"):
        table[name] = np.round(np.asarray(getattr(fit, name), float).ravel(), 6)
    table["status"] = np.asarray(fit.status_name if hasattr(fit, "status_name") else fit.status).ravel()
    table = table.sort_values(["well", "read"], kind="stable", key=lambda c: c.map(
        {w: i for i, w in enumerate(g.wells)}) if c.name == "well" else c)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "features.csv", index=False, lineterminator="\n")
    counts = table["status"].value_counts().to_dict()
    print(f"{args.export}: {n_wells} wells x {n_reads} reads x {len(g.wavelength_nm)} wavelengths fitted "
          f"({', '.join(f'{k}: {v}' for k, v in counts.items())}) -> {out / 'features.csv'}")
    return 0


def cmd_shap(args) -> int:
    """Train LR/RF/SVR/MLP on synthesis parameters -> a PL target, explain the forest with SHAP."""
    import pandas as pd

    from twin.analysis import design_table, run_shap

    src = Path(args.features)
    if src.is_dir():  # a run directory: its plate map and features, at one time point
        for name in ("plate.csv", "features.csv"):
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src} holds no {name}: pass a `larp-twin run` directory or a table .csv")
        table = design_table(pd.read_csv(src / "plate.csv"), pd.read_csv(src / "features.csv"),
                             time_min=args.time_min)
        columns = table.attrs.get("feature_columns")
    else:
        table = pd.read_csv(src)
        columns = args.columns.split(",") if args.columns else None
    out = Path(args.out or (src / f"shap_{args.target}" if src.is_dir() else src.with_suffix("") + "_shap"))
    report = run_shap(table, args.target, columns, out_dir=out, seed=args.seed)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="larp-twin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a campaign (a built-in scenario or a plate-map CSV) on the twin")
    p.add_argument("target", help="scenario name (see `larp-twin scenarios`) or PLATE.csv")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    p.add_argument("--hours", type=float, default=None, help="kinetic read-out length (default 12)")
    p.add_argument("--every-min", type=float, default=None, help="minutes between reads (default 10)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--faults", default=None, help="fault plan (YAML/JSON) to inject; see twin/faults.py")
    p.add_argument("--durable", action="store_true",
                   help="journal every read into OUT/journal.jsonl, results in OUT/results; "
                        "an interrupted run continues with `larp-twin resume OUT`")
    p.add_argument("--serve", action="store_true", help="serve the live monitor of OUT while it runs (implies "
                   "--durable); see `larp-twin watch`")
    from twin.monitor.cli import add_cli as add_watch_cli, add_forecast_args, add_server_args

    add_server_args(p)
    add_forecast_args(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("export-ot2", help="write a stand-alone OT-2 protocol (.py) for the Opentrons App")
    p.add_argument("target", help="scenario name or PLATE.csv")
    p.add_argument("-o", "--out", required=True, help="protocol file to write")
    p.add_argument("--api-level", default="2.20", help="OT-2 protocol apiLevel (default 2.20)")
    p.set_defaults(func=cmd_export_ot2)
    p = sub.add_parser("fit", help="Gaussian-fit every spectrum of a Gen5 export -> DIR/features.csv")
    p.add_argument("export", help="Gen5 spectra export (.txt TAB or the lab's .csv)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--every-min", type=float, default=10.0, help="minutes between reads (Gen5 spectra carry no times)")
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("shap", help="compare LR/RF/SVR/MLP on a PL target and explain the forest with SHAP")
    p.add_argument("features", help="a `larp-twin run` output directory, or a table .csv of parameters + target")
    p.add_argument("--target", required=True, choices=["peak_nm", "height", "fwhm_nm"])
    p.add_argument("--time-min", type=float, default=None, help="use each well's read nearest this age (default: first)")
    p.add_argument("--columns", default=None, help="feature columns of a table .csv, comma-separated (default: all "
                   "numeric but the target)")
    p.add_argument("--out", default=None, help="output directory (default: beside the input)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_shap)
    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(func=cmd_scenarios)
    from twin.resume import add_cli as add_resume_cli
    from twin.gen5_cli import add_cli as add_gen5_cli
    from twin.optimize_cli import add_cli as add_optimize_cli
    from twin.sweep import add_cli as add_sweep_cli

    add_gen5_cli(sub)
    add_resume_cli(sub)
    add_sweep_cli(sub)
    add_optimize_cli(sub)
    add_watch_cli(sub)
    p = sub.add_parser("reproduce", help="run the paper's experiments on the twin and write a PASS/FAIL report "
                       "(report.md, report.html) of every claim")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--hours", type=float, default=12.0, help="kinetic read-out per campaign (default 12)")
    p.set_defaults(func=_lazy("twin.reproduce", "cmd_reproduce"))
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from instruments.errors import InstrumentError
    from twin.platemap import PlateMapError

    try:
        return args.func(args)
    except FileNotFoundError as e:
        print(f"larp-twin: error: {e}", file=sys.stderr)
        return 2
    except (PlateMapError, InstrumentError, ValidationError, KeyError, ValueError) as e:
        print(f"larp-twin: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
