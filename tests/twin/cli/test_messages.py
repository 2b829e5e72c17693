"""Every message a user meets on the command line (issues 15 and 16): one line naming the thing, what was seen and
what to do; no traceback; no file lost.  Each test asserts the words that matter, not just the exit code.

Groups of issue 16: 1 data loss, 2 tracebacks, 3 errors that blamed the wrong thing, 4 silent wrong results,
5 faults that never fired, 6 dead ends, 7 small lies.  Issue 15: the seven message cases.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import pandas as pd
import pytest

from twin.cli import main
from twin.messages import UserError

HEADER = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL"
SMALL = f"""{HEADER},group
A1,toluene,150,100,15,OAc,0.5,OLAm,0.05,acid-rich
A2,toluene,150,100,15,OAc,0.5,OLAm,1.0,amine-rich
A3,toluene,150,100,0,OAc,0,OLAm,0,blank
"""
FAST = ["--hours", "0.5", "--quiet", "--no-figures"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def plate(tmp_path):
    p = tmp_path / "plate.csv"
    p.write_text(SMALL)
    return p


def err_of(capsys) -> str:
    """stderr of the last command, checked to hold no traceback and exactly one error line."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "For further information" not in err and "site-packages" not in err
    errors = [ln for ln in err.splitlines() if re.match(r"larp-twin(?: [\w-]+)?: error", ln)]
    assert len(errors) == 1, err
    return errors[0]


def run(argv) -> int:
    return main([str(a) for a in argv])


# -- group 1: data loss -----------------------------------------------------------------------------------------
def test_run_into_a_folder_of_user_files_refuses_and_keeps_them(plate, tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "keep.txt").write_text("precious")
    assert run(["run", plate, "--out", d, *FAST]) == 2
    line = err_of(capsys)
    assert "--out" in line and "keep.txt" in line and "--overwrite" in line
    assert (d / "keep.txt").read_text() == "precious" and sorted(p.name for p in d.iterdir()) == ["keep.txt"]


def test_a_finished_run_is_replaced_and_overwrite_replaces_anything(plate, tmp_path, capsys):
    out = tmp_path / "r"
    assert run(["run", plate, "--out", out, *FAST]) == 0
    assert run(["run", plate, "--out", out, *FAST, "--seed", "4"]) == 0  # a finished run of `run`: replaced
    assert json.loads((out / "manifest.json").read_text())["seed"] == 4
    (out / "notes.txt").write_text("mine")  # a user's file inside a run: refused without --overwrite
    assert run(["run", plate, "--out", out, *FAST]) == 2
    assert "notes.txt" in err_of(capsys) and (out / "notes.txt").exists()
    assert run(["run", plate, "--out", out, *FAST, "--overwrite"]) == 0
    assert not (out / "notes.txt").exists() and (out / "manifest.json").exists()


