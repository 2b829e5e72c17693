"""``larp-twin export-gen5`` and ``larp-twin inspect``: Gen5 exports from run directories, and what any export holds.

Wiring: ``twin.cli.main`` calls ``add_cli(sub)`` with its sub-parsers object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from twin.messages import UserError

def run_spectra(run_dir) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """A run directory's spectra: wells, wavelength_nm (n_wl,), counts (n_reads, n_wells, n_wl) and its manifest.

    Reads ``spectra.parquet`` (columns ``well, read, time_min, wavelength_nm, intensity``; ``well`` may be
    categorical, its categories then give the well order) and ``manifest.json``.
    """
    import pandas as pd

    run = Path(run_dir)
    for name in ("spectra.parquet", "manifest.json"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run} holds no {name}: pass a `larp-twin run` output directory")
    try:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{run / 'manifest.json'} is damaged ({e}); rerun the campaign") from None
    try:
        df = pd.read_parquet(run / "spectra.parquet", columns=["well", "read", "wavelength_nm", "intensity"])
    except Exception as e:  # pyarrow raises many classes for a damaged file
        raise UserError(f"{run / 'spectra.parquet'} cannot be read ({' '.join(str(e).split())[:200]}); rerun the "
                         f"campaign") from None
    missing = {"well", "read", "wavelength_nm", "intensity"} - set(df.columns)
    if missing:
        raise UserError(f"{run / 'spectra.parquet'}: columns {sorted(missing)} are missing")
    if isinstance(df["well"].dtype, pd.CategoricalDtype):
        used = set(df["well"].unique().astype(str))
        wells = [str(w) for w in df["well"].cat.categories if str(w) in used]
    else:
        wells = list(dict.fromkeys(df["well"].astype(str)))
    reads = np.sort(df["read"].unique())
    wl = np.sort(df["wavelength_nm"].unique())
    well_code = pd.Index(wells).get_indexer(df["well"].astype(str))
    counts = np.full((len(reads), len(wells), len(wl)), np.nan)
    filled = np.zeros(counts.shape, bool)
    r, w, k = np.searchsorted(reads, df["read"]), well_code, np.searchsorted(wl, df["wavelength_nm"])
    counts[r, w, k] = df["intensity"].to_numpy(float)
    filled[r, w, k] = True
    if len(df) != counts.size or not filled.all():
        raise UserError(f"{run / 'spectra.parquet'}: {len(df)} rows do not fill the {len(reads)} reads x "
                         f"{len(wells)} wells x {len(wl)} wavelengths grid once each")
    return wells, wl, counts, manifest


def export_run(run_dir, out, layout: str = "tab") -> Path:
    """Write a run directory's spectra, and its absorbance reads if it has any, as a Gen5 export (``tab``: Gen5's
    TXT; ``csv``: the lab's comma variant): the same writer, so the same bytes, as the run's own export."""
    import pandas as pd

    from twin.records.export import write_gen5_export

    wells, wl, counts, m = run_spectra(run_dir)
    run = Path(run_dir)
    absorbance = order = None
    if (run / "absorbance.parquet").is_file():
        absorbance = pd.read_parquet(run / "absorbance.parquet", columns=["well", "read", "time_min",
                                                                          "wavelength_nm", "od"])
        order = _read_order(pd.read_parquet(run / "spectra.parquet", columns=["well", "read", "time_min"]),
                            absorbance, wells[0])
    try:
        schedule = m["schedule"]
        return write_gen5_export(
            out, wells, wl, counts, layout=layout, excitation_nm=float(schedule["excitation_nm"]),
            gain=int(schedule["gain"]), start_time=m["start_time"], plate_wells=int(m.get("plate_wells", 96)),
            reading_type="Simulation" if m.get("backends", {}).get("reader", "sim") == "sim" else "Reader",
            absorbance=absorbance, order=order)
    except KeyError as e:
        raise UserError(f"{run / 'manifest.json'}: no {e} (expected schedule.excitation_nm, "
                         f"schedule.gain, start_time, plate_wells 96 or 384)") from None


def _read_order(spectra, absorbance, well: str) -> list[tuple[str, int]]:
    """The emission and absorbance reads in time order, by the age of one well read in both at each read."""
    em = spectra[spectra["well"].astype(str) == well].groupby("read")["time_min"].min()
    ab = absorbance[absorbance["well"].astype(str) == well].groupby("read")["time_min"].min()
    steps = [(t, "em", k) for k, t in enumerate(em.sort_index())] + [(t, "abs", k) for k, t in
                                                                     enumerate(ab.sort_index())]
    return [(kind, k) for _, kind, k in sorted(steps)]


def _is_gen5_export(head: bytes) -> bool:
    """A Gen5 export (ours or Gen5's): it may be replaced by ``export-gen5`` without --overwrite."""
    return b"Software Version" in head and b"Procedure Details" in head


def cmd_export_gen5(args) -> int:
    from twin import outdir
    from twin.messages import UserError

    out = outdir.check_target(args.out, "export-gen5", overwrite=args.overwrite, kind="file", option="-o/--out",
                              own_file=_is_gen5_export)
    run = Path(args.run_dir)
    if run.is_dir() and not (run / "spectra.parquet").is_file() and (run / "results" / "spectra.parquet").is_file():
        run = run / "results"  # a durable run directory
    if not run.is_dir():
        raise UserError(f"{args.run_dir!r} is not a directory; give a `larp-twin run` output directory")
    with outdir.atomic_file(out) as tmp:
        export_run(run, tmp, layout=args.layout)
    print(f"{args.run_dir}: Gen5 export ({args.layout}) -> {out}")
    return 0


def _counted(items: list[str]) -> str:
    """``["a", "a", "b"]`` -> ``"a x2, b"``."""
    counts = {k: items.count(k) for k in dict.fromkeys(items)}
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in counts.items())


