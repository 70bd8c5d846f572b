"""Weak forms of the all-solid-state cell (ASSB): CAM | solid electrolyte | Li metal.

Unknowns (SI): c_s (mol/m³) and Φ_s (V) on the CAM submesh, Φ_e (V) on the electrolyte
submesh (cathode SE + separator), and the collector potential V (V, one global number).
The Li metal anode is the potential reference (0 V), so V is the cell voltage.

Sign convention: the interface current density i (A/m²) is positive when anodic, i.e.
when it carries positive charge from the CAM into the electrolyte (delithiation); on
discharge i < 0. With n the outward normal of the CAM and of the electrolyte:

    CAM       F ∂c_s/∂t − ∇·(F D_s ∇c_s) = 0,    −F D_s ∇c_s·n = i        on Γ
              −∇·(σ_s ∇Φ_s) = 0,                  −σ_s ∇Φ_s·n = i          on Γ
                                                  −σ_s ∇Φ_s·n = G (Φ_s − V) on the collector
    SE        −∇·(σ_e ∇Φ_e) = 0,                  −σ_e ∇Φ_e·n = −i         on Γ
                                                  −σ_e ∇Φ_e·n = −i_a       at the anode
    V         ∫_collector G (Φ_s − V) ds = I A    (galvanostatic, I > 0 on discharge)

    i   = i0 [exp(αFη/RT) − exp(−(1−α)Fη/RT)],  η = Φ_s − Φ_e − U(c_s/c_max) − i R_f
    i_a = i0,a [exp(α_a F η_a/RT) − exp(−(1−α_a) F η_a/RT)],  η_a = 0 − Φ_e

The Li balance is multiplied by F so that every equation is a current (A). The collector
contact conductance G (default 1e7 S/m²) makes the collector face equipotential: its
voltage error is I/G (8 µV at 8 mA/cm²). A resistive film (R_f > 0) is solved implicitly:
η is then found from η + R_f i(η) = Φ_s − Φ_e − U by a fixed number of Newton steps
written into the form (exact to round-off for R_f i0 F/RT up to ~1e3; see
``film_overpotential``), so the whole system stays one Newton problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import basix.ufl
import numpy as np
import ufl

from fem_assb._dolfinx import dolfinx, fem
from fem_assb.constants import FARADAY, GAS_CONSTANT
from fem_assb.materials import Parameters, butler_volmer, exchange_current_density, make_function
from fem_assb.physics.domains import ANODE, COLLECTOR, ELECTROLYTE_PHASES, INTERFACE, CellDomains
from fem_assb.structure.phases import CAM


def film_overpotential(delta, i0, temperature: float, r_film: float, alpha: float,
                       steps: int = 8):
    """η solving η + R_f i_BV(η) = Δ, unrolled Newton written as a UFL/numpy expression.

    Starts from the linearised solution η0 = Δ / (1 + R_f i0 F/RT) and damps each
    update to at most 4 RT/F, which keeps the exponential in range.
    """
    f = FARADAY / (GAS_CONSTANT * temperature)
    is_ufl = isinstance(delta, ufl.core.expr.Expr)
    exp = ufl.exp if is_ufl else np.exp
    cap = 4.0 / f
    clamp = ((lambda v: ufl.max_value(ufl.min_value(v, cap), -cap)) if is_ufl
             else (lambda v: np.clip(v, -cap, cap)))
    eta = delta / (1.0 + r_film * i0 * f)
    for _ in range(steps):
        ea, ec = exp(alpha * f * eta), exp(-(1.0 - alpha) * f * eta)
        g = eta + r_film * i0 * (ea - ec) - delta
        dg = 1.0 + r_film * i0 * f * (alpha * ea + (1.0 - alpha) * ec)
        eta = eta - clamp(g / dg)
    return eta


@dataclass
class SolidCellModel:
    """Unknowns, residual forms and diagnostics of the ASSB cell."""

    doms: CellDomains
    params: Parameters
    current_density: float  # A/m², > 0 on discharge
    c: fem.Function = field(init=False)
    c_old: fem.Function = field(init=False)
    phi_s: fem.Function = field(init=False)
    phi_e: fem.Function = field(init=False)
    voltage: fem.Function = field(init=False)

    def __post_init__(self):
        d, p = self.doms, self.params
        msh = d.mesh
        self.Vc = fem.functionspace(d.cam, ("Lagrange", 1))
        self.Vs = fem.functionspace(d.cam, ("Lagrange", 1))
        self.Ve = fem.functionspace(d.electrolyte, ("Lagrange", 1))
        self.R = fem.functionspace(msh, basix.ufl.real_element(
            msh.basix_cell(), (), dtype=dolfinx.default_scalar_type))
        self.c, self.c_old = fem.Function(self.Vc, name="c_s"), fem.Function(self.Vc)
        self.phi_s = fem.Function(self.Vs, name="phi_s")
        self.phi_e = fem.Function(self.Ve, name="phi_e")
        self.voltage = fem.Function(self.R, name="V")
        self.dt = fem.Constant(msh, 1.0)
        # Φ_s and V are solved as deviations from a reference potential (the last cell
        # voltage): the residuals then have no rounding floor from ~4 V potentials.
        self.v_ref = fem.Constant(msh, 0.0)
        self.current = fem.Constant(msh, float(self.current_density))
        self.ocv = make_function(p.cam.ocv, "cam.ocv")
        self.sigma_s = make_function(p.cam.conductivity, "cam.conductivity")
        self.diff_s = make_function(p.cam.diffusivity_solid, "cam.diffusivity_solid")
        self._build_forms()

    # -- physics ----------------------------------------------------------------------
    def interface_current(self):
        """UFL expression of the interface current density i (A/m², anodic > 0) on Γ."""
        p = self.params
        c_p = self.c("+")
        i0 = exchange_current_density(p.cam.k_solid, p.solid_electrolyte.li_concentration,
                                      c_p, p.cam.c_max, p.cam.alpha)
        delta = self.phi_s("+") + self.v_ref - self.phi_e("-") - self.ocv(c_p / p.cam.c_max)
        r_f = p.film.resistance
        T = p.operation.temperature
        eta = delta if r_f == 0 else film_overpotential(delta, i0, T, r_f, p.cam.alpha)
        return butler_volmer(i0, eta, T, p.cam.alpha)

    def anode_current(self):
        """Anodic current density at the Li metal anode (A/m²)."""
        a = self.params.anode
        return butler_volmer(a.exchange_current_solid, -self.phi_e,
                             self.params.operation.temperature, a.alpha)

    def _build_forms(self):
        d, p = self.doms, self.params
        dx, ds = d.dx, d.ds
        # vertex quadrature on the interface: the Butler–Volmer flux into a node depends
        # on that node's state only, so a saturated surface node takes no more lithium
        # (with Gauss points it keeps receiving flux from its neighbours' state)
        dS = d.dS(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})
        c, phi_s, phi_e, V = self.c, self.phi_s, self.phi_e, self.voltage
        vc, vs = ufl.TestFunction(self.Vc), ufl.TestFunction(self.Vs)
        ve, q = ufl.TestFunction(self.Ve), ufl.TestFunction(self.R)
        x = c / p.cam.c_max
        i_bv = self.interface_current()
        G = p.collector.contact_conductance
        j_coll = G * (phi_s - V)  # current leaving the CAM into the collector
        cam, ele = dx(CAM), dx(ELECTROLYTE_PHASES)
        sigma_e = p.solid_electrolyte.conductivity

        F_c = (FARADAY * (c - self.c_old) / self.dt * vc * cam
               + FARADAY * self.diff_s(x) * ufl.inner(ufl.grad(c), ufl.grad(vc)) * cam
               + i_bv * vc("+") * dS(INTERFACE))
        F_s = (self.sigma_s(x) * ufl.inner(ufl.grad(phi_s), ufl.grad(vs)) * cam
               + i_bv * vs("+") * dS(INTERFACE) + j_coll * vs * ds(COLLECTOR))
        F_e = (sigma_e * ufl.inner(ufl.grad(phi_e), ufl.grad(ve)) * ele
               - i_bv * ve("-") * dS(INTERFACE))
        self.bcs = []
        if p.anode.kinetics == "ideal":
            dofs = fem.locate_dofs_geometrical(self.Ve, lambda xx: np.isclose(xx[0], 0.0))
            self.bcs = [fem.dirichletbc(0.0, dofs, self.Ve)]
        else:
            F_e -= self.anode_current() * ve * ds(ANODE)
        A, A_coll = d.cross_section, d.collector_area
        F_V = (j_coll - self.current * A / A_coll) * q * ds(COLLECTOR)
        self.residuals = [F_c, F_s, F_e, F_V]
        self.unknowns = [c, phi_s, phi_e, V]

        em = d.entity_maps
        self.diagnostics = {
            "interface_current_A": fem.form(i_bv * dS(INTERFACE), entity_maps=em),
            "collector_current_A": fem.form(j_coll * ds(COLLECTOR), entity_maps=em),
            "lithium_mol": fem.form(c * cam, entity_maps=em),
            "lithium_old_mol": fem.form(self.c_old * cam, entity_maps=em),
        }

    # -- state ------------------------------------------------------------------------
    def set_rest_state(self):
        """Uniform CAM stoichiometry x0 at open circuit: Φ_s = V = U(x0), Φ_e = 0."""
        p = self.params
        x0 = p.operation.initial_stoichiometry
        u0 = float(self.ocv(np.array(x0)))
        self.c.x.array[:] = x0 * p.cam.c_max
        self.c_old.x.array[:] = self.c.x.array
        self.phi_s.x.array[:] = 0.0
        self.phi_e.x.array[:] = 0.0
        self.voltage.x.array[:] = 0.0
        self.v_ref.value = u0
        return u0

    def recenter(self) -> None:
        """Move the reference potential to the present cell voltage (no change of state)."""
        w = self._deviation()
        self.v_ref.value = float(self.v_ref.value) + w
        self.phi_s.x.array[:] -= w
        self.voltage.x.array[:] -= w

    def state(self) -> list:
        return [u.x.array.copy() for u in self.unknowns] + [float(self.v_ref.value)]

    def restore(self, saved: list) -> None:
        for u, a in zip(self.unknowns, saved[:-1], strict=True):
            u.x.array[:] = a
            u.x.scatter_forward()
        self.v_ref.value = saved[-1]

    def _deviation(self) -> float:

        arr = self.voltage.x.array
        local = float(arr[0]) if arr.size else 0.0
        # the real dof lives (owned or ghost) on every rank; rank 0 speaks for all
        return self.doms.mesh.comm.bcast(local, root=0)

    def cell_voltage(self) -> float:
        """Collector potential vs the Li anode (V)."""
        return float(self.v_ref.value) + self._deviation()

    def solid_potential(self):
        """Φ_s (V) as a UFL expression on the CAM submesh."""
        return self.phi_s + self.v_ref

    def integral(self, name: str) -> float:
        from fem_assb._dolfinx import MPI

        val = fem.assemble_scalar(self.diagnostics[name])
        return self.doms.mesh.comm.allreduce(val, op=MPI.SUM)
