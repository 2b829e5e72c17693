"""Analysis of campaign results: batched Gaussian fits, per-well trajectories, figures and SHAP.

Public API
----------
fit_gaussians, GaussianFit, FitStatus    -- batched Gaussian fitting of spectra stacks (fitting.py)
summarize_trajectories                   -- per-well t0/end values, drift, retention, stability (features.py)
plot_heatmaps, plot_feature_trajectories, plot_ratio_summary   -- figures in the paper's style (plots.py)
design_table, run_shap, ShapReport       -- learning table and model comparison + SHAP (design.py, learn.py)
AnalysisError, FitError, TableError, TooFewRowsError          -- typed errors (errors.py)

Every name is imported on first use (PEP 562 ``__getattr__``): ``fit_gaussians`` stays cheap to import for the
campaign runner (no matplotlib, scikit-learn or shap), and ``twin.analysis.draw`` can be imported by the figure
worker without pandas (which ``features`` and ``fitting`` import).
"""
from __future__ import annotations

__all__ = [
    "AnalysisError",
    "FitError",
    "FitStatus",
    "GaussianFit",
    "ShapReport",
    "TableError",
    "TooFewRowsError",
    "design_table",
    "fit_gaussians",
    "plot_feature_trajectories",
    "plot_heatmaps",
    "plot_ratio_summary",
    "run_shap",
    "summarize_trajectories",
]

_LAZY = {
    "AnalysisError": "twin.analysis.errors",
    "FitError": "twin.analysis.errors",
    "TableError": "twin.analysis.errors",
    "TooFewRowsError": "twin.analysis.errors",
    "summarize_trajectories": "twin.analysis.features",
    "FitStatus": "twin.analysis.fitting",
    "GaussianFit": "twin.analysis.fitting",
    "fit_gaussians": "twin.analysis.fitting",
    "plot_heatmaps": "twin.analysis.plots",
    "plot_feature_trajectories": "twin.analysis.plots",
    "plot_ratio_summary": "twin.analysis.plots",
    "design_table": "twin.analysis.design",
    "run_shap": "twin.analysis.learn",
    "ShapReport": "twin.analysis.learn",
}


def __getattr__(name: str):
    """Import a public name's module on first use (keeps matplotlib, sklearn and shap off the fitting path and
    pandas off the drawing path)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twin.analysis' has no attribute {name!r}")
