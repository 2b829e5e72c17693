"""``larp-twin run PLATE --gen5-folder DIR``: the reader side of a lab run from the command line (Gen5 folder mode).

The folder is pre-filled with Gen5 exports copied with old modification times (complete at once), as a rehearsal
with ``--include-existing`` would find them; the reads must be the exports' counts, one per read, in order.
"""

import json
import os
import time

import numpy as np
import pytest

from instruments.cytation.gen5 import write_gen5_spectra
from twin.cli import main
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR

PLATE = """well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL,group
A1,toluene,150,100,15,OAc,0.5,OLAm,0.05,a
A2,toluene,150,100,15,OAc,0.5,OLAm,1.0,b
"""
WELLS = ["A1", "A2"]
WL = np.arange(400.0, 651.0, 2.0)  # the default schedule's emission scan
#: 4 reads planned: 0, 10, 20 and 30 min
SCHEDULE = ["--hours", "0.5", "--every-min", "10"]


def counts(k: int) -> np.ndarray:
    peak = 500.0 + 5.0 * k
    return np.round(1e4 * (1.0 + np.arange(len(WELLS)))[:, None] * np.exp(-0.5 * ((WL - peak) / 20.0) ** 2))


def fill(folder, n: int) -> None:
    """Gen5's exports of the first ``n`` reads, with old times so they count as complete at once."""
    folder.mkdir(exist_ok=True)
    for k in range(n):
        path = write_gen5_spectra(folder / f"read_{k + 1:03d}.txt", WELLS, WL, counts(k), excitation_nm=365, gain=100)
        os.utime(path, (time.time() - 600 + k,) * 2)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A working folder with the plate map and an (empty) export folder; cwd is it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plate.csv").write_text(PLATE)
    (tmp_path / "exports").mkdir()
    return tmp_path


def run(*extra) -> int:
    return main(["run", "plate.csv", "--gen5-folder", "exports", "--no-figures", *SCHEDULE, *extra])


def test_a_folder_of_exports_is_a_run_with_the_usual_files(lab, capsys):
    fill(lab / "exports", 4)
    assert run("--out", "lab_watch", "--include-existing", "--reader-timeout-s", "5") == 0
    out = capsys.readouterr().out
    assert [f"read {k} taken (read_00{k}.txt)" for k in range(1, 5)] == \
        [line for line in out.splitlines() if line.startswith("read ")]
    assert "-> lab_watch" in out
    m = json.loads((lab / "lab_watch" / "manifest.json").read_text())
    assert m["reads"] == 4 and m["backends"]["reader"] == "gen5-folder" and "ended_early" not in m
    for name in ("spectra.parquet", "features.csv", "plate.csv", "gen5_export.txt", "manifest.json"):
        assert (lab / "lab_watch" / name).is_file(), name
    import pandas as pd

    spectra = pd.read_parquet(lab / "lab_watch" / "spectra.parquet").sort_values(["read", "well", "wavelength_nm"])
    np.testing.assert_array_equal(spectra["intensity"].to_numpy(), np.concatenate([counts(k).ravel() for k in range(4)]))


def test_quiet_prints_no_read_lines(lab, capsys):
    fill(lab / "exports", 4)
    assert run("--out", "lab_watch", "--include-existing", "--quiet") == 0
    assert "taken" not in capsys.readouterr().out


def test_a_gen5_run_that_stops_early_keeps_its_reads_and_exits_3(lab, capsys):
    fill(lab / "exports", 2)
    assert run("--out", "lab_watch", "--include-existing", "--reader-timeout-s", "0.3") == 3
    captured = capsys.readouterr()
    assert "read 2 taken" in captured.out and "read 3 taken" not in captured.out
    lines = captured.err.strip().splitlines()
    err = [line for line in lines if not line.startswith("note: gen5-folder: ")]  # notes naming the files it met
    assert len(err) == 1 and err[0].startswith("larp-twin: error: ")
    assert "exports" in err[0] and "kept 2 of 4 planned reads" in err[0] and "lab_watch" in err[0]
    m = json.loads((lab / "lab_watch" / "manifest.json").read_text())
    assert m["reads"] == 2 and m["ended_early"]["planned_reads"] == 4


