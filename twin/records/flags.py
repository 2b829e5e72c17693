"""Forecast flags as a step of the records layer: a run's reads judged against the twin's band (``twin.forecast``).

``write_results`` calls :func:`add_forecast_flags` for every run whose event log it writes (a run with a fault plan,
a run on real instruments): the flags join ``result.events`` before ``events.jsonl`` is written, so the file is
written once, listed in the manifest, and never changes afterwards. The band uses the run's own chemistry (the
manifest's parameters) and the plate map's nominal volumes.
"""
from __future__ import annotations

import warnings

import numpy as np

from twin.forecast import CONSECUTIVE, DRAWS, Ensemble, flag_wells, observed_of


def flags_for_result(result, *, params=None, uncertainty=None, draws: int = DRAWS,
                     consecutive: int = CONSECUTIVE) -> list[dict]:
    """Forecast flag events of a finished ``CampaignResult`` (see ``twin.forecast.flag_wells``)."""
    c = result.cube
    wells = [str(w) for w in c.wells]
    if params is None:
        params = (result.manifest.get("chemistry") or {}).get("parameters")
    plate = result.plate
    blanks = set(plate.loc[plate["pbbr2_uL"].astype(float) <= 0, "well"].astype(str))
    ens = Ensemble(plate, wells, params=params, uncertainty=uncertainty, draws=draws, seed=0,
                   gain=int(c.attrs.get("gain", 100)), wavelength_nm=c.wavelength_nm,
                   temperature_C=float((result.manifest.get("schedule") or {}).get("temperature_C", 25.0)))
    band = ens.band(np.asarray(c.time_min, float))
    fit = result.fit  # cached: the same fit the features table is made of
    observed = observed_of(fit.peak_nm, fit.fwhm_nm, fit.height, fit.status)
    read_end_s = np.asarray(c.read_start_min, float) * 60.0
    return flag_wells(band, observed, read_end_s, consecutive=consecutive, blanks=blanks)


def add_forecast_flags(result, **options) -> list[dict]:
    """Append the forecast flags of ``result`` to ``result.events`` (once: a result that has them keeps them).

    Never raises: on real instruments the reads are the only copy and are written whatever the forecast does; a
    forecast that cannot be computed becomes a warning (a ``note:`` line on the command line)."""
    if any(e.get("kind") == "forecast" for e in result.events):
        return [e for e in result.events if e.get("kind") == "forecast"]
    try:
        flags = flags_for_result(result, **options)
    except Exception as exc:  # noqa: BLE001  (never lose a run to its forecast)
        warnings.warn(f"forecast flags not computed ({type(exc).__name__}: {exc}); the reads are kept")
        return []
    result.events.extend(flags)
    return flags
