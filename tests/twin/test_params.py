"""--params: a LarpParameters JSON drives the reader twin's chemistry and the manifest records it."""

import json
import re

import pandas as pd
import pytest

from chemistry.parameters import LarpParameters
from twin.cli import main
from twin.config import LabConfig
from twin.params import BUILT_IN, ParamsError, load_params, params_record

PLATE = """well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL
A1,toluene,150,100,15,OAc,0.5,OLAm,0.05
A2,chloroform,150,100,15,OAc,0.5,OLAm,0.5
"""
SHIFTED = "bulk_emission_eV"  # a field whose change moves every peak


@pytest.fixture()
def plate_csv(tmp_path):
    p = tmp_path / "plate.csv"
    p.write_text(PLATE)
    return p


def _params_file(tmp_path, **changes):
    values = LarpParameters.calibrated().model_dump(mode="json")
    values.update(changes)
    p = tmp_path / "params.json"
    p.write_text(json.dumps(values))
    return p


def test_load_params_round_trips_every_field_without_naming_them(tmp_path):
    p = _params_file(tmp_path)
    assert load_params(p) == LarpParameters.calibrated()


def test_run_with_params_changes_the_spectra_and_records_the_file(plate_csv, tmp_path, capsys):
    assert SHIFTED in LarpParameters.model_fields  # renamed? pick another field that moves every peak
    base = LarpParameters.calibrated().model_dump()[SHIFTED]
    params = _params_file(tmp_path, **{SHIFTED: base + 0.05})
    args = ["run", str(plate_csv), "--hours", "0.3", "--quiet", "--no-figures"]
    assert main(args + ["--out", str(tmp_path / "default")]) == 0
    assert main(args + ["--out", str(tmp_path / "tuned"), "--params", str(params)]) == 0
    m0 = json.loads((tmp_path / "default" / "manifest.json").read_text())
    m1 = json.loads((tmp_path / "tuned" / "manifest.json").read_text())
    assert m0["chemistry"]["source"] == BUILT_IN
    assert m1["chemistry"]["source"] == str(params)
    assert m1["chemistry"]["parameters"][SHIFTED] == pytest.approx(base + 0.05)
    assert m0["chemistry"]["sha256"] != m1["chemistry"]["sha256"]
    f0 = pd.read_csv(tmp_path / "default" / "features.csv")
    f1 = pd.read_csv(tmp_path / "tuned" / "features.csv")
    assert (f1.peak_nm - f0.peak_nm).median() < -5  # a wider bulk gap: bluer peaks


@pytest.mark.parametrize("content, match", [
    ('{"no_such_parameter": 1.0}', r"field 'no_such_parameter': not a LarpParameters field"),
    ("{not json", r"not valid JSON"),
    ('{"%s": "warm"}' % SHIFTED, r"field '%s'.*'warm'" % SHIFTED),
])
def test_a_bad_parameter_file_is_a_clear_error_naming_file_and_field(plate_csv, tmp_path, capsys, content, match):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ParamsError, match=match):
        load_params(bad)
    assert main(["run", str(plate_csv), "--out", str(tmp_path / "o"), "--params", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("larp-twin: error: ") and len(err.strip().splitlines()) == 1
    assert "bad.json" in err and re.search(match, err) and not (tmp_path / "o").exists()


def test_missing_parameter_file(plate_csv, tmp_path, capsys):
    assert main(["run", str(plate_csv), "--out", str(tmp_path / "o"), "--params", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such file" in capsys.readouterr().err


def test_labconfig_takes_a_path_or_an_object(tmp_path):
    p = _params_file(tmp_path)
    lab = LabConfig(chemistry=str(p))
    assert lab.chemistry == LarpParameters.calibrated() and lab.chemistry_source == str(p)
    assert LabConfig.model_validate(lab.model_dump(mode="json")).chemistry == lab.chemistry  # journaled runs resume
    assert params_record(None)["source"] == BUILT_IN
    assert params_record(lab.chemistry, lab.chemistry_source)["sha256"] == params_record(None)["sha256"]
