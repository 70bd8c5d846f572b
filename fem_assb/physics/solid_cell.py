"""Weak forms of the all-solid-state cell (ASSB): CAM | solid electrolyte | Li metal.

Unknowns (SI): c_s (mol/m³) and Φ_s (V) on the CAM submesh, Φ_e (V) on the electrolyte
submesh (cathode SE + separator), and the collector potential V (V, one global number).
The Li metal anode is the potential reference (0 V), so V is the cell voltage. The CAM,
interface and collector equations are those of ``cell_model``; the SE adds

    SE        −∇·(σ_e ∇Φ_e) = 0,                  −σ_e ∇Φ_e·n = −i         on Γ
                                                  −σ_e ∇Φ_e·n = −i_a       at the anode
    i0  = k_SE c_SE^α c_s^α (c_max − c_s)^(1−α)   (c_SE: Li concentration of the SE)
    i_a = i0,a [exp(α_a F η_a/RT) − exp(−(1−α_a) F η_a/RT)],  η_a = 0 − Φ_e

A resistive film (R_f > 0) is solved implicitly: η is found from η + R_f i(η) =
Φ_s − Φ_e − U by a fixed number of Newton steps written into the form (see
``film_overpotential``), so the whole system stays one Newton problem.
"""

from __future__ import annotations

import numpy as np
import ufl

from fem_assb._dolfinx import fem
from fem_assb.materials import Parameters, butler_volmer, exchange_current_density, make_function
from fem_assb.physics.cell_model import CellModel, film_overpotential
from fem_assb.physics.domains import (
    ELECTROLYTE_PHASES,
    IF_CBD,
    IF_ELECTROLYTE,
    IF_SEPARATOR,
    CellDomains,
)
from fem_assb.structure.phases import CAM, ELECTROLYTE, SEPARATOR

__all__ = ["SolidCellModel", "film_overpotential"]


class SolidCellModel(CellModel):
    """Unknowns, residual forms and diagnostics of the ASSB cell."""

    fields = ("c", "phi_s", "V", "phi_e")  # the blocks of the coupled system, in order
    # field-split groups (iterative solver): V is stiffly tied to Φ_s at the collector
    splits = {"c": (0,), "phi_s": (1, 2), "phi_e": (3,)}
    # the interface current's arguments (c_s, Φ_s, Φ_e) and the signs of W i per residual
    interface_arguments = ("c", "phi_s", "phi_e")
    interface_rows = {"c": 1.0, "phi_s": 1.0, "phi_e": -1.0}
    # unknown fields per voxel of each phase (c_s, Φ_s on CAM; Φ_e on the SE): the
    # x-slabs of a parallel mesh balance this work, not the voxel count
    phase_weights = {CAM: 2.0, ELECTROLYTE: 1.0, SEPARATOR: 1.0}

    def __init__(self, doms: CellDomains, params: Parameters, current_density: float):
        super().__init__(doms, params, current_density)
        self.Ve = fem.functionspace(doms.electrolyte, ("Lagrange", 1))
        self.phi_e = fem.Function(self.Ve, name="phi_e")
        self.electrolyte_unknowns = [self.phi_e]
        diff_s = make_function(params.cam.diffusivity_solid, "cam.diffusivity_solid")
        self._build_forms(diff_s, {CAM: self.sigma_s})

    def interface_weights(self) -> dict:
        return {IF_ELECTROLYTE: 1.0, IF_CBD: 1.0, IF_SEPARATOR: 1.0}

    def exchange_current(self, c_s, c_e=None):
        p = self.params
        return exchange_current_density(p.cam.k_solid, p.solid_electrolyte.li_concentration,
                                        c_s, p.cam.c_max, p.cam.alpha)

    anode_arguments = ("phi_e",)

    def anode_current_density(self, phi_e):
        """Anodic current density at the Li metal anode (A/m²) from Φ_e (V); numpy
        (complex too) or UFL."""
        a = self.params.anode
        return butler_volmer(a.exchange_current_solid, -phi_e, self.temperature, a.alpha)

    def ionic_current(self):
        """i_e = −σ_e ∇Φ_e (A/m²) on the electrolyte submesh."""
        return -self.params.solid_electrolyte.conductivity * ufl.grad(self.phi_e)

    def electrolyte_residuals(self) -> list:
        d, p = self.doms, self.params
        ve = ufl.TestFunction(self.Ve)
        sigma_e = p.solid_electrolyte.conductivity
        # − w i on Γ: vertex by vertex (``interface``)
        # a constant-coefficient P1 Laplacian: its integrand is constant per cell, one
        # point integrates it exactly (4 points cost 4x, measured 84 -> ~30 ms per Jacobian
        # at 4e4 voxels)
        F_e = sigma_e * ufl.inner(ufl.grad(self.phi_e), ufl.grad(ve)) * d.dx(
            ELECTROLYTE_PHASES, degree=0)
        self.bcs = []
        if p.anode.kinetics == "ideal":
            dofs = fem.locate_dofs_geometrical(self.Ve, lambda xx: np.isclose(xx[0], 0.0))
            self.bcs = [fem.dirichletbc(0.0, dofs, self.Ve)]
        return [F_e]
