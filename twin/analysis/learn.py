"""Which synthesis parameters move the PL? Four regressors with cross-validation, then SHAP on the random forest.

As in the paper (Fig. 4, Fig. S7): linear regression, random forest, SVR and an MLP are scored by K-fold RMSE, and
the random forest is explained with SHAP. ``shap.TreeExplainer`` computes exact Shapley values for tree ensembles in
milliseconds, where the paper's model-agnostic explainer samples. Results: a ranked importance CSV, beeswarm and
bar PNGs, and an RMSE table and bar chart. No backend is chosen here (no ``matplotlib.use``): the PNGs are drawn
on pyplot figures that are closed once written, so a notebook's inline plotting is left alone, and
:meth:`ShapReport.beeswarm` draws the beeswarm where the caller is plotting (inline in a notebook).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.analysis.errors import TableError, TooFewRowsError

NON_FEATURE_COLUMNS = {"well", "read", "time_min", "peak_nm", "fwhm_nm", "height", "area", "r2", "status",
                       "peak_stderr_nm", "fwhm_stderr_nm", "group"}
MODEL_NAMES = ("linear_regression", "random_forest", "svr", "mlp")


@dataclass(frozen=True)
class ShapReport:
    """What :func:`run_shap` learned.

    rmse : DataFrame (model, rmse_mean, rmse_std) of K-fold RMSE in the target's units, best first.
    importance : DataFrame (rank, feature, mean_abs_shap, direction) where direction is the correlation of a
        feature's value with its SHAP value (+1: more of it raises the target, -1: lowers it; NaN if constant).
    shap_values : array (n_rows, n_features) of the random forest's SHAP values; ``base_value`` its expected value.
    files : name -> path of every file written (empty when ``out_dir`` is None).
    inputs : DataFrame (n_rows, n_features) of the feature values explained (the rows of ``shap_values``).
    """

    target: str
    n_rows: int
    n_dropped: int
    feature_columns: list[str]
    rmse: pd.DataFrame
    best_model: str
    importance: pd.DataFrame
    shap_values: np.ndarray
    base_value: float
    files: dict[str, Path] = field(default_factory=dict)
    inputs: pd.DataFrame | None = None

    def beeswarm(self, plot_type: str | None = None, title: str | None = None):
        """SHAP's summary plot (beeswarm; ``plot_type="bar"``: mean |SHAP|) of the forest on a new pyplot figure,
        returned, not shown: in a notebook it renders inline after the cell, elsewhere ``fig.savefig(...)``."""
        import matplotlib.pyplot as plt

        if self.inputs is None:
            raise TableError("this ShapReport holds no inputs (made without run_shap): nothing to plot against")
        shap = _import_shap()
        fig = plt.figure()
        shap.summary_plot(self.shap_values, self.inputs, plot_type=plot_type, show=False)
        plt.title(title or f"random forest SHAP: {self.target}")
        return fig


def _import_shap():
    """shap, imported with its own import-time deprecation chatter (matplotlib colormap API) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap
    return shap


def _models(seed: int, n_estimators: int) -> dict:
    """The paper's four regressors; SVR and MLP see standardised inputs and targets."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    def scaled(model):
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), model), transformer=StandardScaler())

    return {
        "linear_regression": make_pipeline(StandardScaler(), LinearRegression()),
        "random_forest": RandomForestRegressor(n_estimators=n_estimators, random_state=seed),
        "svr": scaled(SVR(C=3.0, epsilon=0.05)),
        "mlp": scaled(MLPRegressor(hidden_layer_sizes=(32, 16), alpha=1e-3, max_iter=2000, random_state=seed)),
    }


def _select(table: pd.DataFrame, target: str, feature_columns, n_splits: int):
    """Validated (X, y, feature names, rows dropped); TableError/TooFewRowsError name the problem."""
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"table: expected a pandas DataFrame, got {type(table).__name__}")
    if target not in table.columns:
        raise TableError(f"target: {target!r} is not a column; available: {sorted(map(str, table.columns))}")
    if feature_columns is None:
        feature_columns = table.attrs.get("feature_columns") or [
            c for c in table.columns
            if c != target and c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(table[c])
        ]
    feature_columns = list(feature_columns)
    if not feature_columns:
        raise TableError("feature_columns: no numeric feature column found; pass feature_columns explicitly")
    missing = [c for c in feature_columns if c not in table.columns]
    if missing:
        raise TableError(f"feature_columns: {missing} not in the table")
    if target in feature_columns:
        raise TableError(f"feature_columns: contains the target {target!r}")
    y = pd.to_numeric(table[target], errors="coerce").to_numpy(float)
    keep = np.isfinite(y)
    X = table.loc[keep, feature_columns]
    for c in feature_columns:
        values = pd.to_numeric(X[c], errors="coerce")
        if values.isna().any() or not np.isfinite(values.to_numpy(float)).all():
            row = X.index[int(np.flatnonzero(~np.isfinite(values.to_numpy(float)))[0])]
            raise TableError(f"feature column {c!r}: row {row} is {table.loc[row, c]!r}; allowed: finite numbers")
    needed = max(2 * n_splits, 10)
    if keep.sum() < needed:
        raise TooFewRowsError(
            f"table: {int(keep.sum())} rows with a finite {target!r} ({int((~keep).sum())} dropped); "
            f"{n_splits}-fold cross-validation needs at least {needed}"
        )
    return X.astype(float).to_numpy(), y[keep], feature_columns, int((~keep).sum())


def _cross_validate(models: dict, X: np.ndarray, y: np.ndarray, n_splits: int, seed: int) -> pd.DataFrame:
    """K-fold (shuffled, seeded) RMSE of every model, best first."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold, cross_val_score

    folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rows = []
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = -cross_val_score(model, X, y, cv=folds, scoring="neg_root_mean_squared_error")
        rows.append({"model": name, "rmse_mean": float(scores.mean()), "rmse_std": float(scores.std())})
    return pd.DataFrame(rows).sort_values("rmse_mean", kind="stable").reset_index(drop=True)


