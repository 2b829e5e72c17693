"""Property tables of the antisolvents and ligands the LARP model knows.

Why a table: the model never branches on a name ("if toluene"); it reads properties (dielectric constant,
polarity index, alkyl chain length, molar mass, density) so that a new antisolvent or a carboxylic acid /
primary amine of another chain length is one new table row, not new code.

Sources: dielectric constants and Snyder polarity indices as collected in
``docs/chemistry_facts.md`` (toluene 2.38/2.4 and chloroform 4.81/4.1 are quoted by the paper,
Sanchez et al., Matter 2023); ligand molar masses and densities from the same file (vendor data sheets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UnknownMaterialError

# Molar masses of the repeating and end groups used to extend the ligand tables by chain length (g/mol).
_CH2_G_MOL = 14.027
_COOH_END_G_MOL = 31.998  # CnH2nO2 = n * CH2 + O2 (saturated carboxylic acid)
_NH2_END_G_MOL = 17.031  # CnH2n+3N = n * CH2 + NH3 (saturated primary amine)


@dataclass(frozen=True)
class Solvent:
    """A liquid in the well: antisolvent (or the precursor solvent DMF).

    dielectric_constant: static relative permittivity at ~20-25 C.
    polarity_index: Snyder polarity index P'.
    """

    name: str
    dielectric_constant: float
    polarity_index: float
    aliases: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Ligand:
    """A neat liquid ligand: a carboxylic acid (proton donor) or a primary amine (proton acceptor).

    n_carbons: alkyl chain length, the property the model uses for van der Waals rigidity of the
    reverse micelles and for amine reactivity (shorter chain = more reactive, Fig. S16 of the paper).
    """

    name: str
    kind: str  # "acid" or "amine"
    n_carbons: int
    molar_mass_g_mol: float
    density_g_mL: float
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def umol_per_uL(self) -> float:
        """Amount of ligand in one microlitre of the neat liquid, in umol/uL."""
        # 1 uL * density g/mL = density mg; mg / (g/mol) = mmol; * 1000 = umol.
        return self.density_g_mL / self.molar_mass_g_mol * 1000.0


def carboxylic_acid(n_carbons: int, name: str | None = None, density_g_mL: float = 0.90,
                    molar_mass_g_mol: float | None = None, aliases: tuple[str, ...] = ()) -> Ligand:
    """A carboxylic acid row built from its chain length (saturated formula CnH2nO2 unless the mass is given)."""
    if n_carbons < 2:
        raise UnknownMaterialError(f"acid chain length n_carbons={n_carbons} is not a carboxylic acid ligand; allowed >= 2")
    mass = molar_mass_g_mol if molar_mass_g_mol is not None else n_carbons * _CH2_G_MOL + _COOH_END_G_MOL
    return Ligand(name or f"C{n_carbons}Ac", "acid", int(n_carbons), float(mass), float(density_g_mL), tuple(aliases))


def primary_amine(n_carbons: int, name: str | None = None, density_g_mL: float = 0.79,
                  molar_mass_g_mol: float | None = None, aliases: tuple[str, ...] = ()) -> Ligand:
    """A primary amine row built from its chain length (saturated formula CnH2n+3N unless the mass is given)."""
    if n_carbons < 2:
        raise UnknownMaterialError(f"amine chain length n_carbons={n_carbons} is not an amine ligand; allowed >= 2")
    mass = molar_mass_g_mol if molar_mass_g_mol is not None else n_carbons * _CH2_G_MOL + _NH2_END_G_MOL
    return Ligand(name or f"C{n_carbons}Am", "amine", int(n_carbons), float(mass), float(density_g_mL), tuple(aliases))


SOLVENTS: dict[str, Solvent] = {s.name: s for s in (
    Solvent("toluene", 2.38, 2.4, ("tol", "methylbenzene")),
    Solvent("chloroform", 4.81, 4.1, ("cf", "chcl3", "trichloromethane")),
    Solvent("hexane", 1.88, 0.1, ("n-hexane",)),
    Solvent("octane", 1.95, 0.1, ("n-octane",)),
    Solvent("cyclohexane", 2.02, 0.2, ()),
    Solvent("xylene", 2.40, 2.5, ("p-xylene", "xylenes")),
    Solvent("chlorobenzene", 5.62, 2.7, ("phcl", "cb")),
    Solvent("dichloromethane", 8.93, 3.1, ("dcm", "methylene chloride", "ch2cl2")),
    Solvent("ethyl acetate", 6.02, 4.4, ("ethyl_acetate", "etoac", "ea")),
)}
"""Antisolvents by canonical name (lower case)."""

DMF = Solvent("dmf", 36.7, 6.4, ("n,n-dimethylformamide",))
"""The precursor solvent; its volume fraction in the well is a model input (polarity of the mixture)."""

ACIDS: dict[str, Ligand] = {a.name: a for a in (
    carboxylic_acid(18, "OAc", density_g_mL=0.895, molar_mass_g_mol=282.5, aliases=("oleic acid", "oleic")),
    carboxylic_acid(8, "OctAc", density_g_mL=0.910, molar_mass_g_mol=144.2, aliases=("octanoic acid", "octanoic")),
    carboxylic_acid(6, "HexAc", density_g_mL=0.927, aliases=("hexanoic acid",)),
    carboxylic_acid(10, "DecAc", density_g_mL=0.893, aliases=("decanoic acid",)),
)}
"""Carboxylic acids by canonical name; add rows with :func:`register_ligand` (e.g. ``carboxylic_acid(12)``)."""

AMINES: dict[str, Ligand] = {a.name: a for a in (
    primary_amine(18, "OLAm", density_g_mL=0.813, molar_mass_g_mol=267.5, aliases=("oleylamine",)),
    primary_amine(8, "OctAm", density_g_mL=0.782, molar_mass_g_mol=129.2, aliases=("octylamine",)),
    primary_amine(6, "HexAm", density_g_mL=0.766, aliases=("hexylamine",)),
    primary_amine(12, "DDAm", density_g_mL=0.806, aliases=("dodecylamine",)),
)}
"""Primary amines by canonical name; add rows with :func:`register_ligand`."""


def register_ligand(ligand: Ligand) -> Ligand:
    """Add an acid or amine row to :data:`ACIDS` / :data:`AMINES` (name must be new)."""
    table = ACIDS if ligand.kind == "acid" else AMINES if ligand.kind == "amine" else None
    if table is None:
        raise UnknownMaterialError(f"ligand kind {ligand.kind!r} unknown; allowed 'acid', 'amine'")
    if ligand.name in table:
        raise UnknownMaterialError(f"{ligand.kind} {ligand.name!r} already registered")
    table[ligand.name] = ligand
    return ligand


def register_solvent(solvent: Solvent) -> Solvent:
    """Add an antisolvent row to :data:`SOLVENTS` (name must be new)."""
    key = solvent.name.lower()
    if key in SOLVENTS:
        raise UnknownMaterialError(f"solvent {solvent.name!r} already registered")
    SOLVENTS[key] = solvent
    return solvent


def _lookup(table: dict, name: object, what: str, index: int | None = None):
    """Case-insensitive look-up by name or alias; raises a message naming the field, index and allowed names."""
    if isinstance(name, (Solvent, Ligand)):
        return name
    key = str(name).strip().lower()
    for row in table.values():
        if key == row.name.lower() or key in (a.lower() for a in row.aliases):
            return row
    where = f" at index {index}" if index is not None else ""
    raise UnknownMaterialError(f"{what}{where}: unknown name {name!r}; allowed: {sorted(table)}")


def find_solvent(name: object, field_name: str = "antisolvent", index: int | None = None) -> Solvent:
    """The :class:`Solvent` called ``name`` (case-insensitive, aliases accepted)."""
    return _lookup(SOLVENTS, name, field_name, index)


def find_acid(name: object, field_name: str = "acid", index: int | None = None) -> Ligand:
    """The acid :class:`Ligand` called ``name`` (case-insensitive, aliases accepted)."""
    return _lookup(ACIDS, name, field_name, index)


def find_amine(name: object, field_name: str = "amine", index: int | None = None) -> Ligand:
    """The amine :class:`Ligand` called ``name`` (case-insensitive, aliases accepted)."""
    return _lookup(AMINES, name, field_name, index)
