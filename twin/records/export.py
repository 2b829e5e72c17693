"""Write a campaign's results to a directory, atomically: a temp dir beside the target, moved into place at the end.

Files: ``plate.csv``, ``spectra.parquet``, ``features.csv``, ``manifest.json``, ``log.jsonl`` (the command stream
the real instruments would have received), ``deck.txt`` (the operator's set-up sheet), ``gen5_export.txt`` (the spectra as Gen5 would export them) and
``figures/*.png``; a run with absorbance reads adds ``absorbance.parquet`` (``well, read, time_min, wavelength_nm,
od``) and ``absorbance_features.csv`` (band edge, first excitonic peak per spectrum).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.outdir import atomic_dir

if TYPE_CHECKING:  # annotations only: importing the results module here would load the lab with the exporter
    from twin.results import CampaignResult


def _write_parquet(df, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({})  # no pandas/version metadata: same seed, same bytes
    pq.write_table(table, path, compression="zstd")


def _on_instruments(manifest: dict) -> bool:
    """A run on real instruments: its event log (injections, recoveries, forecast flags) is written too."""
    b = manifest.get("backends") or {}
    return b.get("pipettor", "sim") != "sim" or b.get("reader", "sim") != "sim" or b.get("clock") == "realtime"


def write_results(result: CampaignResult, out_dir: str | Path, figures: bool = True,
                  group_by: str | None = None, wall0: float | None = None) -> Path:
    """Write every output file of ``result`` into ``out_dir`` (replacing a previous run there), atomically.

    ``group_by``: a plate-map column whose values group the wells in the figures (``larp-twin run --group-by``);
    default: the plate map's ``group`` column, else antisolvent x ligand pair x ligand:PbBr2 ratio.
    The manifest's ``wall_s`` is wall time: from ``wall0`` (a ``time.perf_counter()`` reading; ``larp-twin run``
    gives its start) to the manifest, else the simulation's ``sim_wall_s`` plus the writing of these files;
    ``virtual_s`` is the campaign's own (virtual) duration.

    The CLI applies the output policy (``twin.outdir.check_target``) before it runs the campaign; this function
    replaces whatever directory is at ``out_dir`` (never the working directory) and marks it as a run's output.
    A write that fails (a full disk) raises an ``OSError`` naming the file as it would have been in ``out_dir``.
    """
    import time

    t_export = time.perf_counter()
    out = Path(out_dir)
    drawing = None
    with atomic_dir(out, command="run") as partial:
        tmp, made = _tracking(partial)
        try:
            # the heatmaps need only the spectra: they draw while the features are fitted and the files written
            drawing = start_figures(result, None, None, tmp / "figures", group_by=group_by) if figures else None
            result.plate.to_csv(tmp / "plate.csv", index=False, lineterminator="\n")
            spectra = result.spectra_long()
            features = result.features()
            if drawing is not None:  # the feature figures too, before the files: drawing is the longer half
                drawing.add(_feature_figure_jobs(result, features, tmp / "figures", group_by))
            _write_parquet(spectra, tmp / "spectra.parquet")
            features.to_csv(tmp / "features.csv", index=False, lineterminator="\n")
            abs_features = None
            if result.absorbance is not None:
                _write_parquet(result.absorbance, tmp / "absorbance.parquet")
                abs_features = result.absorbance_features()
                abs_features.to_csv(tmp / "absorbance_features.csv", index=False, lineterminator="\n")
            with open(tmp / "log.jsonl", "w") as fh:
                for source, entries in result.logs.items():
                    for e in entries:
                        fh.write(json.dumps({"instrument": source, **e}, default=float) + "\n")
            (tmp / "deck.txt").write_text(result.deck_sheet + "\n")
            write_gen5(result, tmp / "gen5_export.txt")
            if "faults" in result.manifest or _on_instruments(result.manifest):
                from twin.records.flags import add_forecast_flags

                add_forecast_flags(result)  # the twin's forecast judges the reads: flags join the event log
                with open(tmp / "events.jsonl", "w") as fh:
                    for e in result.events:
                        fh.write(json.dumps(e, default=float) + "\n")
            if drawing is not None:
                drawing.result()
            if figures and abs_features is not None and len(abs_features):
                write_absorbance_figure(result, abs_features, features, tmp / "figures", group_by=group_by)
            files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
            now = time.perf_counter()
            wall_s = now - wall0 if wall0 is not None else result.manifest.get("sim_wall_s", 0.0) + now - t_export
            manifest = {**result.manifest, "wall_s": round(float(wall_s), 3), "files": files + ["manifest.json"]}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=float) + "\n")
        except BaseException as exc:
            if drawing is not None:
                drawing.cancel()
            if isinstance(exc, OSError) and (exc.filename is None or partial in Path(exc.filename).parents):
                raise _named(exc, Path(exc.filename) if exc.filename is not None else made[-1], partial,
                             out) from exc
            raise
    return out


def _tracking(tmp: Path) -> tuple[Path, list[Path]]:
    """``tmp`` as a path that records every path made from it (``tmp / "plate.csv"``, in the list returned): the
    files are written one by one, each just after its path is made, so the last is the one a write failed on when
    the error names no file (ENOSPC from pyarrow or a buffered write)."""
    made = [tmp]

    class Tracked(type(tmp)):
        def __truediv__(self, key):
            child = super().__truediv__(key)
            made.append(child)
            return child

        def __reduce__(self):  # a plain path for the figure worker (this class is local: not picklable)
            return (Path, (str(self),))

    return Tracked(tmp), made


def _named(exc: OSError, path: Path, tmp: Path, out: Path) -> OSError:
    """``exc`` naming ``path`` (inside the temporary ``tmp``) as it would have been inside ``out``."""
    shown = out / Path(path).relative_to(tmp) if Path(path) != tmp else out
    text = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))  # not pyarrow's "Detail: ..."
    return OSError(exc.errno, text, str(shown))


def write_gen5(result: CampaignResult, path: Path, layout: str = "tab") -> Path:
    """The spectra as the Gen5 export the lab's Cytation would have written (one ``Read N:EM Spectrum`` per read)."""
    c = result.cube  # the dataset's arrays (no xarray needed)
    return write_gen5_export(
        path, list(c.wells), c.wavelength_nm, c.intensity.transpose(1, 0, 2), layout=layout,
        excitation_nm=float(c.attrs["excitation_nm"]), gain=int(c.attrs["gain"]),
        reading_type=c.attrs.get("reading_type", "Simulation"), start_time=c.attrs["start_time"],
        plate_wells=int(c.attrs.get("plate_wells", 96)), absorbance=result.absorbance, order=result.read_order)


