"""``larp-twin calibrate PLATE_MAP MEASURED --out params.json``: tune the chemistry to a lab's own measurements."""

from __future__ import annotations

from pathlib import Path

#: the residual report written beside the parameter file
REPORT_FILES = ("calibration_report.csv", "calibration_report.txt", "calibration_report.png")


def _is_params_file(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b"bulk_emission_eV" in head


def cmd_calibrate(args) -> int:
    """Fit, cross-validate, write the parameter file and the residual report (refusing to replace a user's files)."""
    from twin import outdir
    from twin.messages import UserError

    out = outdir.check_target(args.out, "calibrate", overwrite=args.overwrite, kind="file", own_file=_is_params_file)
    if args.folds < 1:
        raise UserError(f"--folds {args.folds}: allowed: 1 (no cross-validation) or more")
    if args.max_nfev < 1:
        raise UserError(f"--max-nfev {args.max_nfev}: allowed: 1 or more")
    from chemistry.uncertainty import uncertainty_path

    taken = [out.parent / f for f in (*REPORT_FILES, uncertainty_path(out).name) if (out.parent / f).exists()]
    if taken and not args.overwrite and not (out.exists() and _is_params_file(out.read_bytes()[:4096])):
        raise UserError(f"--out {args.out}: the report files beside it exist ({', '.join(p.name for p in taken)}); "
                        f"choose another folder or pass --overwrite")
    from twin.calibrate import run_calibration, write_builtin

    summary = run_calibration(args.plate_map, args.measured, out, n_folds=args.folds, max_nfev=args.max_nfev,
                              by_condition=not args.no_by_condition)
    print(summary["text"], end="")
    if args.write_builtin:
        from chemistry.uncertainty import write_builtin_uncertainty

        print(f"built-in calibration written to {write_builtin(summary['params_obj'], Path(args.measured).name)} "
              f"and {write_builtin_uncertainty(summary['uncertainty'])}")
    print("wrote " + ", ".join(str(f) for f in summary["files"]))
    return 0


def add_cli(sub) -> None:
    """Add ``calibrate``."""
    from twin.outdir import add_overwrite

    p = sub.add_parser("calibrate", help="fit the chemistry model to a lab's measured peak/FWHM/height table "
                       "(cross-validated) -> params JSON + residual report")
    p.add_argument("plate_map", help="plate-map CSV of the measured wells")
    p.add_argument("measured", help="the lab's measurements: long CSV well,run_min (or time_min),peak_nm,fwhm_nm,"
                   "height, or a Gen5 spectrum export")
    p.add_argument("--out", required=True, help="params JSON to write; its uncertainty goes beside it as "
                   "P.uncertainty.json, the residual report in the same folder")
    p.add_argument("--folds", type=int, default=5, help="leave-wells-out folds (default 5; 1 = no cross-validation)")
    p.add_argument("--max-nfev", type=int, default=300, help="least-squares evaluations per fit (default 300)")
    p.add_argument("--no-by-condition", action="store_true", help="skip the cross-validation by condition (each "
                   "acid-/amine-majority block held out; the late reads from the early ones)")
    p.add_argument("--write-builtin", action="store_true", help="also store the result as the package's built-in "
                   "calibration (chemistry/parameters.py CALIBRATED block)")
    add_overwrite(p)
    p.set_defaults(func=cmd_calibrate)
