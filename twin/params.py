"""Chemistry parameter files: load a ``LarpParameters`` JSON (what ``larp-twin calibrate`` writes) and say which
parameters a run used.

The file is ``chemistry.parameters.LarpParameters`` as JSON (or YAML): every field the model has, now or later, is
accepted and none is named here. A file that gives only some fields changes those and keeps the built-in
calibration (``LarpParameters.calibrated()``) for the rest; without a file the built-in calibration is used. ``LabConfig.chemistry`` holds the parameters of a campaign (an object, or
the path of such a file); ``larp-twin run --params FILE`` sets it; the manifest records them (``params_record``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import ValidationError

from chemistry.parameters import LarpParameters

BUILT_IN = "built-in calibration (LarpParameters.calibrated())"


class ParamsError(ValueError):
    """A parameter file that cannot be used; the message names the file and the bad field."""


def load_params(path) -> LarpParameters:
    """The ``LarpParameters`` of a JSON/YAML file (missing fields: the built-in calibration); raises
    FileNotFoundError or ParamsError naming the file and the field."""
    from instruments.input_files import load_structured

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"chemistry parameter file {p}: no such file")
    # the one bounded YAML/JSON loader: a regular file, size, nesting and alias expansion checked before building
    data = load_structured(p, "chemistry parameter file", yaml_ok=p.suffix.lower() in (".yaml", ".yml"),
                           error=ParamsError)
    if not isinstance(data, dict):
        raise ParamsError(f"chemistry parameter file {p}: expected an object of LarpParameters fields, got "
                          f"{type(data).__name__}")
    try:
        return LarpParameters.model_validate({**LarpParameters.calibrated().model_dump(), **data})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(x) for x in err["loc"]) or "(the file)"
            if err["type"] == "extra_forbidden":
                problems.append(f"field {field!r}: not a LarpParameters field")
            elif err["type"] == "json_invalid":
                problems.append(f"not valid JSON ({err['msg']})")
            else:
                value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
                problems.append(f"field {field!r}: {err['msg']}{value}")
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ParamsError(f"chemistry parameter file {p}: {'; '.join(problems[:3])}{more}; expected a "
                          f"LarpParameters JSON object (as `larp-twin calibrate` writes)") from None


def params_record(params: LarpParameters | None, source: str | None = None) -> dict:
    """What the manifest says about the chemistry: where the parameters came from, a digest and every value."""
    effective = params if params is not None else LarpParameters.calibrated()
    values = effective.model_dump(mode="json")
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    if params is None:
        where = BUILT_IN
    else:
        where = source or "LabConfig.chemistry (given in Python)"
    return {"source": where, "sha256": hashlib.sha256(text.encode()).hexdigest(), "parameters": values}
