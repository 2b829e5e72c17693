"""The calibration's parameter uncertainty (chemistry/uncertainty.py): draws, files, the shipped default."""

import numpy as np
import pytest

from chemistry import LarpParameters
from chemistry.errors import InvalidAmountError
from chemistry.uncertainty import (ParameterUncertainty, default_uncertainty, load_uncertainty, uncertainty_path)


def _unc():
    return ParameterUncertainty(names=["collapse_tau_min", "size_polarity"], mean=[np.log(400.0), 1.4],
                                cov=[[0.04, 0.01], [0.01, 0.01]], space=["log", "linear"],
                                lower=[200.0, 0.8], upper=[900.0, 2.5], discrepancy={"peak_nm": 3.5})


def test_samples_follow_the_covariance_in_the_fitted_space():
    unc = _unc()
    draws = unc.sample(LarpParameters.calibrated(), np.random.default_rng(1), 4000)
    x = np.array([[np.log(p.collapse_tau_min), p.size_polarity] for p in draws])
    assert np.allclose(x.mean(axis=0), unc.mean, atol=0.01)
    assert np.allclose(np.cov(x.T), unc.cov, atol=0.003)
    # parameters not in the uncertainty stay at the base value
    assert {p.reference_edge_nm for p in draws} == {LarpParameters.calibrated().reference_edge_nm}


def test_samples_reproducible_and_clipped_to_the_bounds():
    unc = ParameterUncertainty(names=["collapse_tau_min"], mean=[np.log(850.0)], cov=[[1.0]], space=["log"],
                               lower=[200.0], upper=[900.0])
    a = unc.sample(LarpParameters(), np.random.default_rng(5), 200)
    b = unc.sample(LarpParameters(), np.random.default_rng(5), 200)
    assert [p.collapse_tau_min for p in a] == [p.collapse_tau_min for p in b]
    assert max(p.collapse_tau_min for p in a) == 900.0 and min(p.collapse_tau_min for p in a) >= 200.0


def test_json_round_trip_and_file_beside_params(tmp_path):
    unc = _unc()
    params = tmp_path / "P.json"
    params.write_text(LarpParameters().model_dump_json())
    assert uncertainty_path(params) == tmp_path / "P.uncertainty.json"
    assert load_uncertainty(params).names == default_uncertainty().names  # nothing beside it yet
    unc.to_json(uncertainty_path(params))
    back = load_uncertainty(params)
    assert back.names == unc.names and back.space == unc.space
    assert np.array_equal(back.cov, unc.cov) and np.array_equal(back.upper, unc.upper)
    assert back.discrepancy == {"peak_nm": 3.5}


def test_bad_files_and_names_are_refused(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidAmountError, match="x.json"):
        ParameterUncertainty.from_json(bad)
    with pytest.raises(InvalidAmountError, match="no_such"):
        ParameterUncertainty(names=["no_such"], mean=[0.0], cov=[[1.0]])
    with pytest.raises(InvalidAmountError, match="space"):
        ParameterUncertainty(names=["size_polarity"], mean=[0.0], cov=[[1.0]], space=["exp"])


def test_shipped_uncertainty_is_centred_on_the_shipped_calibration():
    unc = default_uncertainty()
    cal = LarpParameters.calibrated()
    for name, value in unc.values.items():
        assert value == pytest.approx(getattr(cal, name), rel=1e-3), name
    assert np.all(np.linalg.eigvalsh(unc.cov) >= -1e-12)
    assert set(unc.discrepancy) == {"peak_nm", "fwhm_nm", "log10_height"}  # what the parameters do not carry
