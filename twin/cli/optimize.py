"""``larp-twin optimize``: closed-loop optimisation on the twin, one strategy or a comparison over seeds.

Writes to ``--out``: ``history.csv`` (one row per well: strategy, seed, 1-based plate, conditions, score, feasible and
the end-of-run features), ``plates.csv`` (one row per strategy, seed and plate: best score so far, the plate's best,
fraction of feasible wells, proposal and campaign wall time), ``report.csv`` (plates to target per strategy),
``best.csv`` (the best well each strategy found), ``pareto.csv`` (the feasible wells no other beats on every feature:
the trade-offs), ``convergence.png`` and ``run.json`` (inputs, target, limits).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

MIN_PLATE, MAX_PLATE = 8, 96
FEATURES = ("peak_nm_end", "fwhm_nm_end", "intensity_retention", "height_end")


class OptimizeArgsError(ValueError):
    """A command-line value that cannot be run; the message names the option and the allowed values."""


def add_cli(subparsers) -> None:
    """Add the ``optimize`` sub-command to ``larp-twin``'s argparse sub-parsers."""
    from twin.studies.names import STRATEGIES

    p = subparsers.add_parser("optimize", help="closed-loop optimisation on the twin (Optuna TPE / our GP-EI / "
                              "random / grid), optionally comparing strategies over seeds")
    p.add_argument("--out", required=True, help="output directory: new, empty or a finished optimize output "
                   "(replaced atomically); anything else needs --overwrite")
    p.add_argument("--plates", type=int, default=6, help="plate budget per loop (default 6)")
    p.add_argument("--plate-size", type=int, default=24,
                   help=f"conditions per plate, {MIN_PLATE}-{MAX_PLATE} (default 24)")
    p.add_argument("--strategy", nargs="+", default=None, metavar="NAME",
                   help=f"one or more of {', '.join(STRATEGIES)} (default tpe; with --compare all of them)")
    p.add_argument("--compare", action="store_true", help="run every strategy (or those --strategy names) over "
                   "--seeds on the same budget and report plates to target")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                   help="loop seeds (default 0; with --compare 0 1 2 3 4)")
    p.add_argument("--hours", type=float, default=12.0, help="kinetic read-out per plate, 0 < h <= 168 (default 12)")
    p.add_argument("--every-min", type=float, default=10.0, help="minutes between reads (default 10)")
    p.add_argument("--objective-json", default=None, metavar="JSON",
                   help='objective (EmissionObjective fields), a .json file or inline JSON, e.g. '
                        '\'{"peak_target_nm": 515, "max_fwhm_nm": 30, "target": 0.7}\' (null drops a feature)')
    p.add_argument("--space-json", default=None, metavar="JSON",
                   help='search space, e.g. \'{"pair": ["OAc:OLAm"], "amine_per_acid": {"low": 0.05, "high": 5, '
                        '"log": true}}\'')
    p.add_argument("--lab-json", default=None, metavar="JSON", help="lab config (backends); default: the twin")
    p.add_argument("--target", type=float, default=None,
                   help="absolute score to reach, 0-1 (default: the objective's target, 0.8)")
    p.add_argument("--workers", type=int, default=None, help="processes for the loops (default: CPU count; "
                   "1 = in this process)")
    from twin.outdir import add_overwrite

    add_overwrite(p)
    p.set_defaults(func=cmd_optimize)


def _load_json(value: str | None, option: str) -> dict | None:
    """A JSON object from a file path or an inline string."""
    if value is None:
        return None
    text = value if value.lstrip().startswith("{") else None
    if text is None:
        path = Path(value)
        if not path.is_file():
            raise OptimizeArgsError(f"{option} {value!r}: no such file (give a .json file or an inline JSON object)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise OptimizeArgsError(f"{option} {value!r}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at position "
                                    f"{e.start}); give a .json file or an inline JSON object") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        where = f"{option}" if value.lstrip().startswith("{") else f"{option} {value!r}"
        raise OptimizeArgsError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise OptimizeArgsError(f"{option}: expected a JSON object {{...}}, got {type(data).__name__}")
    return data


def _model(cls, data: dict | None, option: str):
    """``cls(**data)`` with pydantic's errors reduced to one line naming the option and field."""
    from pydantic import ValidationError

    try:
        return cls() if data is None else cls.model_validate(data)
    except ValidationError as e:
        msgs = "; ".join(("".join(f"{loc}: " for loc in [".".join(map(str, err["loc"]))] if loc)
                          + err["msg"].removeprefix("Value error, ")) for err in e.errors())
        raise OptimizeArgsError(f"{option}: {msgs}") from None