def _short(names: list[str], n: int = 4) -> str:
    return ", ".join(names) if len(names) <= n else f"{', '.join(names[:2])}, ..., {names[-1]} ({len(names)} data sets)"


def inspect_text(summary: dict) -> str:
    """The human-readable lines of ``larp-twin inspect``."""
    s = summary
    wells = s["wells"]
    wells_text = f"{len(wells)} ({wells[0]}..{wells[-1]})" if wells else "0"
    span = s["time_span"]["text"] if s["time_span"] else "n/a (no times in this export)"
    return "\n".join([
        f"file: {s['file']}",
        f"reader: {s['reader_type'] or '?'} serial {s['reader_serial'] or '?'}, Gen5 {s['software_version'] or '?'}, "
        f"{s['reading_type'] or '?'}",
        f"read type: {_counted(s['read_types']) or '?'} ({', '.join(s['kinds'])} data: "
        f"{_short(s['datasets'])})",
        f"wells: {wells_text}",
        f"wavelengths: {s['wavelengths']}",
        f"reads: {s['reads']}",
        f"time span: {span}",
        f"overflow (OVRFLW): {s['overflow']}; MISSED: {s['missed']}",
    ])


def cmd_inspect(args) -> int:
    from instruments.cytation.gen5_tables import read_gen5
    from twin.messages import UserError, note

    if Path(args.export).is_dir():
        raise UserError(f"export {args.export!r} is a directory; give a Gen5 export file (.txt or .csv)")

    export = read_gen5(args.export)
    summary = export.summary()
    if export.notes:
        summary["notes"] = export.notes
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(inspect_text(summary))
        for text in export.notes:
            note(text, file=sys.stdout)
    return 0


def add_cli(sub) -> None:
    """Add ``export-gen5`` and ``inspect`` to ``larp-twin``'s sub-parsers."""
    p = sub.add_parser("export-gen5", help="write a run directory's spectra as a Gen5 export (TAB text or the "
                       "lab's CSV)")
    p.add_argument("run_dir", help="a `larp-twin run` output directory (spectra.parquet + manifest.json)")
    p.add_argument("--layout", choices=["tab", "csv"], default="tab",
                   help="tab: Gen5's TXT export; csv: the comma layout the lab's notebooks parse (default tab)")
    p.add_argument("-o", "--out", required=True, help="export file to write")
    from twin.outdir import add_overwrite

    add_overwrite(p)
    p.set_defaults(func=cmd_export_gen5)
    p = sub.add_parser("inspect", help="what a Gen5 export holds (any layout: spectra, kinetic, endpoint)")
    p.add_argument("export", help="Gen5 export file (.txt TAB or .csv)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_inspect)
