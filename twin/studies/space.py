"""The search space of a closed loop: which parameters it may choose and how to sample, grid and encode them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.studies.spec import (CATEGORICAL, DEFAULTS, PARAMETERS, Range, SweepSpec, SweepSpecError, load_spec,
                               sample_conditions)


class SearchSpace(BaseModel):
    """The parameters a loop may choose: a list (categorical choices) or a Range (continuous, optionally log).

    Invalid spaces raise pydantic's ValidationError (a ValueError) carrying the SweepSpecError message: the
    parameter, the value and the allowed values.
    """

    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, list | Range] = Field(default_factory=lambda: {
        "antisolvent": ["toluene", "chloroform"], "pair": ["OAc:OLAm", "OctAc:OctAm"],
        "amine_per_acid": Range(low=0.05, high=5.0, log=True), "acid_per_pbbr2": Range(low=3.0, high=60.0, log=True)})

    @model_validator(mode="after")
    def _valid(self):
        # reuse the sweep spec's checks (names, canonical values, ranges) on a random design of this space
        spec = load_spec({"design": "random", "n": 1, "parameters": self.parameters})
        self.parameters = spec.parameters
        for name, v in self.parameters.items():
            if isinstance(v, list) and name not in CATEGORICAL:
                raise SweepSpecError(f"parameters.{name}: a numeric parameter needs a Range(low, high) in a search "
                                     f"space; allowed lists only for {list(CATEGORICAL)}")
        return self

    def complete(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with every PARAMETER, the ones this space leaves out at DEFAULTS, in PARAMETERS order."""
        table = table.copy()
        for k, v in DEFAULTS.items():
            if k not in table:
                table[k] = v
        return table[list(PARAMETERS)]

    def sample(self, n: int, rng: np.random.Generator, design: str = "random") -> pd.DataFrame:
        """``n`` conditions (all PARAMETERS; fixed ones at DEFAULTS) drawn uniformly or by Latin hypercube."""
        return self.complete(sample_conditions(self.parameters, n, design, int(rng.integers(2**31))))

    def grid(self, n: int) -> pd.DataFrame:
        """A full grid with at least ``n`` points: every categorical level x equal levels per continuous range."""
        cats = {k: v for k, v in self.parameters.items() if isinstance(v, list)}
        reals = {k: v for k, v in self.parameters.items() if not isinstance(v, list)}
        n_cat = int(np.prod([len(v) for v in cats.values()])) if cats else 1
        levels = max(2, int(np.ceil((n / n_cat) ** (1 / max(len(reals), 1))))) if reals else 1
        params = dict(cats, **{k: Range(low=v.low, high=v.high, log=v.log, num=levels) for k, v in reals.items()})
        return SweepSpec(design="grid", parameters=params).conditions()[list(PARAMETERS)]

    def encode(self, conditions: pd.DataFrame) -> np.ndarray:
        """Features for the GP: continuous parameters scaled to [0, 1] (log if log), categoricals one-hot."""
        cols = []
        for name, v in self.parameters.items():
            if isinstance(v, list):
                values = conditions[name].astype(str).to_numpy()
                cols += [(values == str(c)).astype(float) for c in v]
            else:
                x = conditions[name].to_numpy(float)
                lo, hi = (np.log(v.low), np.log(v.high)) if v.log else (v.low, v.high)
                cols.append(((np.log(x) if v.log else x) - lo) / (hi - lo))
        return np.column_stack(cols) if cols else np.zeros((len(conditions), 0))


def suggest(space: SearchSpace, trial) -> dict:
    """One condition from an Optuna trial: ``suggest_categorical`` for a list, ``suggest_float`` (log if log) for a
    Range, under the parameter's own name, so an Optuna study over the twin reads in chemist's terms."""
    out = {}
    for name, v in space.parameters.items():
        if isinstance(v, list):
            out[name] = trial.suggest_categorical(name, v)
        else:
            out[name] = trial.suggest_float(name, v.low, v.high, log=v.log)
    return out
