"""Closed-form kinetics: phase fractions, size, size dispersion and surface defects for all wells and times at once.

Every mechanism is one explicit factor (t = minutes since injection, rates scaled by an Arrhenius factor and the
well's batch multiplier):

- crystallisation: x_formed(t) = 1 - (1 - x0) exp(-t / tau_form), x0 = exp(-k * shortness). Long chains crystallise in
  seconds (x0 = 1); C8 colloids keep growing after the first read, so their PL rises (Fig 3E-H);
- nucleus solvation by uncoordinated ligand: yield = 1 / (1 + k * ligand_excess) (1:15 dimmer, Fig 2D);
- amine-driven CsPbBr3 -> Cs4PbBr6: x(t) = X_inf [1 - (1 - a) exp(-t / tau)], X_inf = 1 - exp(-k * reactivity *
  free amine per Pb * (1 + k_pol * polarity)). The abrupt share a and tau follow the paper's Le Chatelier argument:
  a = a0 / (1 + c * ligand_excess), tau = tau0 (1 + c * ligand_excess) -> abrupt at 1:30, gradual at 1:15 (Fig 2/S3);
  the same factor (1 + c * ligand_excess) slows the desorption and delays the collapse below (issue 21: one
  equilibrium, "thereby retarding the disintegration process");
- ligand desorption / decomposition of free nanocrystals: surviving(t) = exp(-k_des t), ln k_des rising with
  antisolvent polarity and chain shortness (CF acid-majority collapse over 12 h, Fig 6B; C8 collapse, Fig 3E-H/S13);
- CsPbBr3 inclusions embedded in Cs4PbBr6 (weakly emissive), growing over hours in polar antisolvent (CF amine-majority
  PL grows over 12 h, Fig 6B; "integration of small CsPbBr3 PNCs with the Cs4PbBr6 NCs");
- delayed colloidal collapse (issue 12): a logistic in time, 1 / (1 + exp((t - t_c) / (cv t_c))), with t_c shorter
  in polar antisolvent and longer with amine majority: steady PL for hours, then a collapse within ~1-2 h (CF well A2);
  it removes free NCs, platelets and inclusions alike (aggregated/decomposed material is counted as f_dissolved);
- amine capping of the nuclei in polar antisolvent and Ostwald ripening (LSW, L^3 = L0^3 + K t) fed by Pb-amine
  complexes (issue 12: CF amine-majority wells start at ~490 nm and red-shift with rising PL over hours); a surface
  defect term defect_surface_nm / L makes the ripened NCs brighter per unit;
- platelets only above chloroform's polarity and with acid majority (none in toluene: no emission < 500 nm, Fig 3);
- edge length: reverse-micelle size ~ (surfactant molecules per Pb)^-a in every antisolvent (acid + free amine: an
  amine below equimolar pairs with an acid already counted), smaller in polar antisolvent and with short chains, capped by Pb-amine complexes by at most a factor
  (1 - c_max), a cap that saturates at the first free amine in polar antisolvent; shrinks as the NCs are consumed by Cs4PbBr6 and
  fragmented by desorption; a soft floor (L^4 + L_min^4)^(1/4) keeps cubes above the smallest size this protocol
  makes (the paper sees no strongly confined species);
- size dispersion and defect level: base values plus one additive term per mechanism (listed in parameters.py);
  in polar antisolvent the nucleation burst's small-crystallite tail dissolves over the first hours (Gibbs-Thomson),
  an added dispersion decaying as exp(-t / tau_focus): CF wells 30-44 nm wide at ~30 min, 26-27 nm at 10.7 h;
  ion pairs and free amine form traps in toluene, less in chloroform where they are solvated (bound share
  1 / (1 + K * polarity+), never zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import PlateBatch
from .drivers import REFERENCE_ACID_PER_PB, Drivers
from .parameters import LarpParameters

GAS_CONSTANT_J_MOL_K = 8.314462618
REFERENCE_TEMPERATURE_K = 298.15


@dataclass(frozen=True, eq=False)
class MaterialState:
    """Material state of every well at every age (arrays shaped like the age array)."""

    present: np.ndarray  # bool: precursor injected and perovskite can form
    f_cspbbr3: np.ndarray  # free emissive CsPbBr3 nanocrystals (fraction of perovskite-forming units)
    f_cs4pbbr6: np.ndarray  # Cs-rich Cs4PbBr6 (non-emissive host), including its embedded inclusions
    f_embedded: np.ndarray  # CsPbBr3 inclusions inside Cs4PbBr6 (subset of f_cs4pbbr6), weakly emissive
    f_platelet: np.ndarray  # low-dimensional CsPbBr3 (platelets)
    f_dissolved: np.ndarray  # precursor not (or no longer) in a solid phase
    edge_nm: np.ndarray  # mean edge length of the free nanocrystals
    embedded_edge_nm: np.ndarray  # size of the inclusions
    size_dispersion: np.ndarray  # relative sigma of the edge length
    defect_level: np.ndarray  # surface-defect level; qy = qy_max * exp(-defect_level)
    surviving: np.ndarray  # share of nanocrystals not yet decomposed by ligand desorption


def _column(x: np.ndarray, ndim: int) -> np.ndarray:
    """Per-well array reshaped to broadcast against an age array of ``ndim`` dimensions (wells first)."""
    return x.reshape((-1,) + (1,) * (ndim - 1))


def material_state(drivers: Drivers, age_min: np.ndarray, params: LarpParameters, batch: PlateBatch) -> MaterialState:
    """Evaluate the closed-form kinetics; ``age_min`` has wells on its first axis (any trailing shape)."""
    p = params
    nd = age_min.ndim
    col = lambda x: _column(np.asarray(x, dtype=np.float64), nd)  # noqa: E731

    present = np.isfinite(age_min) & (age_min >= 0) & _column(drivers.has_precursor, nd)
    t = np.where(present, age_min, 0.0)

    polarity = col(drivers.polarity)
    polar_plus = np.maximum(polarity, 0.0)
    short = col(drivers.shortness)
    excess_plus = np.maximum(col(drivers.ligand_excess), 0.0)
    reactivity = col(drivers.reactivity)
    free_amine = col(drivers.free_amine_per_pb)
    rate = col(np.exp(-p.activation_energy_kJ_mol * 1e3 / GAS_CONSTANT_J_MOL_K
                      * (1.0 / drivers.temperature_K - 1.0 / REFERENCE_TEMPERATURE_K)) * batch.rate_multiplier)

    # crystallisation and nucleus solvation
    x0 = np.exp(-p.formation_delay_shortness * short)
    tau_form = p.formation_tau_min / (rate * np.exp(p.formation_polarity * polarity))
    crystal = (1.0 - (1.0 - x0) * np.exp(-t / tau_form)) / (1.0 + p.ligand_solvation * excess_plus)

    # amine-driven CsPbBr3 -> Cs4PbBr6 (Pb-amine complexes)
    drive = reactivity * free_amine * (1.0 + p.cs4pbbr6_polarity * polar_plus)
    x_inf = 1.0 - np.exp(-p.cs4pbbr6_per_free_amine * drive)
    retard = 1.0 + p.le_chatelier * excess_plus
    abrupt = p.abrupt_share / retard
    x46 = x_inf * (1.0 - (1.0 - abrupt) * np.exp(-t * rate / (p.cs4pbbr6_tau_min * retard)))

    # ligand desorption -> decomposition of free nanocrystals
    # Le Chatelier (paper, Fig. 2 text): uncoordinated ligand shifts CsPbBr3-ligand <-> ions + ligand to the left,
    # "thereby retarding the disintegration process": the same factor `retard` slows desorption and delays collapse
    k_des = rate / (p.desorption_tau_min * retard) * np.exp(p.desorption_polarity * polarity + p.desorption_shortness * short
                                                 + p.desorption_polarity_shortness * polar_plus * short)
    surviving = np.exp(-k_des * t)
    # delayed colloidal collapse (issue 12): steady, then a logistic fall around t_c (ligand shell below critical
    # coverage; the ensemble's spread of coverages sets the width cv * t_c)
    t_c = p.collapse_tau_min * retard / rate * np.exp(-p.collapse_polarity * (polarity - 1.0)
                                             + p.collapse_amine * col(drivers.amine_majority)
                                             - p.collapse_shortness * short)
    colloid = 0.5 * (1.0 - np.tanh(0.5 * (t - t_c) / (p.collapse_cv * t_c)))  # 1 / (1 + exp((t - t_c) / w))

    # phases
    platelet_share = (p.platelet_max * np.clip((polarity - p.platelet_polarity_onset) / p.platelet_polarity_span, 0, 1)
                      * (1.0 - col(drivers.amine_majority)))
    f46 = crystal * x46
    rest = crystal * (1.0 - x46) * surviving * colloid
    f_pl = rest * platelet_share
    f_nc = rest - f_pl
    embedded_yield = np.minimum(p.embedded_yield * (1.0 + p.embedded_polarity * polar_plus)
                                * np.exp(-p.embedded_shortness * short), 1.0)
    growth = p.embedded_initial + (1.0 - p.embedded_initial) * (1.0 - np.exp(-t * rate / p.embedded_tau_min))
    f_emb = f46 * embedded_yield * growth * colloid

    # size
    # reverse-micelle size ~ (surfactant molecules per Pb)^-a in every antisolvent; the molecules are the acid (free or
    # paired) plus the free amine: an amine below equimolar only pairs with an acid already counted (one ion pair),
    # an amine beyond it is one more ligand. More ligand per PbBr2 -> smaller, bluer NCs (SHAP Fig. 4A: "a lower
    # addition of ligand ratio to PbBr2 also having positive impact" on the red shift)
    heads = col(drivers.acid_per_pb) + free_amine
    acid_ratio = np.maximum(heads, 0.05 * REFERENCE_ACID_PER_PB) / REFERENCE_ACID_PER_PB
    ln_edge0 = (np.log(p.reference_edge_nm) - p.size_ligand_exponent * np.log(acid_ratio)
                - p.size_polarity * polarity - p.size_shortness * short)
    # Pb-amine complexes stop growth; in polar antisolvent they form as readily as amine binds the nuclei (below),
    # so the cap saturates at the first free amine (the lab's CF B1, 1:1.1, is as blue as B10)
    k_complex = p.size_free_amine + p.amine_bound_per_free_amine * polar_plus
    capped = 1.0 - p.size_free_amine_max * (1.0 - np.exp(-k_complex * reactivity * free_amine))
    size_mult = col(batch.size_multiplier)
    edge_injected = np.exp(ln_edge0) * capped
    edge = (edge_injected * np.power(np.maximum(1.0 - x46, 1e-6), p.size_shrink_exponent)
            * np.power(surviving, p.size_fragment_exponent))
    # soft floor: this protocol makes cubes, not strongly confined dots (no emission < 500 nm in toluene, Fig 3)
    floor = p.min_edge_nm * np.exp(-p.min_edge_polarity * polar_plus)
    # the well's nucleation scatter (size_mult) acts on the micelle-set size, before the floor of the smallest
    # cube (issue 12: CF wells near the floor scatter, toluene wells never fall below the floor)
    soft_floor = lambda x: np.minimum(np.power((x * size_mult) ** 4 + floor ** 4, 0.25), p.max_edge_nm)  # noqa: E731
    edge = soft_floor(edge)
    # amine capping of the nuclei in polar antisolvent (issue 12: CF amine-majority starts at ~490 nm)
    amine_bound = 1.0 - np.exp(-p.amine_bound_per_free_amine * reactivity * free_amine)
    edge = edge * np.exp(-p.amine_cap_polarity * polar_plus * amine_bound)
    # Ostwald ripening (LSW): L^3 = L0^3 + K t, monomer from Pb-amine complexes, soluble in polar antisolvent
    k_ripe = p.ripening_nm3_per_min * rate * amine_bound * np.exp(p.ripening_polarity * (polarity - 1.0))
    edge = np.minimum(np.cbrt(edge ** 3 + k_ripe * t), p.max_edge_nm)
    # inclusions: small CsPbBr3 crystallites of the same batch trapped in the Cs4PbBr6 host
    edge_emb = soft_floor(p.embedded_edge_ratio * edge_injected)

    dispersion = p.dispersion_base * col(batch.dispersion_multiplier) * (
        1.0 + p.dispersion_ligand_excess * excess_plus + p.dispersion_free_amine * reactivity * free_amine
        + p.dispersion_shortness * short)
    # early size focusing in polar antisolvent: the small-crystallite tail of the nucleation burst dissolves
    early = polar_plus * (p.dispersion_early_polarity + p.dispersion_early_free_amine * reactivity * free_amine)
    dispersion = dispersion + col(batch.dispersion_multiplier) * early * np.exp(-t * rate / p.dispersion_focus_tau_min)

    # medium factors clipped at 0: a solvent more polar than chloroform cannot turn a trap into a negative one
    # ligand solvation by a polar antisolvent competes with binding at the surface (paper, Discussion: ionic ligands
    # "prone to be influenced by polar solvent"): the bound share 1 / (1 + K polarity+) of the trap-forming ligands
    # (ion pairs, free amine) falls in chloroform but never to zero for a finite K (the driver stays on)
    ion_pair_medium = amine_medium = 1.0 / (1.0 + p.trap_solvation_polarity * polar_plus)
    defect = (p.defect_base + p.defect_ion_pairs * ion_pair_medium * col(drivers.ion_pair_share)
              + p.defect_free_amine * amine_medium
              * (1.0 - np.exp(-reactivity * free_amine)) + p.defect_ligand_excess * excess_plus
              + p.defect_shortness * short + p.defect_polarity * polar_plus + p.defect_desorption * (1.0 - surviving)
              + p.defect_bare * np.maximum(-col(drivers.ligand_excess), 0.0)
              + p.defect_surface_nm / edge)  # surface/volume ~ 1/L: ripened NCs are brighter per unit

    zero = np.zeros(age_min.shape)
    nan = np.full(age_min.shape, np.nan)
    pick = lambda a, empty: np.where(present, np.broadcast_to(a, age_min.shape), empty)  # noqa: E731
    return MaterialState(
        present=present,
        f_cspbbr3=pick(f_nc, zero), f_cs4pbbr6=pick(f46, zero), f_embedded=pick(f_emb, zero),
        f_platelet=pick(f_pl, zero), f_dissolved=pick(1.0 - f46 - rest, zero),
        edge_nm=pick(edge, nan), embedded_edge_nm=pick(edge_emb, nan),
        size_dispersion=pick(dispersion, nan), defect_level=pick(defect, nan),
        surviving=pick(surviving * colloid, zero),
    )
