"""Search strategies of the closed loop, one ask/tell interface: ``ask(n) -> conditions``, ``tell(conditions, scores)``.

``OptunaTPE`` ("tpe", the default: Optuna's tree-structured Parzen estimator driven through Optuna's own ask/tell),
``BayesianOptimizer`` ("bo": our scikit-learn Gaussian process + expected improvement, a batch per plate by the
kriging believer), ``RandomSearch`` and ``GridSearch``; ``make_strategy`` builds one by name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from twin.messages import UserError
from twin.studies.names import _ALIASES, STRATEGIES  # the strategies make_strategy knows
from twin.studies.space import SearchSpace
from twin.studies.spec import PARAMETERS, Range


class RandomSearch:
    """Uniform random conditions."""

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space, self.rng = space, np.random.default_rng(seed)

    def ask(self, n: int) -> pd.DataFrame:
        return self.space.sample(n, self.rng)

    def tell(self, conditions: pd.DataFrame, scores) -> None:
        pass


class GridSearch:
    """A full grid of at least ``budget`` points, visited in a random (seeded) order, ``n`` per plate."""

    def __init__(self, space: SearchSpace, budget: int, seed: int = 0):
        grid = space.grid(budget)
        self.grid = grid.iloc[np.random.default_rng(seed).permutation(len(grid))].reset_index(drop=True)
        self.next = 0

    def ask(self, n: int) -> pd.DataFrame:
        idx = np.arange(self.next, self.next + n) % len(self.grid)
        self.next += n
        return self.grid.iloc[idx].reset_index(drop=True)

    def tell(self, conditions: pd.DataFrame, scores) -> None:
        pass


class OptunaTPE:
    """Optuna's TPE sampler (multivariate, constant liar for a plate of pending wells), one Optuna trial per well.

    ``ask(n)`` opens ``n`` trials and returns their conditions; ``tell`` closes them in the same order with the
    wells' scores (a NaN score fails the trial, so TPE ignores it).  The first ``n_startup`` wells are TPE's random
    start-up (default one plate).  ``study`` is a plain ``optuna.Study``: inspect it with Optuna's own tools.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, n_startup: int = 24):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial otherwise
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                             n_startup_trials=n_startup)
        self.space, self.study, self.pending = space, optuna.create_study(direction="maximize", sampler=sampler), []

    def ask(self, n: int) -> pd.DataFrame:
        from twin.studies.space import suggest

        rows = []
        for _ in range(n):
            trial = self.study.ask()
            self.pending.append(trial)
            rows.append(suggest(self.space, trial))
        return self.space.complete(pd.DataFrame(rows))

    def tell(self, conditions: pd.DataFrame, scores) -> None:
        import optuna

        scores = np.asarray(scores, float)
        if len(scores) != len(self.pending):
            raise UserError(f"tell: {len(scores)} scores for {len(self.pending)} asked conditions; allowed: one score "
                            f"per asked condition, in the order asked")
        for trial, s in zip(self.pending, scores):
            if np.isfinite(s):
                self.study.tell(trial, float(s))
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.pending = []