@pytest.mark.parametrize("argv", [
    ["run", "{p}", "--out", "{d}", "--hours", "0.5"],
    ["fit", "{p}", "--out", "{d}"],
    ["sweep", "{s}", "--out", "{d}"],
    ["optimize", "--out", "{d}", "--plates", "1"],
    ["reproduce", "--out", "{d}"],
    ["shap", "{p}", "--target", "peak_nm", "--out", "{d}"],
])
def test_every_writing_command_refuses_a_folder_of_user_files(plate, tmp_path, capsys, argv):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "keep.txt").write_text("precious")
    spec = ROOT / "scenarios" / "data" / "example_sweep.yaml"
    assert run([a.format(p=plate, d=d, s=spec) for a in argv]) == 2
    line = err_of(capsys)
    assert f"--out '{d}' is not empty" in line and "keep.txt" in line and "--overwrite" in line
    assert sorted(p.name for p in d.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("out", ["", ".", ".."])
def test_the_working_directory_is_never_replaced(plate, tmp_path, capsys, monkeypatch, out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    monkeypatch.chdir(work)
    assert run(["run", plate, "--out", out, *FAST, "--overwrite"]) == 2
    assert "working directory" in err_of(capsys)
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plate.csv", "work"]  # no ..old-* left behind


def test_a_regular_file_is_never_replaced_by_a_run(plate, tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("data")
    assert run(["run", plate, "--out", f, *FAST, "--overwrite"]) == 2
    assert "is a file" in err_of(capsys) and f.read_text() == "data"


def test_outputs_get_the_users_umask_not_0700(plate, tmp_path):
    old = os.umask(0o022)
    try:
        assert run(["run", plate, "--out", tmp_path / "r", *FAST]) == 0
        assert run(["fit", tmp_path / "r" / "gen5_export.txt", "--out", tmp_path / "f"]) == 0
    finally:
        os.umask(old)
    for d in (tmp_path / "r", tmp_path / "f"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    assert stat.S_IMODE((tmp_path / "r" / "plate.csv").stat().st_mode) == 0o644


# -- group 2: tracebacks ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["run", "{d}", "--out", "{t}/o"], ["plate map", "is a directory", ".csv"]),
    (["fit", "{d}", "--out", "{t}/o"], ["is a directory", "Gen5 export file"]),
    (["inspect", "{d}"], ["is a directory", "Gen5 export file"]),
    (["sweep", "{d}", "--out", "{t}/o"], ["sweep spec", "is a directory"]),
    (["export-ot2", "{p}", "-o", "{d}"], ["-o/--out", "is a directory", "file to write"]),
    (["run", "{p}", "--out", "{p}/sub"], ["is a file", "nothing can be written under it"]),
    (["resume", "{p}"], ["is a file, not a run directory", "campaign.json"]),
])
def test_paths_of_the_wrong_kind_get_one_line(plate, tmp_path, capsys, argv, words):
    d = tmp_path / "somedir"
    d.mkdir()
    argv = [a.format(d=d, t=tmp_path, p=plate) for a in argv]
    assert run(argv + (["--quiet"] if argv[0] in ("run", "sweep") else [])) == 2
    line = err_of(capsys)
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "o").exists()


def test_durable_into_an_unfinished_run_says_resume(plate, tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "campaign.json").write_text("{}")
    (out / "journal.jsonl").write_text("")
    assert run(["run", plate, "--out", out, *FAST, "--durable"]) == 2
    line = err_of(capsys)
    assert "did not finish" in line and f"larp-twin resume {out}" in line


def test_a_dead_scheduler_is_refused_with_nothing_written(tmp_path, capsys):
    assert run(["sweep", ROOT / "scenarios" / "data" / "example_sweep.yaml", "--out", tmp_path / "s",
                "--scheduler", "tcp://127.0.0.1:1", "--quiet"]) == 2
    line = err_of(capsys)
    assert "--scheduler tcp://127.0.0.1:1" in line and "no Dask scheduler answers" in line
    assert not (tmp_path / "s").exists()


def test_a_silent_scheduler_is_given_seconds_not_dasks_30(monkeypatch):
    """A host that drops packets (no refusal) is waited for a few seconds only: the connect timeout is ours."""
    import socket

    from twin.cli.sweep import check_scheduler

    asked = {}

    def silent(address, timeout=None):
        asked.update(address=address, timeout=timeout)
        raise socket.timeout("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(UserError, match="no Dask scheduler answers there"):
        check_scheduler("tcp://10.255.255.1:8786")
    assert asked["address"] == ("10.255.255.1", 8786) and 0 < asked["timeout"] <= 5


def test_debug_shows_the_traceback(plate, tmp_path):
    with pytest.raises(Exception, match="is a directory"):
        main(["--debug", "run", str(tmp_path), "--out", str(tmp_path / "o")])
    with pytest.raises(Exception, match="is a directory"):
        main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--debug"])


# -- group 3: errors that blamed the wrong thing ------------------------------------------------------------------
def test_a_well_typo_is_blamed_not_a_volume(tmp_path, capsys):
    p = tmp_path / "typo.csv"
    p.write_text(SMALL.replace("A3,", "A13,"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert "row 3, column 'well': 'A13' is outside a 96-well plate" in line and "fix the well name" in line


def test_a_declared_plate_names_the_well_outside_it(tmp_path, capsys):
    p = tmp_path / "declared.csv"
    p.write_text("# plate_wells: 96\n" + SMALL.replace("A3,toluene,150", "A13,toluene,50"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    assert "'A13' is outside the 96-well plate (allowed A1..H12)" in err_of(capsys)


def test_wrong_field_count_is_reported_as_such(tmp_path, capsys):
    p = tmp_path / "ragged.csv"
    p.write_text(SMALL.replace("A2,toluene,150,", "A2,toluene,150,150,"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert "ragged.csv line 3 (row 2): 11 fields, the header has 10" in line


@pytest.mark.parametrize("label", ["read", "time_min", "dispensed_cs_uL", "blank"])
def test_reserved_label_columns_are_refused_by_name(tmp_path, capsys, label):
    p = tmp_path / "labels.csv"
    p.write_text(SMALL.replace(",group", f",{label}"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert f"column '{label}' is a name larp-twin writes itself" in line and "rename" in line


def test_an_empty_plate_is_refused_as_such(tmp_path, capsys):
    p = tmp_path / "zero.csv"
    p.write_text(f"{HEADER}\nA1,toluene,0,0,0,OAc,0,OLAm,0\n")
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    assert "no well holds anything" in err_of(capsys)


def test_seed_errors_name_the_option(plate, tmp_path, capsys):
    assert run(["run", plate, "--out", tmp_path / "o", *FAST, "--seed", "-1"]) == 2
    assert "--seed -1" in err_of(capsys)


# -- group 4: silent wrong results ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    (base / "plate.csv").write_text(SMALL)
    assert main(["run", str(base / "plate.csv"), "--out", str(base / "r"), "--hours", "1", "--quiet",
                 "--no-figures"]) == 0
    return base / "r"


def test_blanks_are_marked_in_plate_csv(small_run):
    plate = pd.read_csv(small_run / "plate.csv")
    assert plate.set_index("well")["blank"].to_dict() == {"A1": False, "A2": False, "A3": True}


def test_fit_says_it_assumes_every_min(small_run, tmp_path, capsys):
    export = tmp_path / "copied_off_the_gen5_pc.txt"
    export.write_bytes((small_run / "gen5_export.txt").read_bytes())
    assert run(["fit", export, "--out", tmp_path / "f"]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "holds no read times" in err and "--every-min" in err
    assert sorted(pd.read_csv(tmp_path / "f" / "features.csv")["time_min"].unique())[:2] == [0, 10]


def test_fit_does_not_hint_every_min_when_it_was_given(small_run, tmp_path, capsys):
    export = tmp_path / "copied_off_the_gen5_pc.txt"
    export.write_bytes((small_run / "gen5_export.txt").read_bytes())
    assert run(["fit", export, "--out", tmp_path / "f", "--every-min", "20"]) == 0
    assert "pass --every-min" not in capsys.readouterr().err
    assert sorted(pd.read_csv(tmp_path / "f" / "features.csv")["time_min"].unique())[:2] == [0, 20]


def test_fit_in_a_run_directory_gives_the_runs_time_min(small_run, tmp_path, capsys):
    assert run(["fit", small_run / "gen5_export.txt", "--out", tmp_path / "f"]) == 0
    assert "from the run beside the export" in capsys.readouterr().out
    fitted = pd.read_csv(tmp_path / "f" / "features.csv").set_index(["well", "read"])["time_min"]
    ran = pd.read_csv(small_run / "features.csv").set_index(["well", "read"])["time_min"]
    pd.testing.assert_series_equal(fitted.sort_index(), ran.sort_index(), check_exact=False, atol=1e-3)


def test_fit_takes_read_times_from_a_kinetic_export(small_run, tmp_path, capsys):
    raw = (small_run / "gen5_export.txt").read_bytes()
    kinetic = raw.replace(b"Eject plate on completion\r\n", b"Eject plate on completion\r\nStart Kinetic\tRuntime "
                          b"1:02:06 (HH:MM:SS), Interval 0:20:42, 4 Reads\r\n", 1)
    assert kinetic != raw
    (tmp_path / "k.txt").write_bytes(kinetic)
    assert run(["fit", tmp_path / "k.txt", "--out", tmp_path / "f", "--first-read-min", "3"]) == 0
    assert "holds no read times" not in capsys.readouterr().err
    f = pd.read_csv(tmp_path / "f" / "features.csv")
    assert sorted(f["time_min"].unique())[:3] == pytest.approx([3.0, 23.7, 44.4])


def test_protocol_volumes_print_rounded(plate, tmp_path):
    assert run(["export-ot2", plate, "-o", tmp_path / "p.py"]) == 0
    text = (tmp_path / "p.py").read_text()
    assert not re.search(r"\d\.\d{7,}", text), re.search(r"\d\.\d{7,}", text)


def test_export_ot2_refuses_to_replace_a_foreign_file(plate, tmp_path, capsys):
    f = tmp_path / "mine.py"
    f.write_text("print('my own protocol')\n")
    assert run(["export-ot2", plate, "-o", f]) == 2
    assert "already exists" in err_of(capsys) and f.read_text() == "print('my own protocol')\n"
    assert run(["export-ot2", plate, "-o", tmp_path / "p.py"]) == 0
    assert run(["export-ot2", plate, "-o", tmp_path / "p.py"]) == 0  # its own output: replaced


# -- group 5: faults that never fire ----------------------------------------------------------------------------
def test_faults_that_did_not_fire_are_reported(plate, tmp_path, capsys):
    f = tmp_path / "plan.yaml"
    f.write_text("faults:\n"
                 "  - {kind: reader_timeout, nth: 1}\n"
                 "  - {kind: tip_pickup, nth: 500}\n"
                 "  - {kind: well_skipped, well: A2, nth: 50}\n"
                 "  - {kind: temperature_excursion, at_s: 2000, duration_s: 5}\n")
    assert run(["run", plate, "--out", tmp_path / "f", *FAST, "--faults", f]) == 0
    out = capsys.readouterr().out
    assert "1 of 4 planned faults fired" in out
    assert "did not fire: tip_pickup (nth=500): the run had only" in out
    assert "did not fire: well_skipped (nth=50, well A2): the run had only 8 well_skipped opportunities (3 at A2)" in out
    assert "did not fire: temperature_excursion (at_s=2000): the incubator is checked before each read" in out
    m = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert len(m["faults"]["not_fired"]) == 3


def test_the_example_fault_plan_fires_every_fault(tmp_path, capsys):
    assert run(["run", "paper-toluene", "--out", tmp_path / "f", "--hours", "2", "--quiet", "--no-figures",
                "--faults", ROOT / "scenarios" / "data" / "example_faults.yaml"]) == 0
    out = capsys.readouterr().out
    assert "8 of 8 planned faults fired" in out and "did not fire" not in out


def test_faults_on_wells_not_on_the_plate_are_refused(plate, tmp_path, capsys):
    f = tmp_path / "z.yaml"
    f.write_text("faults:\n  - {kind: well_skipped, well: Z99, nth: 1}\n")
    assert run(["run", plate, "--out", tmp_path / "o", *FAST, "--faults", f]) == 2
    line = err_of(capsys)
    assert "z.yaml: fault 1 (well_skipped): well 'Z99' is not a filled well of the plate map" in line


# -- group 6: dead ends -----------------------------------------------------------------------------------------
def test_a_failed_durable_run_leaves_nothing_behind(plate, tmp_path, capsys):
    f = tmp_path / "jam.yaml"
    f.write_text("faults:\n  - {kind: tray_jam, nth: 1, times: 20}\n")
    out = tmp_path / "d"
    assert run(["run", plate, "--out", out, *FAST, "--durable", "--faults", f]) == 2
    assert "tray" in err_of(capsys)
    assert not out.exists()
    assert run(["run", plate, "--out", out, *FAST, "--durable"]) == 0  # nothing blocks the rerun


def test_a_rehearsed_crash_says_resume_and_resume_notes_warnings(plate, tmp_path, capsys):
    f = tmp_path / "crash.yaml"
    f.write_text("faults:\n  - {kind: crash, at_s: 3000}\n  - {kind: tip_pickup, nth: 900}\n")
    out = tmp_path / "d"
    assert run(["run", plate, "--out", out, "--hours", "1", "--every-min", "0.1", "--quiet", "--no-figures",
                "--durable", "--faults", f]) == 2
    assert "crashed the run" in (line := err_of(capsys)) and f"larp-twin resume {out}" in line
    assert run(["resume", out, "--quiet", "--no-figures"]) == 0
    captured = capsys.readouterr()
    assert "note: one scan of 3 wells takes" in captured.err
    assert "UserWarning" not in captured.err and ".py:" not in captured.err
    assert "did not fire: tip_pickup (nth=900)" in captured.out


# -- group 7: small lies ----------------------------------------------------------------------------------------
def test_wall_time_is_the_whole_commands(plate, tmp_path, capsys, monkeypatch):
    import twin.campaign

    real = twin.campaign.run_campaign

    def slow(*a, **k):
        time.sleep(0.5)  # time outside the simulation proper must show in the summary
        return real(*a, **k)

    monkeypatch.setattr(twin.campaign, "run_campaign", slow)
    assert run(["run", plate, "--out", tmp_path / "o", *FAST]) == 0
    wall = float(re.search(r"in ([\d.]+) wall s", capsys.readouterr().out).group(1))
    assert wall >= 0.5


def test_readme_never_fits_a_stale_run():
    runs = re.findall(r"larp-twin run \S+ --out (\S+)", (ROOT / "README.md").read_text())
    assert len(runs) == len(set(runs)), runs


# -- issue 15: the seven messages -------------------------------------------------------------------------------
def test_empty_plate_map_names_the_file(tmp_path, capsys):
    p = tmp_path / "empty.csv"
    p.write_text("")
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert f"plate map {p} is empty" in line and "header line" in line


def test_binary_plate_map_names_the_file(tmp_path, capsys):
    p = tmp_path / "binary.csv"
    p.write_bytes(b"\xff\x00\x13PK\x03\x04" * 50)
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert f"plate map {p} is not a text file" in line and "save it as CSV" in line


def test_windows_1252_plate_map_is_read_with_a_note(tmp_path, capsys):
    p = tmp_path / "latin.csv"
    p.write_bytes(SMALL.replace("acid-rich", "s\xe4urereich").encode("cp1252"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 0
    assert "not UTF-8" in capsys.readouterr().err
    assert "s\xe4urereich" in (tmp_path / "o" / "plate.csv").read_text()


def test_directory_as_plate_map(tmp_path, capsys):
    assert run(["run", tmp_path, "--out", tmp_path / "o", *FAST]) == 2
    assert f"plate map '{tmp_path}' is a directory" in err_of(capsys)


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_plate_maps_are_read_with_a_note(tmp_path, capsys, sep, name):
    text = SMALL.replace(",", sep)
    if sep == ";":
        text = text.replace("0.5", "0,5").replace("0.05", "0,05")  # Excel in much of Europe: decimal commas
    p = tmp_path / "excel.csv"
    p.write_text(text)
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 0
    assert f"read as {name}-separated" in capsys.readouterr().err
    plate = pd.read_csv(tmp_path / "o" / "plate.csv")
    assert plate["acid_uL"].tolist()[:2] == [0.5, 0.5] and plate["amine_uL"].tolist()[0] == 0.05


def test_semicolon_plate_map_missing_a_column_gets_the_separator_hint(tmp_path, capsys):
    p = tmp_path / "semi.csv"
    p.write_text("well;antisolvent;cs_uL\nA1;toluene;100\n")
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert "missing column(s)" in line and "semicolon" in line


@pytest.mark.parametrize("option, value, words", [
    ("--hours", "-1", "--hours -1: input should be greater than 0"),
    ("--every-min", "-5", "--every-min -5: input should be greater than or equal to 0"),
    ("--hours", "1000", "--hours 1000: input should be less than or equal to 168"),
])
def test_schedule_options_get_one_line_naming_the_option(plate, tmp_path, capsys, option, value, words):
    assert run(["run", plate, "--out", tmp_path / "o", "--quiet", option, value]) == 2
    line = err_of(capsys)
    assert words in line and "allowed" in line and "pydantic" not in line


def test_a_ligand_below_the_pipettes_says_which_and_what_to_do(tmp_path, capsys):
    p = tmp_path / "tiny.csv"
    p.write_text(SMALL.replace("0.5,OLAm,0.05", "0.5,OLAm,0.00005"))
    assert run(["run", p, "--out", tmp_path / "o", *FAST]) == 2
    line = err_of(capsys)
    assert "well(s) A1: amine_uL (OLAm) = 5e-05 uL per well is below what the pipettes can measure" in line
    assert "raise OLAm to >=" in line and "diluted ligand stock" in line


def test_internal_errors_are_one_line_and_exit_1(plate, tmp_path, capsys, monkeypatch):
    import twin.campaign

    def broken(*a, **k):
        raise TypeError("boom")

    monkeypatch.setattr(twin.campaign, "run_campaign", broken)
    assert run(["run", plate, "--out", tmp_path / "o", *FAST]) == 1
    line = err_of(capsys)
    assert "internal error (TypeError: boom)" in line and "--debug" in line
