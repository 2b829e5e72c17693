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