def _check_args(args) -> tuple[list[str], list[int]]:
    from twin.studies.names import _ALIASES, STRATEGIES

    if args.plates < 1:
        raise OptimizeArgsError(f"--plates {args.plates}; allowed: 1 or more")
    if not MIN_PLATE <= args.plate_size <= MAX_PLATE:
        raise OptimizeArgsError(f"--plate-size {args.plate_size}; allowed: {MIN_PLATE}-{MAX_PLATE} conditions per "
                                f"plate (one 96-well plate)")
    strategies = [_ALIASES.get(s, s) for s in (args.strategy or (STRATEGIES if args.compare else ["tpe"]))]
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise OptimizeArgsError(f"--strategy {' '.join(bad)}; allowed: {', '.join(STRATEGIES)}")
    strategies = list(dict.fromkeys(strategies))
    seeds = list(dict.fromkeys(args.seeds or ([0, 1, 2, 3, 4] if args.compare else [0])))
    if any(s < 0 for s in seeds):
        raise OptimizeArgsError(f"--seeds {' '.join(map(str, seeds))}; allowed: integers >= 0")
    if not 0 < args.hours <= 168:
        raise OptimizeArgsError(f"--hours {args.hours:g}; allowed: 0 < hours <= 168")
    if not 0 < args.every_min <= 24 * 60:
        raise OptimizeArgsError(f"--every-min {args.every_min:g}; allowed: 0 < minutes <= 1440")
    if args.target is not None and not 0 < args.target <= 1:
        raise OptimizeArgsError(f"--target {args.target:g}; allowed: a score in (0, 1] (a desirability)")
    if args.workers is not None and args.workers < 1:
        raise OptimizeArgsError(f"--workers {args.workers}; allowed: 1 or more")
    return strategies, seeds


def cmd_optimize(args) -> int:
    """Run the loop(s), write the tables and figure, print plates to target; 2 on bad input."""
    from twin import outdir

    out = outdir.check_target(args.out, "optimize", overwrite=args.overwrite)
    try:
        strategies, seeds = _check_args(args)
        from twin.config import LabConfig, Schedule
        from twin.studies.optimize import EmissionObjective, PlateRunner, SearchSpace

        objective = _model(EmissionObjective, _load_json(args.objective_json, "--objective-json"), "--objective-json")
        space_data = _load_json(args.space_json, "--space-json")
        space = _model(SearchSpace, None if space_data is None else {"parameters": space_data}, "--space-json")
        lab = _model(LabConfig, _load_json(args.lab_json, "--lab-json"), "--lab-json")
    except ValueError as e:  # OptimizeArgsError, and SweepSpecError raised inside SearchSpace's validator
        from twin.messages import UserError

        raise UserError(str(e)) from None  # twin.cli prints it: larp-twin: error: ..., exit 2
    from twin.studies.optimize import run_loops, summarize_loops

    runner = PlateRunner(schedule=Schedule(hours=args.hours, every_min=args.every_min), lab=lab, name="optimize")
    t0 = time.perf_counter()
    loops = run_loops(space, args.plates, args.plate_size, seeds, strategies, objective=objective, runner=runner,
                      max_workers=args.workers)
    wall_s = time.perf_counter() - t0
    runs, report = summarize_loops(loops, objective.target if args.target is None else args.target)
    history = _history(loops)
    limits = objective.limit_report(history)
    with outdir.atomic_dir(out, command="optimize") as tmp:
        written = _write_outputs(tmp, args, loops, history, runs, report, limits, objective, space, strategies, seeds,
                             wall_s)
    _print_summary(args, report, history, limits, objective, strategies, seeds, wall_s)
    print(f"-> {out}/{', '.join(written)}")
    return 0


def _history(loops):
    import pandas as pd

    from twin.studies.spec import PARAMETERS

    parts = []
    for lp in loops:
        h = lp.result.history
        parts.append(h.assign(strategy=lp.strategy, seed=lp.seed, plate=h["plate"] + 1))
    h = pd.concat(parts, ignore_index=True)
    first = ["strategy", "seed", "plate", "well", "campaign_id", *PARAMETERS, "score", "feasible", *FEATURES]
    first = [c for c in first if c in h]
    return h[first + [c for c in h.columns if c not in first]]


def _best_rows(history):
    """The best well of each strategy (over seeds), best first."""
    from twin.studies.spec import PARAMETERS

    idx = history.groupby("strategy", sort=False)["score"].idxmax()
    cols = ["strategy", "seed", "plate", "well", "score", "feasible", *PARAMETERS, *FEATURES]
    return history.loc[idx, [c for c in cols if c in history]].sort_values("score", ascending=False)


