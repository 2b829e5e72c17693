"""Write a campaign's results to a directory, atomically: a temp dir beside the target, moved into place at the end.

Files: ``plate.csv``, ``spectra.parquet``, ``features.csv``, ``manifest.json``, ``log.jsonl`` (the command stream
the real instruments would have received), ``deck.txt`` (the operator's set-up sheet), ``gen5_export.txt`` (the spectra as Gen5 would export them) and
``figures/*.png``; a run with absorbance reads adds ``absorbance.parquet`` (``well, read, time_min, wavelength_nm,
od``) and ``absorbance_features.csv`` (band edge, first excitonic peak per spectrum).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from twin.outdir import atomic_dir
from twin.results import CampaignResult


def _write_parquet(df, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({})  # no pandas/version metadata: same seed, same bytes
    pq.write_table(table, path, compression="zstd")


def write_results(result: CampaignResult, out_dir: str | Path, figures: bool = True) -> Path:
    """Write every output file of ``result`` into ``out_dir`` (replacing a previous run there), atomically.

    The CLI applies the output policy (``twin.outdir.check_target``) before it runs the campaign; this function
    replaces whatever directory is at ``out_dir`` (never the working directory) and marks it as a run's output.
    """
    out = Path(out_dir)
    with atomic_dir(out, command="run") as tmp:
        result.plate.to_csv(tmp / "plate.csv", index=False, lineterminator="\n")
        spectra = result.spectra_long()
        _write_parquet(spectra, tmp / "spectra.parquet")
        features = result.features()
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
        if "faults" in result.manifest:
            with open(tmp / "events.jsonl", "w") as fh:
                for e in result.events:
                    fh.write(json.dumps(e, default=float) + "\n")
        if figures:
            write_figures(result, spectra, features, tmp / "figures", abs_features)
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        manifest = {**result.manifest, "files": files + ["manifest.json"]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=float) + "\n")
    return out


def write_gen5(result: CampaignResult, path: Path, layout: str = "tab") -> Path:
    """The spectra as the Gen5 export the lab's Cytation would have written (one ``Read N:EM Spectrum`` per read)."""
    from datetime import datetime

    from instruments.cytation import write_gen5_spectra

    ds = result.dataset
    n = int(ds.attrs.get("plate_wells", 96))
    absorbance = None
    if result.absorbance is not None:  # one (wavelengths, od[well, wl]) per absorbance read, wells as in ds
        wells = list(ds["well"].values)
        absorbance = []
        for _, g in result.absorbance.groupby("read", sort=True):
            cube = g.pivot_table(index="well", columns="wavelength_nm", values="od", dropna=False, observed=True)
            cube = cube.reindex(wells)
            absorbance.append((cube.columns.to_numpy(float), cube.to_numpy(float)))
    rows, cols = (8, 12) if n == 96 else (16, 24)
    return write_gen5_spectra(
        path, list(ds["well"].values), ds["wavelength_nm"].values, ds["intensity"].values.transpose(1, 0, 2),
        layout=layout, excitation_nm=float(ds.attrs["excitation_nm"]), gain=int(ds.attrs["gain"]),
        reading_type=ds.attrs.get("reading_type", "Simulation"), when=datetime.fromisoformat(ds.attrs["start_time"]),
        plate_type=f"{n} WELL PLATE (Use plate lid)", plate_rows=rows, plate_columns=cols,
        absorbance=absorbance, order=result.read_order if absorbance else None,
    )


def _groups(plate):
    """Wells grouped for plotting: by a ``group`` label if the plate map has one, else antisolvent x ligands."""
    if "group" in plate.columns:
        return plate.set_index("well")["group"].astype(str)
    return (plate["antisolvent"] + " " + plate["acid"] + ":" + plate["amine"]).set_axis(plate["well"])


def write_figures(result: CampaignResult, spectra, features, fig_dir: Path, abs_features=None) -> list[Path]:
    """Spectro-temporal heatmaps per well group and peak/FWHM/intensity vs time (the paper's Figs 2 and 3)."""
    import matplotlib

    matplotlib.use("Agg")
    from twin.analysis import plot_feature_trajectories, plot_heatmaps, plot_ratio_summary

    fig_dir.mkdir(parents=True, exist_ok=True)
    groups = _groups(result.plate)
    paths = list(plot_heatmaps(spectra, fig_dir, group_by=groups) or [])
    p = fig_dir / "features_vs_time.png"
    plot_feature_trajectories(features, p, group_by=groups)
    paths.append(p)
    plate = result.plate
    synthesised = plate[(plate["acid_uL"] > 0) & (plate["pbbr2_uL"] > 0)]
    if (synthesised["amine_uL"] / synthesised["acid_uL"]).nunique() > 1:  # a ratio series: the paper's Fig. 2
        p = fig_dir / "ratio_summary.png"
        plot_ratio_summary(features, synthesised, p, group_by=groups)
        paths.append(p)
    if abs_features is not None and len(abs_features):
        from twin.analysis.absorbance_plots import plot_absorbance

        p = fig_dir / "absorbance_vs_time.png"
        plot_absorbance(result.absorbance, abs_features, features, p, group_by=groups)
        paths.append(p)
    return paths