def write_gen5_export(path, wells: list[str], wavelength_nm, counts, *, excitation_nm: float, gain: int,
                      reading_type: str, start_time: str, plate_wells: int, absorbance: pd.DataFrame | None = None,
                      order: list | None = None, layout: str = "tab") -> Path:
    """The one way a run becomes a Gen5 export: its own ``gen5_export.txt`` and ``larp-twin export-gen5`` of it.

    ``counts`` (n_reads, n_wells, n_wl); ``absorbance`` the run's long table (``well, read, wavelength_nm, od``),
    written as ``Read N:Spectrum`` steps in ``order`` (``("em", k)`` / ``("abs", k)``, time order); the plate's
    rows and columns from ``instruments.labware``.
    """
    from datetime import datetime

    from instruments.cytation import write_gen5_spectra
    from instruments.labware import LABWARE_TYPES, PLATE_TYPES

    plate = LABWARE_TYPES[PLATE_TYPES[plate_wells]]
    reads = absorbance_reads(absorbance, wells) if absorbance is not None and len(absorbance) else None
    return write_gen5_spectra(
        path, wells, wavelength_nm, counts, layout=layout, excitation_nm=excitation_nm, gain=gain,
        reading_type=reading_type, when=datetime.fromisoformat(start_time),
        plate_type=f"{plate_wells} WELL PLATE (Use plate lid)", plate_rows=plate.rows, plate_columns=plate.columns,
        absorbance=reads, order=order if reads else None)