def _write_outputs(out, args, loops, history, runs, report, limits, objective, space, strategies, seeds, wall_s):
    from twin import __version__

    history.to_csv(out / "history.csv", index=False)
    runs.to_csv(out / "plates.csv", index=False)
    rep = report.assign(plates_to_target=[" ".join(f">{args.plates}" if p != p else f"{p:g}" for p in v)
                                          for v in report["plates_to_target"]])
    rep.to_csv(out / "report.csv", index=False)
    best = _best_rows(history)
    best.to_csv(out / "best.csv", index=False)
    from twin.studies.optimize import pareto_front

    front = pareto_front(history, objective)
    front[[c for c in history.columns if c in front]].to_csv(out / "pareto.csv", index=False)
    plot_convergence(runs, float(report["target"].iloc[0]), out / "convergence.png",
                     title=f"{args.plates} plates x {args.plate_size} wells, {args.hours:g} h every "
                           f"{args.every_min:g} min, seeds "
                           f"{' '.join(map(str, seeds))}")
    manifest = dict(
        larp_twin_version=__version__, strategies=strategies, seeds=seeds, plates=args.plates,
        plate_size=args.plate_size, hours=args.hours, every_min=args.every_min,
        objective=objective.model_dump(mode="json"),
        space={k: (v if isinstance(v, list) else v.model_dump(mode="json")) for k, v in space.parameters.items()},
        target=float(report["target"].iloc[0]), target_given=args.target is not None,
        feasible_fraction=float(history["feasible"].mean()), limits=limits.to_dict(orient="records"),
        best=json.loads(best.iloc[0].to_json()), wall_s=round(wall_s, 3))
    (out / "run.json").write_text(json.dumps(_plain(manifest), indent=2, allow_nan=False, default=str) + "\n")
    return ["history.csv", "plates.csv", "report.csv", "best.csv", "pareto.csv", "convergence.png", "run.json"]


def _plain(x):
    """JSON-safe: NaN/inf -> null, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    return None if isinstance(x, float) and x != x or x in (float("inf"), float("-inf")) else x


def plot_convergence(runs, target: float, path, title: str = ""):
    """Best score so far vs plate: per strategy the median over seeds, its min-max band and each seed faintly."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, g) in enumerate(runs.groupby("strategy", sort=False)):
        color = f"C{i}"
        wide = g.pivot(index="plate", columns="seed", values="best_score")
        label = name if wide.shape[1] == 1 else f"{name} (median of {wide.shape[1]} seeds)"
        ax.plot(wide.index, wide.median(axis=1), "-o", color=color, label=label)
        if wide.shape[1] > 1:
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color=color, alpha=0.15, lw=0)
            ax.plot(wide.index, wide.to_numpy(), color=color, alpha=0.3, lw=0.8)
    ax.axhline(target, color="0.3", ls="--", lw=1, label=f"target {target:.4g}")
    ax.set_xlabel("plate")
    ax.set_ylabel("best score so far (desirability; < 0: limits missed)")
    ax.set_xticks(sorted(runs["plate"].unique()))
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _print_summary(args, report, history, limits, objective, strategies, seeds, wall_s):
    import numpy as np

    from twin.messages import note

    target = float(report["target"].iloc[0])
    how = "given" if args.target is not None else "the objective's target"
    print(f"optimize: {len(strategies)} strategy(ies) x {len(seeds)} seed(s) x {args.plates} plates x "
          f"{args.plate_size} wells, {args.hours:g} h per plate (reads every {args.every_min:g} min), "
          f"{wall_s:.1f} s wall; "
          f"target score {target:.4g} ({how})")
    width = max(len(s) for s in report["strategy"])
    for r in report.itertuples():
        per_seed = ", ".join(f"{p:g}" if np.isfinite(p) else f">{args.plates}" for p in r.plates_to_target)
        m = r.median_plates_to_target
        median = f"{m:g}" if m <= args.plates else f">{args.plates}"
        print(f"  {r.strategy:<{width}}  plates to target: {per_seed} (median {median}; reached {r.reached}/"
              f"{r.seeds} seeds); final best {r.mean_final_best:.4g} (mean); per plate {r.ask_s_per_plate:.2f} s "
              f"proposal + {r.run_s_per_plate:.2f} s campaign")
    n, feas = len(history), int(history["feasible"].sum())
    print(f"feasible wells (every limit met): {feas} of {n} ({100 * feas / max(n, 1):.1f} %)")
    for r in limits.itertuples():
        given = (f"{100 * r.met_fraction_given_others:.1f} % of the {r.wells_meeting_others} meeting the other limits"
                 if r.wells_meeting_others else "no well met the other limits")
        print(f"  {r.limit}: {100 * r.met_fraction:.1f} % of wells; {given}")
    if feas == 0 and n:
        short = objective.shortfall(history)
        i = int(np.argmin(short))
        c = history.iloc[i]
        note("no well met every limit, so every score is negative (minus how far a well misses the limits) and "
             "'best' means closest to feasible; closest well: "
             f"{c['strategy']} seed {c['seed']} plate {c['plate']} {c.get('well', '')}: peak {c['peak_nm_end']:.1f} "
             f"nm, retention {c['intensity_retention']:.2f}, FWHM {c['fwhm_nm_end']:.1f} nm, "
             f"height {c['height_end']:.4g} (shortfall {short[i]:.2f})", file=sys.stdout)
    else:
        c = _best_rows(history).iloc[0]
        print(f"best well: {c['strategy']} seed {c['seed']} plate {c['plate']} {c.get('well', '')}: "
              f"{c['antisolvent']}, {c['pair']}, amine/acid {c['amine_per_acid']:.3g}, PbBr2/acid "
              f"{c['acid_per_pbbr2']:.3g} -> peak {c['peak_nm_end']:.1f} nm, FWHM {c['fwhm_nm_end']:.1f} nm, "
              f"retention {c['intensity_retention']:.2f}, height {c['height_end']:.4g} RFU: score {c['score']:.3f}")
