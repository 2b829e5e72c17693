"""Typed errors of the analysis package: one base, one subclass per kind of bad input.

All derive from ``ValueError`` so callers that only know "bad value" still catch them, and every message names the
field (argument or column), the offending value and what would have been allowed.
"""
from __future__ import annotations


class AnalysisError(ValueError):
    """Base of every error raised by ``twin.analysis``."""


class FitError(AnalysisError):
    """Spectra or wavelength grid that cannot be fitted (shape, grid order, negative counts, nothing finite)."""


class TableError(AnalysisError):
    """A features, spectra or design table that is missing columns or holds unusable values."""


class TooFewRowsError(TableError):
    """Too few usable rows for the requested cross-validation."""
