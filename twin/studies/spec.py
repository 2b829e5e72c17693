"""Sweep specifications: which well parameters vary, how (grid, random, Latin hypercube), and how wells fill plates.

A condition is one well's recipe in chemist's terms (``antisolvent``, ``pair``, ``amine_per_acid``,
``acid_per_pbbr2``, ``pbbr2_uL``, ``antisolvent_uL``, ``cs_uL``); ``condition_rows`` turns conditions into plate-map
rows (the paper's standard well: acid_uL = pbbr2_uL / acid_per_pbbr2, amine_uL = acid_uL * amine_per_acid).
A spec is validated at the edge: a typo in a parameter name, an unknown solvent or an empty range is an error naming
the field and the allowed values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chemistry import ACIDS, AMINES, SOLVENTS
from twin.config import LabConfig, Schedule
from twin.studies.names import DEFAULTS, PARAMETERS  # the parameters a sweep may vary, with their defaults

CATEGORICAL = ("antisolvent", "pair")
#: allowed range of each numeric parameter (inclusive low, inclusive high)
NUMERIC_LIMITS = {"amine_per_acid": (0.0, 10.0), "acid_per_pbbr2": (1.0, 1000.0), "pbbr2_uL": (0.0, 100.0),
                  "antisolvent_uL": (0.0, 300.0), "cs_uL": (0.0, 300.0)}
DESIGNS = ("grid", "random", "lhs")


class SweepSpecError(ValueError):
    """A sweep spec that cannot be run; the message names the field and the allowed values."""


def allowed_pairs() -> list[str]:
    """Every ``ACID:AMINE`` pair the chemistry knows."""
    return [f"{a}:{m}" for a in ACIDS for m in AMINES]


def _check_value(name: str, value):
    """Canonical value of parameter ``name``; SweepSpecError naming the parameter and the allowed values."""
    if name == "antisolvent":
        lookup = {s.lower(): s for s in SOLVENTS}
        if str(value).strip().lower() not in lookup:
            raise SweepSpecError(f"parameters.antisolvent: {value!r} is not a known antisolvent; allowed: "
                                 f"{sorted(SOLVENTS)}")
        return lookup[str(value).strip().lower()]
    if name == "pair":
        acid, _, amine = str(value).partition(":")
        acids, amines = {a.lower(): a for a in ACIDS}, {a.lower(): a for a in AMINES}
        if acid.strip().lower() not in acids or amine.strip().lower() not in amines:
            raise SweepSpecError(f"parameters.pair: {value!r} is not ACID:AMINE; allowed acids {sorted(ACIDS)}, "
                                 f"amines {sorted(AMINES)} (e.g. 'OAc:OLAm')")
        return f"{acids[acid.strip().lower()]}:{amines[amine.strip().lower()]}"
    lo, hi = NUMERIC_LIMITS[name]
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (lo <= v <= hi):
        raise SweepSpecError(f"parameters.{name}: {value!r} is out of range; allowed: a number in [{lo:g}, {hi:g}]")
    return v


class Range(BaseModel):
    """A numeric interval: ``num`` points for a grid (linear or log spaced), or sampled uniformly for random/lhs."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    num: int | None = Field(None, ge=1, description="grid points (grid design only)")
    log: bool = Field(False, description="log-spaced grid / log-uniform sampling")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.high > self.low:
            raise ValueError(f"high ({self.high:g}) must exceed low ({self.low:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"log=True needs low > 0, got {self.low:g}")
        return self

    def grid(self) -> np.ndarray:
        n = self.num or 1
        return (np.geomspace if self.log else np.linspace)(self.low, self.high, n)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map samples in [0, 1) onto the interval."""
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


class SweepSpec(BaseModel):
    """What to sweep, how, and on which schedule and lab.

    ``parameters`` maps a well parameter (see PARAMETERS) to a list of values (grid levels, or choices sampled
    uniformly by random/lhs) or a Range; parameters left out take DEFAULTS. A ``seed`` entry in a grid's parameters is
    the same as ``seeds``: every plate runs once per campaign seed (replicates with independent noise).
    """

    model_config = ConfigDict(extra="forbid")
    name: str = "sweep"
    description: str = ""
    design: Literal["grid", "random", "lhs"] = "grid"
    parameters: dict[str, list | Range] = Field(default_factory=dict)
    n: int | None = Field(None, ge=1, le=1_000_000, description="conditions to draw (random and lhs designs)")
    design_seed: int = Field(0, description="seed of the random / Latin-hypercube draw")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="campaign seeds (replicates)")
    wells_per_plate: int = Field(96, ge=1, le=384, description="conditions per campaign (one plate per campaign)")
    plate_wells: Literal[96, 384] = 96
    schedule: Schedule = Field(default_factory=Schedule)
    lab: LabConfig = Field(default_factory=LabConfig)

    @field_validator("parameters", mode="before")
    @classmethod
    def _known_parameters(cls, value):
        if not isinstance(value, dict):
            raise SweepSpecError(f"parameters: expected a mapping of parameter -> values, got {type(value).__name__}")
        unknown = sorted(set(value) - set(PARAMETERS) - {"seed"})
        if unknown:
            raise SweepSpecError(f"parameters: unknown parameter(s) {unknown}; allowed: {list(PARAMETERS)} "
                                 f"(and 'seed' in a grid)")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        params = dict(self.parameters)
        if "seed" in params:
            seeds = params.pop("seed")
            if self.design != "grid" or not isinstance(seeds, list) or not seeds:
                raise SweepSpecError("parameters.seed: allowed only in a grid, as a non-empty list of integers "
                                     "(or use the top-level 'seeds')")
            if "seeds" in self.model_fields_set and list(self.seeds) != [int(s) for s in seeds]:
                raise SweepSpecError("parameters.seed and seeds both given; allowed: one of them")
            self.seeds = [int(s) for s in seeds]
        for name, values in params.items():
            if isinstance(values, list):
                if not values:
                    raise SweepSpecError(f"parameters.{name}: empty list; allowed: one or more values")
                params[name] = [_check_value(name, v) for v in values]
            else:
                if name in CATEGORICAL:
                    raise SweepSpecError(f"parameters.{name}: a range is not allowed for a categorical parameter; "
                                         f"allowed: a list of values")
                _check_value(name, values.low), _check_value(name, values.high)
                if self.design == "grid" and values.num is None:
                    raise SweepSpecError(f"parameters.{name}: a grid range needs 'num' (number of points)")
                if self.design != "grid" and values.num is not None:
                    raise SweepSpecError(f"parameters.{name}: 'num' is for grid designs; design={self.design!r} "
                                         f"samples the range (set 'n' instead)")
        self.parameters = params
        if self.design == "grid" and self.n is not None:
            raise SweepSpecError("n: only for design 'random' or 'lhs'; a grid's size is the product of its levels")
        if self.design != "grid" and self.n is None:
            raise SweepSpecError(f"n: design={self.design!r} needs n (number of conditions to draw)")
        if self.wells_per_plate > self.plate_wells:
            raise SweepSpecError(f"wells_per_plate: {self.wells_per_plate} does not fit; allowed: 1..{self.plate_wells}"
                                 f" on a {self.plate_wells}-well plate")
        return self

    def conditions(self) -> pd.DataFrame:
        """One row per condition (well recipe) with columns PARAMETERS and ``condition`` (0..n-1)."""
        params = self.parameters
        if self.design == "grid":
            levels = {k: (list(v) if isinstance(v, list) else [float(x) for x in v.grid()]) for k, v in params.items()}
            rows = [dict(zip(levels, combo)) for combo in itertools.product(*levels.values())]
            table = pd.DataFrame(rows) if rows and levels else pd.DataFrame(index=range(1))
        else:
            table = sample_conditions(params, self.n, self.design, self.design_seed)
        for k, v in DEFAULTS.items():
            if k not in table.columns:
                table[k] = v
        table = table[list(PARAMETERS)].reset_index(drop=True)
        table.insert(0, "condition", np.arange(len(table)))
        return table

    def fingerprint(self) -> str:
        """Short hash of everything that changes a campaign's outcome (design, schedule, lab)."""
        payload = self.model_dump(mode="json", exclude={"name", "description"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]


def sample_conditions(params: dict, n: int, design: str, seed: int) -> pd.DataFrame:
    """``n`` conditions drawn uniformly (``random``) or by Latin hypercube (``lhs``) over ``params``."""
    rng = np.random.default_rng(seed)
    names = list(params)
    if design == "lhs" and names:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(names), seed=rng).random(n)
    else:
        unit = rng.random((n, len(names)))
    out = {}
    for j, name in enumerate(names):
        spec, u = params[name], unit[:, j]
        if isinstance(spec, list):
            idx = np.minimum((u * len(spec)).astype(int), len(spec) - 1)
            out[name] = [spec[i] for i in idx]
        else:
            out[name] = spec.from_unit(u)
    return pd.DataFrame(out, index=range(n))


def condition_rows(conditions: pd.DataFrame) -> pd.DataFrame:
    """Plate-map rows (without wells) for conditions with columns PARAMETERS; extra columns are kept as labels."""
    c = conditions.reset_index(drop=True)
    pair = c["pair"].astype(str).str.split(":", n=1, expand=True)
    acid_uL = c["pbbr2_uL"].astype(float) / c["acid_per_pbbr2"].astype(float)
    rows = pd.DataFrame({
        "antisolvent": c["antisolvent"], "antisolvent_uL": c["antisolvent_uL"].astype(float),
        "cs_uL": c["cs_uL"].astype(float), "pbbr2_uL": c["pbbr2_uL"].astype(float),
        "acid": pair[0], "acid_uL": acid_uL.round(6), "amine": pair[1],
        "amine_uL": (acid_uL * c["amine_per_acid"].astype(float)).round(6),
    })
    labels = c.drop(columns=[k for k in ("antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL") if k in c.columns])
    return pd.concat([rows, labels], axis=1)


def load_spec(source: str | Path | dict) -> SweepSpec:
    """A SweepSpec from a JSON or YAML file (YAML needs pyyaml), JSON text, or a dict; SweepSpecError if invalid."""
    where = "sweep spec"
    if isinstance(source, dict):
        data = source
    else:
        text, p = str(source), Path(str(source))
        from instruments.input_files import load_json, load_structured

        if text.lstrip().startswith("{"):
            data = load_json(text, "sweep spec (inline JSON)", SweepSpecError)
        else:
            if not p.exists():
                raise SweepSpecError(f"sweep spec {p} does not exist")
            where = str(p)
            if p.is_dir():
                raise SweepSpecError(f"sweep spec {p} is a directory; give a .json or .yaml spec file")
            # the one bounded loader of every YAML/JSON input (regular file, size, nesting, alias expansion)
            data = load_structured(p, "sweep spec", yaml_ok=p.suffix.lower() in (".yaml", ".yml"),
                                   error=SweepSpecError)
    if not isinstance(data, dict):
        raise SweepSpecError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        lines = []
        errors = e.errors()
        for err in errors:
            if len(err["loc"]) > 2 and err["loc"][0] == "parameters" and err["type"] == "list_type" and any(
                    o is not err and o["loc"][:2] == err["loc"][:2] for o in errors):
                continue  # a Range was meant: its own error says more than "not a list"
            loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("function-after", "list[")))
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
            if loc and not msg.startswith(loc.split(".")[0]):
                msg = f"{loc}: {msg}"
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                msg = f"{loc}: unknown field; allowed: {sorted(SweepSpec.model_fields)}"
            lines.append(msg)
        raise SweepSpecError(f"{where}: " + "; ".join(lines)) from None