class BayesianOptimizer:
    """Gaussian-process Bayesian optimisation: a Latin-hypercube first plate, then expected-improvement batches.

    The GP (Matern 5/2 with one length scale per feature + white noise, normalised targets) models
    log1p(score); each plate is filled by the kriging believer in at most 8 rounds: pick the candidates with the
    largest EI (damped within a round near each pick, one length scale wide), add them with their predicted means as
    pseudo-observations, refit with the kernel fixed, repeat.  Candidates are ``n_candidates``
    random conditions plus perturbations of the best ones observed.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, xi: float = 0.01, n_candidates: int = 1500):
        self.space, self.seed, self.xi, self.n_candidates = space, seed, xi, n_candidates
        self.rng = np.random.default_rng(seed)
        self.X = pd.DataFrame(columns=list(PARAMETERS))
        self.y = np.zeros(0)

    def tell(self, conditions: pd.DataFrame, scores) -> None:
        scores = np.asarray(scores, float)
        keep = np.isfinite(scores)
        self.X = pd.concat([self.X, conditions.reset_index(drop=True)[keep]], ignore_index=True)
        self.y = np.concatenate([self.y, np.log1p(np.maximum(scores[keep], 0.0))])

    def _gp(self, X, y, kernel=None):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        if kernel is None:
            d = X.shape[1]
            # big data sets: warm start from the last plate's hyperparameters (one optimisation; the fit is the
            # cost); small ones: three random restarts (cheap, and a few points mislead a single start)
            warm = getattr(self, "kernel_", None) if len(y) >= 64 else None
            kernel = warm or ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.full(d, 0.3), (1e-2, 1e2), nu=2.5) \
                + WhiteKernel(1e-2, (1e-6, 1.0))
            gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=0 if warm else 2,
                                          random_state=self.seed)
        else:
            gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # length scales at a bound: fine for a proposal
            return gp.fit(X, y)

    def _candidates(self) -> pd.DataFrame:
        cand = [self.space.sample(self.n_candidates, self.rng)]
        top = self.X.iloc[np.argsort(self.y)[::-1][:5]]
        for _, row in top.iterrows():
            local = pd.DataFrame([row] * 60).reset_index(drop=True)
            for name, v in self.space.parameters.items():
                if isinstance(v, Range):
                    lo, hi = (np.log(v.low), np.log(v.high)) if v.log else (v.low, v.high)
                    x = (np.log(local[name].astype(float)) if v.log else local[name].astype(float)).to_numpy()
                    x = np.clip(x + self.rng.normal(0, 0.05 * (hi - lo), len(x)), lo, hi)
                    local[name] = np.exp(x) if v.log else x
            cand.append(local)
        return pd.concat(cand, ignore_index=True)

    def ask(self, n: int) -> pd.DataFrame:
        if len(self.y) < 3:
            return self.space.sample(n, self.rng, design="lhs")
        from scipy.stats import norm

        X = self.space.encode(self.X)
        gp = self._gp(X, self.y)
        self.kernel_ = gp.kernel_
        cand = self._candidates()
        C = self.space.encode(cand)
        Xb, yb = X, self.y.copy()
        best = yb.max()
        ell = np.asarray(gp.kernel_.get_params()["k1__k2__length_scale"], float)
        chosen: list[int] = []
        available = np.ones(len(cand), bool)
        step = max(1, -(-n // 8))  # at most 8 GP refits per plate, whatever its size
        while len(chosen) < n:
            if chosen:
                gp = self._gp(Xb, yb, gp.kernel_)
            mu, sd = gp.predict(C, return_std=True)
            imp = mu - best - self.xi
            z = imp / np.maximum(sd, 1e-12)
            ei = np.where(sd > 1e-12, imp * norm.cdf(z) + sd * norm.pdf(z), 0.0)
            ei = np.maximum(ei, 0.0) + 1e-12 * sd  # ties (EI ~ 0 everywhere) go to the most uncertain
            picks = []
            for _ in range(min(step, n - len(chosen))):
                score = np.where(available, ei, -np.inf)
                i = int(np.argmax(score))
                picks.append(i)
                available[i] = False
                # within a round, damp EI near the pick (one GP length scale), so a batch spreads out
                ei = ei * (1.0 - np.exp(-0.5 * np.sum(((C - C[i]) / ell) ** 2, axis=1)))
            chosen += picks
            Xb, yb = np.vstack([Xb, C[picks]]), np.append(yb, mu[picks])  # kriging believer
        return cand.iloc[chosen].reset_index(drop=True)


def make_strategy(name: str, space: SearchSpace, seed: int, budget: int, plate_size: int = 24):
    """A fresh strategy by name (one of STRATEGIES; "optuna" is accepted for "tpe", "bayes" for "bo")."""
    name = _ALIASES.get(name, name)
    if name == "tpe":
        return OptunaTPE(space, seed, n_startup=plate_size)
    if name == "bo":
        return BayesianOptimizer(space, seed)
    if name == "random":
        return RandomSearch(space, seed)
    if name == "grid":
        return GridSearch(space, budget, seed)
    raise UserError(f"strategy {name!r}; allowed: {list(STRATEGIES)}")
