"""How sure the calibration is: a Gaussian posterior over the fitted chemistry parameters, and draws from it.

``larp-twin calibrate`` fits a few parameters (``twin.calibrate.FIT_PARAMETERS``) and estimates their covariance
from the Jacobian of the weighted residuals at the optimum (Laplace approximation: cov = s^2 (J^T J)^-1, the prior
rows included, s^2 the residual variance per degree of freedom). This module holds the result and turns it into
parameter sets for a forecast band.

The space of ``mean`` and ``cov``: per parameter, ``space[i]`` is ``"log"`` (the natural log of the value; used
for positive quantities such as times and rates, so a draw never changes sign) or ``"linear"`` (the value itself).
Draws are clipped to ``[lower[i], upper[i]]``, the fit's bounds.

File layout (written by ``larp-twin calibrate --out P.json``): ``P.json`` is ``LarpParameters.model_dump_json()``
(every parameter, as before), and its uncertainty goes beside it as ``P.uncertainty.json``
(:func:`uncertainty_path`), the JSON of :meth:`ParameterUncertainty.to_json`. :func:`load_uncertainty` reads the
file beside a params file, or falls back to :func:`default_uncertainty` (the shipped calibration's), whose numbers
live in the ``UNCERTAINTY`` block below (rewritten by ``larp-twin calibrate ... --write-builtin``).
"""

from __future__ import annotations

import json
import pprint
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InvalidAmountError
from .parameters import LarpParameters

SPACES = ("log", "linear")


