"""Weak forms of the liquid-electrolyte cell (LIB): CAM + porous CBD | liquid electrolyte
| porous separator | Li metal.

Unknowns (SI): c_s (mol/m³) on the CAM, Φ_s (V) on the electron conductors CAM ∪ CBD,
c_e (mol/m³) and Φ_e (V) on the ion conductors electrolyte ∪ CBD ∪ separator (the CBD is
in both sets: overlapping submeshes), and the collector potential V. Φ_e is measured
against a Li reference electrode in the electrolyte. Concentrated-solution transport of
a binary salt, with the effective porosity ε and transport factor b of each region
(electrolyte 1/1, CBD 0.5/0.12, separator 0.5/0.5 by default):

    i_e = b [−κ ∇Φ_e + κ_D ∇c_e/c_e],   κ_D = 2 κ (1 − t+) TDF RT/F
    charge:  ∇·i_e = 0,                 i_e·n = −w i on Γ,  i_e·n = −i_a at the anode
    anions:  ε ∂c_e/∂t + ∇·N₋ = 0,      N₋ = −b D_e ∇c_e − (1 − t+) i_e/F,  N₋·n = 0

The anion balance is written with its own flux (no interface terms), which is the Li⁺
balance ε ∂c_e/∂t = ∇·(b D_e ∇c_e) − ∇·(t+ i_e/F) of the study plus the interface
conditions N₊·n = −w i/F; it conserves the salt exactly (test function 1). κ, D_e, t+
and TDF are functions of c_e (Landesfeind 2019 by default), t+ may be a constant.
At t+ = 1 c_e stays at its initial value and the model is the SE model with σ = κ.

The interface current on CAM|CBD and CAM|separator facets is scaled by the porosity of
the porous neighbour (w = ε): only its pores touch the CAM with electrolyte. Kinetics:
i0 = k_LE c_e^α c_s^α (c_max − c_s)^(1−α); Li anode i0,a (c_e/c_e0)^γ (γ = 0.3).
"""

from __future__ import annotations

import numpy as np
import ufl

from fem_assb._dolfinx import fem
from fem_assb.constants import FARADAY, GAS_CONSTANT
from fem_assb.materials import Parameters, butler_volmer, exchange_current_density, make_function
from fem_assb.materials.electrolyte import C_MIN, electrolyte_function
from fem_assb.physics.cell_model import CellModel
from fem_assb.physics.contract import Inventory
from fem_assb.physics.domains import (
    ELECTROLYTE_PHASES,
    IF_CBD,
    IF_ELECTROLYTE,
    IF_SEPARATOR,
    CellDomains,
)
from fem_assb.protocol.events import StopReason, ThresholdEvent
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR


def _clamped(c_e):
    """c_e (mol/m³) clamped below at C_MIN for the kinetics; numpy (complex too) or UFL."""
    if isinstance(c_e, ufl.core.expr.Expr):
        return ufl.max_value(c_e, C_MIN)
    return np.maximum(c_e, C_MIN)


