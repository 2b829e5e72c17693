"""Phenomenological LARP chemistry of CsPbBr3 nanocrystals: recipes and ages -> state, PL spectra, absorbance.

Source of every chemistry claim: Sanchez et al., "Understanding the ligand-assisted reprecipitation of CsPbBr3
nanocrystals via high-throughput robotic synthesis approach", Matter 6 (2023), doi:10.1016/j.matt.2023.05.023.
"""

from .batch import PlateBatch
from .errors import ChemistryError, InvalidAmountError, UnknownMaterialError
from .features import SpectralFeatures, spectral_features
from .materials import (ACIDS, AMINES, SOLVENTS, Ligand, Solvent, carboxylic_acid, primary_amine, register_ligand,
                        register_solvent)
from .model import LarpModel, LarpState
from .parameters import LarpParameters
from .recipes import WellRecipes, WellVolumes
from .standard import AMINE_PER_ACID_SERIES, reference_recipe, standard_recipes

__all__ = [
    "LarpModel", "LarpState", "LarpParameters", "PlateBatch", "WellRecipes", "WellVolumes",
    "ChemistryError", "InvalidAmountError", "UnknownMaterialError",
    "SOLVENTS", "ACIDS", "AMINES", "Solvent", "Ligand", "carboxylic_acid", "primary_amine", "register_ligand",
    "register_solvent", "standard_recipes", "reference_recipe", "AMINE_PER_ACID_SERIES",
    "spectral_features", "SpectralFeatures",
]