@dataclass(frozen=True, eq=False)
class ParameterUncertainty:
    """Mean and covariance of the fitted parameters in their fitted space (``space``: "log" or "linear" each)."""

    names: list[str]
    mean: np.ndarray  # (k,) in the fitted space
    cov: np.ndarray  # (k, k) in the fitted space
    space: list[str] = field(default_factory=list)  # "log" | "linear" per name; default all "linear"
    lower: np.ndarray | None = None  # bounds of the fit (natural units); draws are clipped to them
    upper: np.ndarray | None = None
    source: str = ""  # what it was fitted to (free text)
    #: what the parameters do not carry: per feature ("peak_nm", "fwhm_nm" in nm, "log10_height"), the cross-validated
    #: RMS error of the calibrated model on held-out wells (emitting reads; the lab's own well-to-well scatter is in
    #: it). A forecast band built from parameter draws alone is too narrow (issue 21: 90 % bands from the Laplace
    #: posterior and the twin's well scatter covered ~52 % of the lab's peaks); add this in quadrature.
    discrepancy: dict = field(default_factory=dict)

    def __post_init__(self):
        k = len(self.names)
        object.__setattr__(self, "mean", np.asarray(self.mean, dtype=np.float64).reshape(k))
        object.__setattr__(self, "cov", np.asarray(self.cov, dtype=np.float64).reshape(k, k))
        object.__setattr__(self, "space", list(self.space) if self.space else ["linear"] * k)
        lo = np.full(k, -np.inf) if self.lower is None else np.asarray(self.lower, dtype=np.float64).reshape(k)
        hi = np.full(k, np.inf) if self.upper is None else np.asarray(self.upper, dtype=np.float64).reshape(k)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        bad = [s for s in self.space if s not in SPACES]
        if len(self.space) != k or bad:
            raise InvalidAmountError(f"uncertainty space: {bad or self.space}; allowed one of {SPACES} per name")
        unknown = [n for n in self.names if n not in LarpParameters.model_fields]
        if unknown:
            raise InvalidAmountError(f"uncertainty names not LarpParameters fields: {unknown}")
        if not np.all(np.isfinite(self.mean)) or not np.all(np.isfinite(self.cov)):
            raise InvalidAmountError("uncertainty mean/cov: not finite")

    # ------------------------------------------------------------------ values
    def to_natural(self, x: np.ndarray) -> np.ndarray:
        """Fitted-space vector(s) -> parameter values (clipped to the bounds)."""
        x = np.asarray(x, dtype=np.float64)
        log = np.array([s == "log" for s in self.space])
        v = np.where(log, np.exp(np.where(log, x, 0.0)), x)
        return np.clip(v, self.lower, self.upper)

    @property
    def values(self) -> dict[str, float]:
        """The central (fitted) value of each parameter, natural units."""
        return dict(zip(self.names, map(float, self.to_natural(self.mean))))

    @property
    def sd(self) -> np.ndarray:
        """Standard deviation of each parameter in its fitted space (log-space sd ~ relative error)."""
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0))

    def sample(self, base: LarpParameters, rng: np.random.Generator, n: int) -> list[LarpParameters]:
        """``n`` parameter sets: ``base`` with the fitted names drawn from N(mean, cov) in the fitted space."""
        if not isinstance(rng, np.random.Generator):
            raise InvalidAmountError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
        if int(n) != n or n < 0:
            raise InvalidAmountError(f"n = {n!r}; allowed: a non-negative integer")
        k = len(self.names)
        # eigen-decomposition tolerates a semi-definite covariance (a parameter the data pin exactly)
        w, v = np.linalg.eigh(0.5 * (self.cov + self.cov.T))
        root = v * np.sqrt(np.maximum(w, 0.0))
        draws = self.mean + rng.standard_normal((int(n), k)) @ root.T
        natural = self.to_natural(draws)
        return [base.model_copy(update=dict(zip(self.names, map(float, row)))) for row in natural]

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {"names": self.names, "space": self.space, "mean": self.mean.tolist(), "cov": self.cov.tolist(),
                "lower": [None if not np.isfinite(x) else float(x) for x in self.lower],
                "upper": [None if not np.isfinite(x) else float(x) for x in self.upper], "source": self.source,
                "discrepancy": {k: float(v) for k, v in self.discrepancy.items()}}

    def to_json(self, path=None) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, d: dict) -> "ParameterUncertainty":
        nan_none = lambda xs, fill: None if xs is None else [fill if x is None else x for x in xs]  # noqa: E731
        return cls(names=list(d["names"]), mean=d["mean"], cov=d["cov"], space=d.get("space") or [],
                   lower=nan_none(d.get("lower"), -np.inf), upper=nan_none(d.get("upper"), np.inf),
                   source=str(d.get("source", "")), discrepancy=dict(d.get("discrepancy") or {}))

    @classmethod
    def from_json(cls, path) -> "ParameterUncertainty":
        """Read a file written by :meth:`to_json` (errors name the file)."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidAmountError(f"{path}: not a parameter-uncertainty file ({exc})") from None


def uncertainty_path(params_path) -> Path:
    """Where the uncertainty of ``P.json`` lives: ``P.uncertainty.json`` beside it."""
    p = Path(params_path)
    return p.with_name(p.stem + ".uncertainty.json")


def load_uncertainty(params_path=None) -> ParameterUncertainty:
    """The uncertainty written beside ``params_path`` by ``calibrate``, else the shipped one."""
    if params_path is not None and uncertainty_path(params_path).exists():
        return ParameterUncertainty.from_json(uncertainty_path(params_path))
    return default_uncertainty()


def default_uncertainty() -> ParameterUncertainty:
    """The uncertainty of the shipped calibration (``LarpParameters.calibrated()``)."""
    return ParameterUncertainty.from_dict(UNCERTAINTY)


def write_builtin_uncertainty(unc: ParameterUncertainty) -> Path:
    """Rewrite the UNCERTAINTY block of this file (``larp-twin calibrate --write-builtin``)."""
    target = Path(__file__)
    block = ("# BEGIN UNCERTAINTY (written by `larp-twin calibrate ... --write-builtin`; do not edit by hand)\n"
             f"UNCERTAINTY: dict = {pprint.pformat(unc.to_dict(), width=118, sort_dicts=False)}\n# END UNCERTAINTY")
    text = target.read_text()
    new, n = re.subn(r"^# BEGIN UNCERTAINTY.*?^# END UNCERTAINTY", lambda _: block, text, flags=re.S | re.M)
    if n != 1:
        raise InvalidAmountError(f"{target}: UNCERTAINTY markers not found exactly once")
    target.write_text(new)
    return target


# BEGIN UNCERTAINTY (written by `larp-twin calibrate ... --write-builtin`; do not edit by hand)
UNCERTAINTY: dict = {'names': ['collapse_tau_min',
           'ripening_nm3_per_min',
           'amine_cap_polarity',
           'size_polarity',
           'defect_polarity',
           'dispersion_early_polarity'],
 'space': ['log', 'log', 'linear', 'linear', 'linear', 'linear'],
 'mean': [6.016065669029309,
          0.47614351423257983,
          0.21145911786900703,
          1.4490754837305362,
          0.38712964377441245,
          0.16722793854590348],
 'cov': [[0.00041662869758010083,
          -2.008215473559144e-05,
          -8.103886610991992e-06,
          1.6320806849973013e-05,
          0.00023840342843877948,
          -2.0981401890905993e-06],
         [-2.008215473559059e-05,
          0.022415001470675273,
          0.0022940160910276857,
          -0.00017962867355536335,
          0.0012485450406901966,
          -5.675839671186981e-05],
         [-8.103886610991935e-06,
          0.002294016091027692,
          0.0006778563735049462,
          -0.00015181831855953893,
          4.1432925177330714e-05,
          -0.00012600557303333714],
         [1.632080684997299e-05,
          -0.00017962867355536717,
          -0.00015181831855953928,
          0.0016588273418952752,
          -0.0003062117281860516,
          -4.305048923083303e-05],
         [0.00023840342843877945,
          0.0012485450406901873,
          4.143292517732874e-05,
          -0.0003062117281860516,
          0.0038729203899132377,
          -1.1438572471024777e-05],
         [-2.0981401890907353e-06,
          -5.675839671187138e-05,
          -0.00012600557303333711,
          -4.305048923083277e-05,
          -1.1438572471025353e-05,
          0.0003125625504835272]],
 'lower': [200.0, 0.05, 0.0, 0.8, 0.0, 0.0],
 'upper': [900.0, 10.0, 1.0, 2.5, 2.0, 0.6],
 'source': 'larp-twin calibrate (Laplace: s^2 (J^T J)^-1 at the optimum, s^2 = 2.77; 176 residuals)',
 'discrepancy': {'peak_nm': 3.6602946173612323, 'fwhm_nm': 3.3334759430562655, 'log10_height': 0.17252757606286892}}
# END UNCERTAINTY