def test_a_durable_run_that_stops_early_keeps_its_reads_even_over_a_previous_run(lab, capsys):
    """--overwrite moves the previous run aside; an early end must keep the new reads, not put the old run back."""
    fill(lab / "exports", 4)
    assert run("--out", "lab_run", "--include-existing", "--durable", "--quiet") == 0
    for p in (lab / "exports").iterdir():
        p.unlink()
    fill(lab / "exports", 1)
    assert run("--out", "lab_run", "--include-existing", "--durable", "--quiet", "--overwrite",
               "--reader-timeout-s", "0.3") == 3
    assert "larp-twin resume lab_run" in capsys.readouterr().err
    m = json.loads((lab / "lab_run" / RESULTS_DIR / "manifest.json").read_text())
    assert m["reads"] == 1 and m["ended_early"]["reads"] == 1
    assert (lab / "lab_run" / JOURNAL_FILE).is_file()


def test_serve_monitors_a_gen5_folder_run(lab, capsys, monkeypatch):
    """--serve with --gen5-folder: the monitor serves the durable run's journal while Gen5's reads arrive."""
    import twin.cli.run
    from twin.monitor.source import RunSource

    served = {}

    def look_then_stop(server):  # the CLI serves until Ctrl-C after the run: look at the run, then stop
        import urllib.request

        served["reads"] = RunSource(lab / "lab_run").view().n_reads
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=10) as page:
            served["status"] = page.status
        server.shutdown()

    monkeypatch.setattr(twin.cli.run, "_serve_until_ctrl_c", look_then_stop)
    fill(lab / "exports", 4)
    assert run("--out", "lab_run", "--include-existing", "--serve", "--port", "0") == 0
    out = capsys.readouterr().out
    assert "monitor of lab_run: http://127.0.0.1:" in out and "read 4 taken" in out and "still serving" in out
    assert served == {"reads": 4, "status": 200} and (lab / "lab_run" / JOURNAL_FILE).is_file()


@pytest.mark.parametrize("argv, says", [
    (["--gen5-folder", "nowhere"], "--gen5-folder 'nowhere' does not exist"),
    (["--gen5-folder", "plate.csv"], "--gen5-folder 'plate.csv' is a file"),
    (["--gen5-folder", ""], "--gen5-folder '' is empty"),
    (["--include-existing"], "--include-existing needs --gen5-folder"),
    (["--reader-timeout-s", "10"], "--reader-timeout-s needs --gen5-folder"),
    (["--gen5-folder", "exports", "--reader-timeout-s", "0"], "--reader-timeout-s 0: allowed"),
    (["--gen5-folder", "exports", "--reader-timeout-s", "-3"], "--reader-timeout-s -3: allowed"),
    (["--gen5-folder", "exports", "--reader-timeout-s", "nan"], "--reader-timeout-s nan: allowed"),
    (["--gen5-folder", "exports", "--faults", "plan.yaml"], "drop --faults"),
])
def test_option_errors_are_one_line_and_exit_2_before_any_work(lab, capsys, argv, says):
    (lab / "plan.yaml").write_text("faults:\n  - {kind: reader_timeout, nth: 1}\n")
    assert main(["run", "plate.csv", "--out", "out", "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("larp-twin: error: ") and says in err[0], err
    assert not (lab / "out").exists()


def test_the_help_gives_labconfigs_default_timeout(capsys):
    from twin.config import LabConfig

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    default = LabConfig.model_fields["reader_timeout_s"].default
    assert f"(default {default:g})" in " ".join(capsys.readouterr().out.split())