def _importance(shap_values: np.ndarray, X: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Mean |SHAP| per feature, ranked, with the sign of the value-SHAP correlation as the direction."""
    mean_abs = np.abs(shap_values).mean(axis=0)
    direction = np.full(len(names), np.nan)
    for j in range(len(names)):
        if np.ptp(X[:, j]) > 0 and np.ptp(shap_values[:, j]) > 0:
            direction[j] = np.corrcoef(X[:, j], shap_values[:, j])[0, 1]
    out = pd.DataFrame({"feature": names, "mean_abs_shap": mean_abs, "direction": direction})
    out = out.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _write(out_dir: Path, target: str, rmse: pd.DataFrame, importance: pd.DataFrame, shap_values, X, names):
    """CSV tables and PNG figures (beeswarm, bar, model RMSE); returns name -> path.

    shap's plots draw on pyplot's current figure; each is closed once written (no window opens whatever the backend).
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    shap = _import_shap()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "importance_csv": out_dir / f"shap_importance_{target}.csv",
        "rmse_csv": out_dir / f"model_rmse_{target}.csv",
        "beeswarm_png": out_dir / f"shap_beeswarm_{target}.png",
        "bar_png": out_dir / f"shap_bar_{target}.png",
        "rmse_png": out_dir / f"model_rmse_{target}.png",
    }
    importance.to_csv(files["importance_csv"], index=False, lineterminator="\n")
    rmse.to_csv(files["rmse_csv"], index=False, lineterminator="\n")
    frame = pd.DataFrame(X, columns=names)
    for kind, key in ((None, "beeswarm_png"), ("bar", "bar_png")):
        fig = plt.figure()
        shap.summary_plot(shap_values, frame, plot_type=kind, show=False)
        plt.title(f"random forest SHAP: {target}")
        fig.savefig(files[key], dpi=100, bbox_inches="tight")
        plt.close(fig)
    fig = Figure(figsize=(5, 3.2), layout="constrained")  # no pyplot state
    ax = fig.subplots()
    ax.bar(rmse["model"], rmse["rmse_mean"], yerr=rmse["rmse_std"], color="tab:gray", capsize=3)
    ax.set_ylabel(f"{target} RMSE (K-fold)")
    ax.tick_params(axis="x", labelsize=8)
    fig.savefig(files["rmse_png"], dpi=100)
    return files


def run_shap(
    table: pd.DataFrame,
    target: str,
    feature_columns: list[str] | None = None,
    out_dir=None,
    seed: int = 0,
    *,
    n_splits: int = 5,
    n_estimators: int = 300,
) -> ShapReport:
    """Compare four regressors by K-fold RMSE and explain a random forest with SHAP.

    Parameters
    ----------
    table : one row per sample, e.g. from :func:`twin.analysis.design_table` or the paper's 160-row table.
    target : column to predict, e.g. ``peak_nm``, ``height`` or ``fwhm_nm``; rows where it is NaN are dropped.
    feature_columns : inputs; default ``table.attrs["feature_columns"]`` if set, else every numeric column that is
        not a known target/bookkeeping column.
    out_dir : directory for ``shap_importance_<target>.csv``, ``model_rmse_<target>.csv``, ``shap_beeswarm_<target>.png``,
        ``shap_bar_<target>.png``, ``model_rmse_<target>.png``; None writes nothing.
    seed : seeds the folds, the forest and the MLP (same seed, same numbers).
    n_splits : folds; fewer than max(2 n_splits, 10) usable rows raises TooFewRowsError.
    n_estimators : trees in the random forest.
    """
    X, y, names, n_dropped = _select(table, target, feature_columns, n_splits)
    models = _models(seed, n_estimators)
    rmse = _cross_validate(models, X, y, n_splits, seed)
    forest = models["random_forest"].fit(X, y)

    shap = _import_shap()
    explainer = shap.TreeExplainer(forest)
    shap_values = np.asarray(explainer.shap_values(X), dtype=float)
    base = float(np.ravel(explainer.expected_value)[0])
    importance = _importance(shap_values, X, names)
    files = {} if out_dir is None else _write(Path(out_dir), target, rmse, importance, shap_values, X, names)
    return ShapReport(target=target, n_rows=int(y.size), n_dropped=n_dropped, feature_columns=names, rmse=rmse,
                      best_model=str(rmse["model"].iloc[0]), importance=importance, shap_values=shap_values,
                      base_value=base, files=files, inputs=pd.DataFrame(X, columns=names))
