"""The monitor's view of the twin's forecast: ``twin.forecast``'s band and flags for a ``RunView``.

The band and the flag rule live in ``twin.forecast`` (one module for the forecast command, ``compare``, the flags a
run writes and this page); here a view of a run (a journal being written, or a finished directory) is turned into
its inputs, and the ensemble is kept between refreshes, so a new read costs one column of Monte Carlo fits.
"""
from __future__ import annotations

import numpy as np

from twin.forecast import CONSECUTIVE, DRAWS, METRICS, Band, Ensemble, flag_wells, observed_of
from twin.messages import UserError

FEATURES = METRICS  #: the metrics the page bands (peak, FWHM, height)


def _empty(wells: list) -> Band:
    z = {m: np.zeros((len(wells), 0)) for m in METRICS}
    return Band(list(wells), 0.9, z, dict(z), dict(z), dict(z), dict(z), np.zeros((len(wells), 0)),
                np.zeros(len(wells)), 0)


class ViewForecast:
    """The band and flags of a run's views; keeps one ``twin.forecast.Ensemble`` per plate map and wells."""

    def __init__(self, *, params=None, uncertainty=None, draws: int = DRAWS, consecutive: int = CONSECUTIVE):
        self.params, self.uncertainty, self.draws, self.consecutive = params, uncertainty, draws, consecutive
        self._key, self._ens = None, None

    def __call__(self, view, progress=None) -> Band:
        if view.plate.empty or not view.wells or view.time_min.size == 0:
            return _empty(view.wells)
        wells = [str(w) for w in view.wells]
        known = set(view.plate["well"].astype(str))
        missing = [w for w in wells if w not in known]
        if missing:
            raise UserError(f"wells {missing[:5]} are read but not in the plate map")
        grid = view.wavelength_nm if view.wavelength_nm.size else None
        key = (tuple(wells), view.plate.to_csv(index=False), None if grid is None else grid.tobytes())
        if key != self._key:
            self._ens = Ensemble(view.plate, wells, params=self.params, uncertainty=self.uncertainty,
                                 draws=self.draws, gain=int(view.schedule.get("gain", 100)), wavelength_nm=grid,
                                 temperature_C=float(view.schedule.get("temperature_C", 25.0)))
            self._key = key
        band = self._ens.band(view.time_min, progress=progress)
        observed = observed_of(view.peak_nm, view.fwhm_nm, view.height, view.status)
        band.flags = flag_wells(band, observed, view.read_end_s, consecutive=self.consecutive, blanks=view.blanks())
        return band


def forecast_view(view, *, params=None, draws: int = DRAWS, consecutive: int = CONSECUTIVE) -> Band:
    """Band and flags for a ``twin.monitor.source.RunView`` (one-off; the page keeps a ``ViewForecast``)."""
    return ViewForecast(params=params, draws=draws, consecutive=consecutive)(view)
