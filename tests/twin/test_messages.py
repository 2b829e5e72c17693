"""The one formatter (``twin.messages``): what each kind of exception and warning looks like to a user."""

from __future__ import annotations

import warnings

import pytest
from pydantic import BaseModel, Field, ValidationError

from twin.messages import UserError, describe, error_line, is_user_error, notes_for_warnings


class _Sched(BaseModel):
    hours: float = Field(12, gt=0, le=168)


def test_validation_errors_name_the_option_and_value_without_url():
    with pytest.raises(ValidationError) as info:
        _Sched(hours=-1)
    text = describe(info.value)
    assert text == "--hours -1: input should be greater than 0"


def test_os_errors_name_the_path_and_what_to_do(tmp_path):
    with pytest.raises(OSError) as info:
        open(tmp_path)  # a directory
    assert describe(info.value) == f"{tmp_path}: is a directory; give a file"
    with pytest.raises(OSError) as info:
        open(tmp_path / "nope.csv")
    assert describe(info.value) == f"{tmp_path / 'nope.csv'}: no such file or directory; check the path"


def test_notes_on_exceptions_are_part_of_the_line():
    e = UserError("the reader went away")
    e.add_note("continue with `larp-twin resume RUN`")
    assert error_line(e) == "larp-twin: error: the reader went away; continue with `larp-twin resume RUN`"


def test_bugs_and_user_errors_are_told_apart():
    assert is_user_error(UserError("x")) and is_user_error(FileNotFoundError(2, "x", "f"))
    assert not is_user_error(TypeError("x")) and not is_user_error(KeyError("schedule"))
    assert "internal error (TypeError: boom)" in error_line(TypeError("boom"))


def test_user_warnings_become_notes_once_and_library_deprecations_stay_silent(capsys):
    with notes_for_warnings():
        for _ in range(3):
            warnings.warn("one scan takes longer than every_min")
        warnings.warn("old API", DeprecationWarning)
        warnings.warn("will change", FutureWarning)
    err = capsys.readouterr().err
    assert err == "note: one scan takes longer than every_min\n"


def test_a_bare_value_error_is_a_bug_but_ours_and_pydantics_are_the_users():
    import numpy as np

    from chemistry.errors import InvalidAmountError
    from instruments.errors import UsageError
    from twin.platemap import PlateMapError

    with pytest.raises(ValueError) as info:
        np.ones(3).reshape(2, 2)  # what a bug inside the package raises
    assert not is_user_error(info.value)
    assert error_line(info.value).startswith("larp-twin: error: internal error (ValueError: cannot reshape")
    for ours in (PlateMapError("x"), InvalidAmountError("x"), UsageError("x"), UserError("x")):
        assert is_user_error(ours), type(ours).__name__
    with pytest.raises(ValidationError) as vinfo:
        _Sched(hours=0)
    assert is_user_error(vinfo.value)


def test_reading_names_the_damaged_file(tmp_path):
    import json

    from twin.messages import reading

    bad = tmp_path / "manifest.json"
    bad.write_text('{"seed": 1, "sche')
    with pytest.raises(UserError) as info:
        with reading(bad, "larp-twin manifest (JSON)"):
            json.loads(bad.read_text())
    assert is_user_error(info.value)
    assert describe(info.value).startswith(f"{bad}: damaged or not a larp-twin manifest (JSON) (Unterminated string")
    with pytest.raises(TypeError):  # anything but a parse error passes through unchanged
        with reading(bad):
            raise TypeError("a bug")
