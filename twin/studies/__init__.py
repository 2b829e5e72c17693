"""Many campaigns at once: sweep specs, parallel sweeps (Dask or processes) and closed-loop optimisation."""
