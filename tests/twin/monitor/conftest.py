"""Shared run directories for the monitor tests (made once per session: a few seconds of twin time)."""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[3]


def _durable(out: Path, faults: str | None, hours: float = 3.0) -> Path:
    from scenarios import build_campaign
    from twin.config import Schedule
    from twin.records.resume import run_durable

    campaign = build_campaign("paper-toluene", schedule=Schedule(hours=hours))
    if faults:
        from twin.faults import FaultPlan

        campaign = campaign.model_copy(update={"faults": FaultPlan.load(ROOT / faults)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_durable(campaign, out, seed=0, figures=False, progress=False)
    return out


@pytest.fixture(scope="session")
def faulty_run(tmp_path_factory) -> Path:
    return _durable(tmp_path_factory.mktemp("mon") / "faulty", "scenarios/data/forecast_faults.yaml")


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory) -> Path:
    return _durable(tmp_path_factory.mktemp("mon") / "clean", None)


@pytest.fixture
def copy_run(tmp_path, faulty_run):
    """A private copy of the faulty run (tests may damage it)."""
    def make(name="run") -> Path:
        dst = tmp_path / name
        shutil.copytree(faulty_run, dst)
        return dst
    return make
