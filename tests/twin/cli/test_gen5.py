"""larp-twin export-gen5 (run directory -> Gen5 export) and inspect (any Gen5 export)."""

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from instruments.cytation.gen5 import read_gen5_spectra
from twin.cli import main
from twin.cli.gen5 import add_cli, run_spectra

DATA = Path(__file__).parents[2] / "data"


def cli(argv) -> int:
    """The two sub-commands as ``larp-twin`` registers them (``add_cli`` on its sub-parsers)."""
    parser = argparse.ArgumentParser(prog="larp-twin")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen5cli") / "run"
    assert main(["run", "paper-toluene", "--out", str(out), "--hours", "0.5", "--no-figures", "--quiet"]) == 0
    return out


def test_tab_export_of_a_run_directory_is_the_runs_own_gen5_export(run_dir, tmp_path, capsys):
    out = tmp_path / "again.txt"
    assert cli(["export-gen5", str(run_dir), "--layout", "tab", "-o", str(out)]) == 0
    assert out.read_bytes() == (run_dir / "gen5_export.txt").read_bytes()
    assert str(out) in capsys.readouterr().out


def test_csv_export_reads_back_to_the_runs_spectra(run_dir, tmp_path):
    out = tmp_path / "lab.csv"
    assert cli(["export-gen5", str(run_dir), "--layout", "csv", "-o", str(out)]) == 0
    wells, wl, counts, manifest = run_spectra(run_dir)
    g = read_gen5_spectra(out)
    assert g.wells == sorted(wells, key=lambda w: (w[0], int(w[1:]))) and g.n_reads == manifest["reads"]
    np.testing.assert_array_equal(g.counts, counts[:, [wells.index(w) for w in g.wells]])
    assert g.metadata["Reading Type"] == "Simulation" and g.procedure["excitation_nm"] == 365
    lines = [ln.rstrip(",") for ln in out.read_bytes().decode("cp1252").split("\r\n")]
    assert lines[lines.index("Read 1:EM Spectrum") + 2].startswith(",Wavelength,A1,")


def notebook_read(path) -> dict[str, pd.DataFrame]:
    """The lab's notebook logic (``docs/cytation_facts.md`` 2.8): ``pd.read_csv(path, header=None)``, ``OVRFLW`` -> NaN,
    a section from each row whose first cell is ``Read N:EM Spectrum`` / ``Read N:Spectrum`` to the next one or
    ``Results``; rows start + 2 .. next - 1 are the header and data rows; column 0 empty, column 1 ``Wavelength``,
    wells from column 2. Returns {section title: DataFrame indexed by wavelength, one column per well}."""
    raw = pd.read_csv(path, header=None)
    raw = raw.replace("OVRFLW", np.nan)
    first = [c if isinstance(c, str) else "" for c in raw[0]]  # NaN for empty cells
    starts = [i for i, c in enumerate(first) if re.fullmatch(r"Read \d+:(EM )?Spectrum", c)]
    ends = starts[1:] + [first.index("Results")]
    out = {}
    for start, end in zip(starts, ends):
        block = raw.iloc[start + 2:end - 1]
        df = block.iloc[1:].copy()
        df.columns = block.iloc[0].tolist()
        df = df.drop(columns=df.columns[0]).dropna(axis=1, how="all")  # the empty first column
        df = df.astype(float)
        out[first[start]] = df.set_index("Wavelength")
    return out


def test_csv_export_parses_with_the_labs_notebook_code_to_spectra_parquet(run_dir, tmp_path):
    out = tmp_path / "lab.csv"
    assert cli(["export-gen5", str(run_dir), "--layout", "csv", "-o", str(out)]) == 0
    sections = notebook_read(out)
    spectra = pd.read_parquet(run_dir / "spectra.parquet")
    reads = sorted(spectra["read"].unique())
    assert list(sections) == [f"Read {k}:EM Spectrum" for k in range(1, len(reads) + 1)] and len(reads) == 5
    for (title, table), read in zip(sections.items(), reads):
        expected = (spectra[spectra["read"] == read].assign(well=lambda d: d["well"].astype(str))
                    .pivot(index="wavelength_nm", columns="well", values="intensity"))
        assert table.shape == (126, 40) == expected.shape, title  # the lab's (n_wl, 2 + 40) minus two columns
        np.testing.assert_array_equal(table.index.to_numpy(), expected.index.to_numpy())
        np.testing.assert_array_equal(table.to_numpy(), expected[table.columns].to_numpy())


