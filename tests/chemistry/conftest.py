"""Shared helpers for the chemistry tests: the calibrated model and spectrum features on a fine grid."""

from __future__ import annotations

import numpy as np
import pytest

from chemistry import LarpModel, spectral_features, standard_recipes

GRID_NM = np.arange(400.0, 651.0, 1.0)
READ_TIMES_MIN = np.arange(0.0, 721.0, 10.0)  # the paper's schedule: every ~10 min for ~12 h
RATIOS = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0])


@pytest.fixture(scope="session")
def model() -> LarpModel:
    return LarpModel()


class Series:
    """Features of a standard-well series over the read schedule: arrays (n_ratios, n_times)."""

    def __init__(self, model, antisolvent="toluene", ligands="C18", acid_per_pbbr2=1 / 30, ratios=RATIOS,
                 times=READ_TIMES_MIN):
        self.ratios = np.asarray(ratios, dtype=float)
        self.times = np.asarray(times, dtype=float)
        self.recipes = standard_recipes(self.ratios, antisolvent, ligands, acid_per_pbbr2)
        ages = np.tile(self.times, (self.ratios.size, 1))
        self.state = model.state(self.recipes, ages)
        f = spectral_features(GRID_NM, model.spectra(self.recipes, ages, GRID_NM))
        self.peak, self.fwhm, self.height = f.peak_nm, f.fwhm_nm, f.height

    def at(self, ratio: float) -> int:
        return int(np.argmin(np.abs(self.ratios - ratio)))

    def t(self, minutes: float) -> int:
        return int(np.argmin(np.abs(self.times - minutes)))


@pytest.fixture(scope="session")
def series(model):
    """Cached factory: series(antisolvent, ligands, acid_per_pbbr2)."""
    cache: dict = {}

    def make(antisolvent="toluene", ligands="C18", acid_per_pbbr2=1 / 30):
        key = (antisolvent, ligands, acid_per_pbbr2)
        if key not in cache:
            cache[key] = Series(model, antisolvent, ligands, acid_per_pbbr2)
        return cache[key]

    return make