class LiquidCellModel(CellModel):
    """Unknowns, residual forms and diagnostics of the LIB cell."""

    fields = ("c", "phi_s", "V", "c_e", "phi_e")
    splits = {"c": (0,), "phi_s": (1, 2), "c_e": (3,), "phi_e": (4,)}
    # the interface current's arguments (c_s, Φ_s, Φ_e, c_e) and the signs of W i
    interface_arguments = ("c", "phi_s", "phi_e", "c_e")
    interface_rows = {"c": 1.0, "phi_s": 1.0, "phi_e": -1.0}

    def __init__(self, doms: CellDomains, params: Parameters, current_density: float):
        super().__init__(doms, params, current_density)
        p = params
        le, T = p.liquid_electrolyte, self.temperature
        self.Vce = fem.functionspace(doms.electrolyte, ("Lagrange", 1))
        self.Ve = fem.functionspace(doms.electrolyte, ("Lagrange", 1))
        self.c_e, self.c_e_old = fem.Function(self.Vce, name="c_e"), fem.Function(self.Vce)
        self.phi_e = fem.Function(self.Ve, name="phi_e")
        self.electrolyte_unknowns = [self.c_e, self.phi_e]
        self.kappa = electrolyte_function(le.conductivity, "liquid_electrolyte.conductivity", T)
        self.diff_e = electrolyte_function(le.diffusivity, "liquid_electrolyte.diffusivity", T)
        self.t_plus = electrolyte_function(le.transference_number,
                                           "liquid_electrolyte.transference_number", T)
        self.tdf = electrolyte_function(le.thermodynamic_factor,
                                        "liquid_electrolyte.thermodynamic_factor", T)
        # (porosity ε, transport factor b) per ion-conducting region
        self.regions = {ELECTROLYTE: (1.0, 1.0), CBD: (p.cbd.porosity, p.cbd.ionic_factor),
                        SEPARATOR: (p.separator.porosity, p.separator.ionic_factor)}
        diff_s = make_function(p.cam.diffusivity_liquid, "cam.diffusivity_liquid")
        self._build_forms(diff_s, {CAM: self.sigma_s, CBD: p.cbd.electronic_conductivity})
        dx, em = doms.dx, doms.entity_maps
        self.salt_form = fem.form(
            sum(eps * self.c_e * dx(r) for r, (eps, _) in self.regions.items()), entity_maps=em)

    def interface_weights(self) -> dict:
        p = self.params
        return {IF_ELECTROLYTE: 1.0, IF_CBD: p.cbd.porosity, IF_SEPARATOR: p.separator.porosity}

    def _ce(self, restriction=None):
        """c_e clamped below at C_MIN (mol/m³) for the kinetics and ln c_e."""
        return _clamped(self.c_e(restriction) if restriction else self.c_e)

    def exchange_current(self, c_s, c_e=None):
        p = self.params
        return exchange_current_density(p.cam.k_liquid, _clamped(c_e), c_s, p.cam.c_max,
                                        p.cam.alpha)

    anode_arguments = ("c_e", "phi_e")

    def anode_current_density(self, c_e, phi_e):
        """Anodic current density at the Li metal anode (A/m²) from c_e (mol/m³, clamped
        at C_MIN) and Φ_e (V); numpy (complex too) or UFL."""
        a, c0 = self.params.anode, self.params.liquid_electrolyte.initial_concentration
        i0 = a.exchange_current_liquid * (_clamped(c_e) / c0) ** a.liquid_concentration_exponent
        return butler_volmer(i0, -phi_e, self.temperature, a.alpha)

    def ionic_current(self, factor: float = 1.0):
        """i_e (A/m²) in a region with transport factor ``factor`` (UFL, electrolyte mesh)."""
        ce = self._ce()
        kappa = self.kappa(ce)
        kappa_d = 2.0 * kappa * (1.0 - self.t_plus(ce)) * self.tdf(ce) * (
            GAS_CONSTANT * self.temperature / FARADAY)
        return factor * (-kappa * ufl.grad(self.phi_e) + kappa_d * ufl.grad(self.c_e) / ce)

    def electrolyte_residuals(self) -> list:
        d = self.doms
        dx = d.dx
        v, w = ufl.TestFunction(self.Vce), ufl.TestFunction(self.Ve)
        ce = self._ce()
        t_minus = 1.0 - self.t_plus(ce)
        F_ce = 0
        # − w i on Γ (``interface``) and − i_anode on the anode face (``anode``): nodal
        F_pe = 0
        for region, (eps, b) in self.regions.items():
            i_e = self.ionic_current(b)
            # anion balance × F (A): storage + flux N₋ = −b D ∇c_e − t₋ i_e/F
            F_ce += (FARADAY * eps * (self.c_e - self.c_e_old) / self.dt * v
                     + ufl.inner(FARADAY * b * self.diff_e(ce) * ufl.grad(self.c_e)
                                 + t_minus * i_e, ufl.grad(v))) * dx(region)
            F_pe += -ufl.inner(i_e, ufl.grad(w)) * dx(region)
        self.bcs = []
        if self.params.anode.kinetics == "ideal":
            raise ValueError("anode.kinetics = 'ideal' is for the ASSB; the LIB uses "
                             "Butler–Volmer kinetics at the Li anode")
        assert set(self.regions) == set(ELECTROLYTE_PHASES)
        return [F_ce, F_pe]

    def interface_electrolyte_concentration(self):
        return self.c_e("-")

    # -- balances and stops -------------------------------------------------------------
    def inventory(self) -> Inventory:
        return Inventory(lithium_mol=self.cam_lithium(),
                         salt_mol=self.assembled(self.salt_form),
                         min_electrolyte_concentration=self.minimum(self.c_e))

    def stop_events(self, control) -> list:
        """The CAM's stops and electrolyte depletion (min c_e below ``depletion`` c_e0)."""
        c0 = self.params.liquid_electrolyte.initial_concentration
        return [*super().stop_events(control),
                ThresholdEvent(StopReason.ELECTROLYTE_DEPLETED, lambda: self.minimum(self.c_e),
                               control.depletion * c0, above=False,
                               warning="the electrolyte is depleted: min c_e (mol/m³)")]

    # -- state ------------------------------------------------------------------------
    def set_rest_state(self) -> float:
        u0 = super().set_rest_state()
        self.c_e.x.array[:] = self.params.liquid_electrolyte.initial_concentration
        self.c_e_old.x.array[:] = self.c_e.x.array
        return u0

    def begin_step(self, dt: float) -> None:
        super().begin_step(dt)
        self.c_e_old.x.array[:] = self.c_e.x.array

    def bounds(self, u):
        if u is self.c_e:
            return 0.0, None
        return super().bounds(u)
