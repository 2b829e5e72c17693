"""The output policy (``twin.outdir``) on its own: what is accepted, what is refused, and atomicity on failure."""

from __future__ import annotations

import json
import os
import stat

import pytest

from twin import outdir
from twin.messages import UserError


def _names(d):
    return sorted(p.name for p in d.iterdir())


def test_new_and_empty_targets_are_accepted(tmp_path):
    assert outdir.check_target(tmp_path / "new" / "deeper", "run") == tmp_path / "new" / "deeper"
    (tmp_path / "empty").mkdir()
    assert outdir.check_target(tmp_path / "empty", "run") == tmp_path / "empty"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_own_finished_output_is_accepted_other_commands_are_refused(tmp_path):
    out = tmp_path / "o"
    with outdir.atomic_dir(out, command="fit") as tmp:
        (tmp / "features.csv").write_text("x\n")
    assert json.loads((out / outdir.MARKER).read_text()) == {"command": "fit", "files": ["features.csv"]}
    outdir.check_target(out, "fit")
    with pytest.raises(UserError, match=r"a `larp-twin fit` output\) and is not a finished `larp-twin run` output"):
        outdir.check_target(out, "run")
    (out / "mine.txt").write_text("user")
    with pytest.raises(UserError, match="also mine.txt, which larp-twin did not write"):
        outdir.check_target(out, "fit")
    outdir.check_target(out, "fit", overwrite=True)


def test_a_run_written_before_the_marker_is_recognised_by_its_manifest(tmp_path):
    out = tmp_path / "legacy"
    out.mkdir()
    (out / "plate.csv").write_text("x")
    (out / "manifest.json").write_text(json.dumps({"scenario": "s", "files": ["plate.csv", "manifest.json"]}))
    outdir.check_target(out, "run")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="notes.txt"):
        outdir.check_target(out, "run")


def test_file_targets(tmp_path):
    f = tmp_path / "p.py"
    f.write_text("# exported from the larp-twin twin\n")
    outdir.check_target(f, "export-ot2", kind="file", own_file=lambda head: b"larp-twin" in head)
    with pytest.raises(UserError, match="already exists and is not a `larp-twin export-gen5` output"):
        outdir.check_target(f, "export-gen5", kind="file", own_file=lambda head: False)
    outdir.check_target(f, "export-gen5", kind="file", overwrite=True)
    with pytest.raises(UserError, match="is a directory"):
        outdir.check_target(tmp_path, "export-ot2", kind="file", overwrite=True)


def test_atomic_dir_keeps_the_previous_output_when_the_work_fails(tmp_path):
    out = tmp_path / "o"
    with outdir.atomic_dir(out, command="fit") as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with outdir.atomic_dir(out, command="fit") as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("the work failed")
    assert (out / "a.txt").read_text() == "first"
    assert _names(tmp_path) == ["o"]  # no .partial- or .old- directory left


def test_atomic_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with outdir.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("x")
        with outdir.atomic_file(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o640


def test_replacing_puts_the_old_directory_back_when_the_work_fails(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with outdir.replacing(out, overwrite=True):
            assert not out.exists()
            out.mkdir()
            (out / "half.txt").write_text("half")
            raise RuntimeError("crash")
    assert _names(out) == ["old.txt"] and _names(tmp_path) == ["sweep"]
    with outdir.replacing(out, overwrite=True):
        out.mkdir()
        (out / "new.txt").write_text("new")
    assert _names(out) == ["new.txt"] and _names(tmp_path) == ["sweep"]


def test_the_working_directory_and_home_are_never_targets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target in ("", ".", "..", str(tmp_path)):
        with pytest.raises(UserError, match="working directory"):
            outdir.check_target(target, "run", overwrite=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(UserError, match="home directory"):
        outdir.check_target(tmp_path / "home", "run", overwrite=True)