def absorbance_reads(absorbance: pd.DataFrame, wells: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One ``(wavelength_nm, od[well, wl])`` per absorbance read of the long table, wells in ``wells`` order."""
    out = []
    for _, g in absorbance.groupby("read", sort=True):
        cube = g.pivot_table(index="well", columns="wavelength_nm", values="od", dropna=False, observed=True)
        cube = cube.reindex(wells)
        out.append((cube.columns.to_numpy(float), cube.to_numpy(float)))
    return out


def _groups(plate, column: str | None = None):
    """Wells grouped for plotting: by ``column`` if given, else by a ``group`` label if the plate map has one, else
    by composition (antisolvent x ligand pair x ligand:PbBr2 ratio: several PbBr2 levels are never pooled)."""
    from twin.analysis.figure_data import composition_groups

    if column is None and "group" in plate.columns:
        column = "group"
    return composition_groups(plate, column)


def _figure_jobs(result: CampaignResult, spectra, features, fig_dir: Path, group_by: str | None = None) -> list[tuple]:
    """The figures of a run as independent jobs ``(function name, args, kwargs)`` of ``twin.analysis.draw``.

    The tables are reduced to arrays here (``twin.analysis.figure_data``), so a job unpickles without pandas in the
    figure worker, which imported only matplotlib and numpy.
    """
    from twin.analysis.figure_data import composition_labels, heatmaps_data, heatmaps_data_by_group

    groups = _groups(result.plate, group_by)
    labels = composition_labels(result.plate)
    # heatmaps: one job per well group (each writes its own files), so they can be drawn side by side
    if spectra is None:  # the run's own spectra: split the result's cube, no long table
        per_group = heatmaps_data_by_group(*_spectra_cube(result), groups.to_dict(), labels)
    else:
        per_group = []
        codes, wells = pd.factorize(spectra["well"])  # on the categorical codes: no per-row string work
        label_of = np.array([str(groups.get(w, "ungrouped")) for w in wells], dtype=object)
        for label in dict.fromkeys(label_of):
            members = [w for w, lab in zip(wells, label_of) if lab == label]
            sub = spectra[(label_of == label)[codes]]
            per_group.append(heatmaps_data(sub, group_by=groups[groups.index.isin(members)], labels=labels))
    jobs = [("heatmaps", (), {**data, "out_dir": fig_dir}) for data in per_group]
    if features is not None:
        jobs += _feature_figure_jobs(result, features, fig_dir, group_by)
    return jobs


def _spectra_cube(result: CampaignResult) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """``spectra_cube(result.spectra_long())``, taken from the result's cube without building the long table.

    The long table is the (well, read, wavelength) cube flattened, times rounded to 4 decimals, so when wavelengths
    and reads increase the cube is the result's own; otherwise the long table is built after all.
    """
    from twin.analysis.figure_data import spectra_cube

    c = result.cube
    grid = np.asarray(c.wavelength_nm, float)
    cube = np.asarray(c.intensity, float)
    increasing = np.isfinite(grid).all() and (np.diff(grid) > 0).all() and (np.diff(c.read) > 0).all()
    if cube.size == 0 or not increasing:
        return spectra_cube(result.spectra_long())
    times = np.asarray(np.round(c.time_min, 4), float)
    return [str(w) for w in c.wells], grid, times, cube


def _feature_figure_jobs(result: CampaignResult, features, fig_dir: Path, group_by: str | None = None) -> list[tuple]:
    """The figures drawn from the fitted features: trajectories (coloured by amine:acid ratio, groups by line
    style) and (for a ratio series) the ratio summary."""
    from twin.analysis.figure_data import feature_trajectories_data, ratio_summary_data

    groups = _groups(result.plate, group_by)
    jobs = [("feature_trajectories", (), {**feature_trajectories_data(features, groups, result.plate),
                                          "out_path": fig_dir / "features_vs_time.png"})]
    plate = result.plate
    synthesised = plate[(plate["acid_uL"] > 0) & (plate["pbbr2_uL"] > 0)]
    if (synthesised["amine_uL"] / synthesised["acid_uL"]).nunique() > 1:  # a ratio series: the paper's Fig. 2
        jobs.append(("ratio_summary", (), {**ratio_summary_data(features, synthesised, groups),
                                           "out_path": fig_dir / "ratio_summary.png"}))
    return jobs


def start_figures(result: CampaignResult, spectra, features, fig_dir: Path, workers: int | None = None,
                  group_by: str | None = None):
    """Start drawing the figures; returns a handle whose ``result()`` waits for them and lists the PNGs.

    ``spectra``: the long spectra table to draw the heatmaps from, or None for the result's own (taken from its
    cube, the quicker way).

    With more than one CPU the figures are drawn in a forked worker process (matplotlib imported there; started
    early by ``prepare_figure_workers`` if it was called) and a fork of it, so they draw while the caller writes the
    other files and side by side with each other (``workers=N`` > 1: a pool of N workers); ``workers=1`` (or
    ``LARP_TWIN_FIGURE_WORKERS=1``, or a platform without ``fork``) draws them here, one after the other. The PNGs
    are the same bytes either way. With ``features=None`` only the heatmaps start; the handle's
    ``add(_feature_figure_jobs(...))`` adds the others once the features are fitted.
    """
    from twin.records.figure_workers import start

    fig_dir.mkdir(parents=True, exist_ok=True)
    return start(_figure_jobs(result, spectra, features, fig_dir, group_by), workers=workers)


def write_figures(result: CampaignResult, spectra, features, fig_dir: Path, workers: int | None = None,
                  group_by: str | None = None) -> list[Path]:
    """Spectro-temporal heatmaps per well group and peak/FWHM/intensity vs time (the paper's Figs 2 and 3)."""
    return start_figures(result, spectra, features, fig_dir, workers=workers, group_by=group_by).result()


def write_absorbance_figure(result: CampaignResult, abs_features, features, fig_dir: Path,
                            group_by: str | None = None) -> Path:
    """Band edge and OD of the absorbance scans over time, beside the PL peak (``figures/absorbance_vs_time.png``)."""
    from twin.analysis.absorbance_plots import plot_absorbance

    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / "absorbance_vs_time.png"
    from twin.analysis.figure_data import composition_labels

    plot_absorbance(result.absorbance, abs_features, features, path, group_by=_groups(result.plate, group_by),
                    labels=composition_labels(result.plate))
    return path