def test_plain_string_wells_and_incomplete_grids(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    df = pd.read_parquet(copy / "spectra.parquet")
    df.assign(well=df["well"].astype(str)).to_parquet(copy / "spectra.parquet")
    assert cli(["export-gen5", str(copy), "-o", str(tmp_path / "s.txt")]) == 0
    assert (tmp_path / "s.txt").read_bytes() == (run_dir / "gen5_export.txt").read_bytes()
    df.iloc[1:].to_parquet(copy / "spectra.parquet")
    with pytest.raises(ValueError, match="do not fill the 5 reads x 40 wells x 126 wavelengths grid"):
        cli(["export-gen5", str(copy), "-o", str(tmp_path / "x.txt")])
    (copy / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        cli(["export-gen5", str(copy), "-o", str(tmp_path / "x.txt")])


def test_inspect_of_the_twins_export(run_dir, capsys):
    assert cli(["inspect", str(run_dir / "gen5_export.txt")]) == 0
    out = capsys.readouterr().out
    for text in ["reader: Cytation5 serial Unknown, Gen5 3.12.08, Simulation", "read type: Fluorescence Spectrum x5",
                 "wells: 40 (A1..D10)", "wavelengths: ex 365 nm, em 400-650 nm (126 points)", "reads: 5",
                 "time span: n/a", "overflow (OVRFLW): 0"]:
        assert text in out, text


@pytest.mark.parametrize("name, expected", [
    ("gen5_abs_kinetic_h1.txt", {"read_types": ["Absorbance Endpoint"], "kinds": ["kinetic"], "reads": 6,
                                 "wavelengths": "450 nm", "overflow": 0}),
    ("gen5_abs_endpoint_platemap_ovrflw_missed.txt", {"kinds": ["endpoint"], "reads": 1, "overflow": 8, "missed": 5,
                                                      "time_span": None}),
    ("gen5_fl_endpoint_platemap_h1.txt", {"datasets": ["485,528", "610,650"], "reads": 1}),
    ("gen5_abs_spectrum_h1_ovrflw.txt", {"read_types": ["Absorbance Spectrum"], "overflow": 1, "reads": 1,
                                         "wavelengths": "300-320 nm (3 points)"}),
    ("gen5_em_spectrum_neo2.txt", {"reader_type": "Synergy Neo2", "wells": ["A1"], "overflow": 1}),
])
def test_inspect_json_of_every_real_layout(name, expected, capsys):
    assert cli(["inspect", str(DATA / name), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["software_version"] == "3.12.08" and summary["reader_serial"] == "Unknown"
    assert {k: summary[k] for k in expected} == expected
    if name == "gen5_abs_kinetic_h1.txt":
        assert summary["time_span"] == {"first_s": 0.0, "last_s": 300.0, "text": "0:00:00-0:05:00 (5 min)"}
        assert len(summary["wells"]) == 96


def test_export_of_a_run_with_absorbance_reads_keeps_them_in_time_order(tmp_path):
    run = tmp_path / "abs"
    assert main(["run", "paper-chloroform-abs", "--out", str(run), "--hours", "0.4", "--no-figures", "--quiet"]) == 0
    out = tmp_path / "again.txt"
    assert cli(["export-gen5", str(run), "-o", str(out)]) == 0
    text = out.read_text(encoding="cp1252")
    titles = re.findall(r"^Read \d+:(?:EM )?Spectrum", text, re.M)
    assert len(titles) >= 4 and titles[:2] == ["Read 1:Spectrum", "Read 2:EM Spectrum"]  # absorbance, then PL
    assert out.read_bytes() == (run / "gen5_export.txt").read_bytes()  # one writer: the run's own export


def test_fit_takes_read_times_from_the_exports_kinetic_loop(run_dir, tmp_path, capsys):
    # away from its run directory, the export's own procedure is the only source of read times
    text = (run_dir / "gen5_export.txt").read_bytes().replace(
        b"Eject plate on completion", b"Start Kinetic\tRuntime 0:45:00 (HH:MM:SS), Interval 0:15:00, 4 Reads")
    export = tmp_path / "lab.txt"
    export.write_bytes(text)
    assert main(["fit", str(export), "--out", str(tmp_path / "fit"), "--every-min", "10"]) == 0
    assert "its kinetic loop reads every 15 min; using that, not --every-min 10" in capsys.readouterr().err
    f = pd.read_csv(tmp_path / "fit" / "features.csv")
    n_reads = f["read"].nunique()
    assert n_reads >= 3 and sorted(f["time_min"].unique()) == [15.0 * k for k in range(n_reads)]
