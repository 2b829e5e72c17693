"""The paper's figures drawn from twin data, one writer per built-in paper scenario.

``write_figures(run, out_dir)`` picks the writer by scenario name and returns {caption: PNG path}. The plots are the
analysis package's (``plot_ratio_summary`` for Figs. 2/6/S5, ``plot_heatmaps`` for Fig. 3/S13, trajectories for
S3/S4/S12); SHAP figures (Fig. 4, S7) come from :func:`twin.analysis.run_shap` and are added by the report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scenarios.measure import PaperRun

FIG3_RATIOS = (0.1, 1.0, 1.5, 2.0)  # Fig. 3A-D / E-H: 1:0.1, 1:1, 1:1.5, 1:2


def _selected_wells(run: PaperRun, group: str, ratios=FIG3_RATIOS) -> list[str]:
    s = run.series(group)
    return [s.wells[i] for i in s.rows(ratios)]


def _heatmaps(run: PaperRun, wells: list[str], out_dir: Path, label: str) -> list[Path]:
    from twin.analysis import plot_heatmaps

    long = run.result.spectra_long()
    long = long[long["well"].isin(wells)]
    return plot_heatmaps(long, out_dir, group_by=pd.Series({w: label for w in wells}),
                         wells_per_figure=len(wells), plate_map=run.plate)


def _ratio(run: PaperRun, path: Path) -> Path:
    from twin.analysis import plot_ratio_summary

    return plot_ratio_summary(run.features, run.plate, path, group_by=run.plate.set_index("well")["group"])


def _trajectories(run: PaperRun, path: Path) -> Path:
    from twin.analysis import plot_feature_trajectories

    return plot_feature_trajectories(run.features, path, group_by=run.plate.set_index("well")["group"],
                                     plate_map=run.plate)


def toluene_figures(run: PaperRun, out: Path) -> dict[str, Path]:
    figs = {"Fig. 2: peak, intensity, FWHM vs OAc:OLAm ratio, 1:30 and 1:15, toluene (first and last read)":
            _ratio(run, out / "fig2_toluene_ratio_summary.png"),
            "Fig. S3: PL features over 12 h, OAc:OLAm in toluene at 1:30 and 1:15":
            _trajectories(run, out / "figS3_toluene_trajectories.png")}
    wells = _selected_wells(run, "toluene OAc:OLAm 1:30")
    for p in _heatmaps(run, wells, out / "fig3AD", "Fig 3A-D: OAc:OLAm 1:0.1, 1:1, 1:1.5, 1:2 in toluene"):
        figs["Fig. 3A-D: spectro-temporal maps, OAc:OLAm 1:0.1 / 1:1 / 1:1.5 / 1:2 in toluene"] = p
    return figs


def octyl_toluene_figures(run: PaperRun, out: Path) -> dict[str, Path]:
    figs = {"Figs. S4/S5: peak, intensity, FWHM vs OctAc:OctAm ratio in toluene":
            _ratio(run, out / "figS5_octyl_toluene_ratio_summary.png")}
    wells = _selected_wells(run, "toluene OctAc:OctAm 1:30")
    for p in _heatmaps(run, wells, out / "fig3EH", "Fig 3E-H: OctAc:OctAm 1:0.1, 1:1, 1:1.5, 1:2 in toluene"):
        figs["Fig. 3E-H: spectro-temporal maps, OctAc:OctAm 1:0.1 / 1:1 / 1:1.5 / 1:2 in toluene"] = p
    return figs


def chloroform_figures(run: PaperRun, out: Path) -> dict[str, Path]:
    return {"Fig. 6: peak, intensity, FWHM vs OAc:OLAm ratio in chloroform (first and last read)":
            _ratio(run, out / "fig6_chloroform_ratio_summary.png"),
            "Fig. S12: PL evolution, OAc:OLAm in chloroform":
            _trajectories(run, out / "figS12_chloroform_trajectories.png")}


def octyl_chloroform_figures(run: PaperRun, out: Path) -> dict[str, Path]:
    figs = {"Fig. S4: PL features over 12 h, OctAc:OctAm in chloroform":
            _trajectories(run, out / "figS4_octyl_chloroform_trajectories.png")}
    wells = _selected_wells(run, "chloroform OctAc:OctAm 1:30")
    for p in _heatmaps(run, wells, out / "figS13", "Fig S13: OctAc:OctAm in chloroform"):
        figs["Fig. S13: spectro-temporal maps, OctAc:OctAm 1:0.1 / 1:1 / 1:1.5 / 1:2 in chloroform"] = p
    return figs


WRITERS = {
    "paper-toluene": toluene_figures,
    "paper-octyl-toluene": octyl_toluene_figures,
    "paper-chloroform": chloroform_figures,
    "paper-octyl-chloroform": octyl_chloroform_figures,
}


def write_figures(run: PaperRun, out_dir) -> dict[str, Path]:
    """The paper figures of ``run``'s scenario as PNGs under ``out_dir``; {caption: path}."""
    if run.name not in WRITERS:
        raise KeyError(f"no paper figures for scenario {run.name!r}; figures exist for {sorted(WRITERS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[run.name](run, out)
