"""Typed exceptions of the chemistry package.

Every error raised on bad input derives from :class:`ChemistryError`, itself a ``ValueError``,
so callers can catch the whole family at once or a single kind.
"""

from __future__ import annotations


class ChemistryError(ValueError):
    """Base class: a recipe, an age array or a parameter the chemistry model cannot use."""


class UnknownMaterialError(ChemistryError):
    """A solvent, acid or amine name that is not in the property tables."""


class InvalidAmountError(ChemistryError):
    """A volume, concentration, temperature or age that is negative, NaN, infinite or mis-shaped."""
