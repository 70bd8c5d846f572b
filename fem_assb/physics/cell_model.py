"""What every cell model shares: the CAM (c_s, Φ_s), the collector and the cell voltage,
the Butler–Volmer interface (+ resistive film), and the state handling of a time step.

Sign convention: the interface current density i (A/m²) is positive when anodic, i.e.
when it carries positive charge from the CAM into the electrolyte (delithiation); on
discharge i < 0. With n the outward normal of the CAM:

    CAM        F ∂c_s/∂t − ∇·(F D_s ∇c_s) = 0,   −F D_s ∇c_s·n = w i      on Γ
               −∇·(σ ∇Φ_s) = 0 (CAM, and CBD in the LIB),
                                                 −σ ∇Φ_s·n = w i          on Γ
                                                 −σ ∇Φ_s·n = G (Φ_s − V)  on the collector
    V          ∫_collector G (Φ_s − V) ds = I A  (galvanostatic, I > 0 on discharge)

    i = i0 [exp(αFη/RT) − exp(−(1−α)Fη/RT)],  η = Φ_s − Φ_e − U(c_s/c_max) − i R_f

The facet terms (interface, collector, anode) use vertex quadrature and are assembled
vertex by vertex (``fem_assb.physics.nodal``). w is the active fraction of an interface
facet: 1 on CAM|electrolyte, the porosity of the porous neighbour on CAM|CBD and
CAM|separator facets of the LIB (only its pores hold electrolyte). The Li balance is
multiplied by F so that every equation is a current (A). The collector contact
conductance G (default 1e7 S/m²) makes the collector face equipotential: its voltage
error is I/G (8 µV at 8 mA/cm²). Φ_s and V are solved
as deviations from a reference potential ``v_ref`` (the last cell voltage), so the
residuals have no rounding floor from ~4 V potentials.
"""

from __future__ import annotations

import basix.ufl
import numpy as np
import ufl

from fem_assb._dolfinx import MPI, dolfinx, fem
from fem_assb.constants import FARADAY, GAS_CONSTANT
from fem_assb.materials import Parameters, butler_volmer, make_function
from fem_assb.physics.contract import Inventory
from fem_assb.physics.domains import ANODE, COLLECTOR, CellDomains
from fem_assb.physics.interface import NodalInterface
from fem_assb.physics.nodal import NodalTerm, VoltageHold
from fem_assb.physics.skin import (
    SkinInterface,
    SkinSettings,
    interface_vertices,
    skin_geometry,
)
from fem_assb.protocol.events import StopReason, ThresholdEvent
from fem_assb.structure.phases import CAM

# charge: c_s below −EXHAUSTED_OVERSHOOT × overfill × c_max ends the step (see stop_events)
EXHAUSTED_OVERSHOOT = 5.0


def film_overpotential(delta, i0, temperature: float, r_film: float, alpha: float,
                       steps: int = 8):
    """η solving η + R_f i_BV(η) = Δ, unrolled Newton written as a UFL/numpy expression.

    Starts from the linearised solution η0 = Δ / (1 + R_f i0 F/RT) and damps each
    update to at most 4 RT/F, which keeps the exponential in range (exact to round-off
    for R_f i0 F/RT up to ~1e3).
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


FRONT_MOVED = 0.1  # of c_max − c_0: a core node moved this much has the front past its column


class CellModel:
    """Base of the ASSB and LIB models: CAM unknowns, collector, voltage, state.

    Implements ``fem_assb.physics.contract.CellModel``. Unknowns are addressed by name
    (``fields``; ``unknown(name)``). Subclasses set ``electrolyte_unknowns`` (functions
    on the electrolyte submesh, after V in the block order) and ``anode_arguments``
    (unknown names, Φ_e last), implement
    ``exchange_current``, ``electrolyte_residuals`` and ``anode_current_density``, and
    may add diagnostics.
    """

    # {phase id: unknown fields per voxel} for balancing parallel x-slabs (None: equal)
    phase_weights: dict | None = None

    def __init__(self, doms: CellDomains, params: Parameters, current_density: float):
        self.doms, self.params = doms, params
        self.current_density = float(current_density)  # A/m², > 0 on discharge
        p, msh = params, doms.mesh
        self.temperature = p.operation.temperature
        self.Vc = fem.functionspace(doms.cam, ("Lagrange", 1))
        # Φ_s on the CAM alone (ASSB) shares c_s's space: one dof map, not two
        self.Vs = self.Vc if doms.solid is doms.cam else fem.functionspace(
            doms.solid, ("Lagrange", 1))
        self.R = fem.functionspace(msh, basix.ufl.real_element(
            msh.basix_cell(), (), dtype=dolfinx.default_scalar_type))
        self.c, self.c_old = fem.Function(self.Vc, name="c_s"), fem.Function(self.Vc)
        self.phi_s = fem.Function(self.Vs, name="phi_s")
        self.voltage = fem.Function(self.R, name="V")
        self.dt = fem.Constant(msh, 1.0)
        self.v_ref = fem.Constant(msh, 0.0)
        self.current = fem.Constant(msh, self.current_density)
        self.ocv = make_function(p.cam.ocv, "cam.ocv")
        self.sigma_s = make_function(p.cam.conductivity, "cam.conductivity")
        # vertex quadrature on the interface: the Butler–Volmer flux into a node depends
        # on that node's state only, so a saturated surface node takes no more lithium
        # (with Gauss points it keeps receiving flux from its neighbours' state)
        self.dS = doms.dS(metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})

    # -- physics ----------------------------------------------------------------------
    def interface_weights(self) -> dict:
        """{dS id: active fraction w} of the interface facets (see the module docstring)."""
        raise NotImplementedError

    def exchange_current(self, c_s, c_e=None):
        """i0 (A/m²) from the CAM surface concentration c_s and (LIB) the electrolyte
        concentration c_e (mol/m³); numpy (complex too) or UFL."""
        raise NotImplementedError

    def interface_current_density(self, c_s, phi_s, phi_e, c_e=None):
        """Interface current density i (A/m², anodic > 0) from the values on the two
        sides: c_s, Φ_s (absolute, V), Φ_e (V) [, c_e]; numpy (complex too) or UFL."""
        p = self.params
        i0 = self.exchange_current(c_s, c_e)
        delta = phi_s - phi_e - self.ocv(c_s / p.cam.c_max)
        r_f = p.film.resistance
        T = self.temperature
        eta = delta if r_f == 0 else film_overpotential(delta, i0, T, r_f, p.cam.alpha)
        return butler_volmer(i0, eta, T, p.cam.alpha)

    def interface_current(self):
        """UFL expression of i on Γ ('+' = CAM side, '−' = electrolyte side)."""
        c_e = self.interface_electrolyte_concentration()
        return self.interface_current_density(self.c("+"), self.phi_s("+") + self.v_ref,
                                              self.phi_e("-"), c_e)

    def interface_electrolyte_concentration(self):
        """c_e on the interface's electrolyte side (UFL), or None where the electrolyte's
        concentration is fixed (the solid electrolyte)."""
        return None

    def interface_integral(self, integrand_of_i):
        """Σ_k w_k ∫_Γk g(i) dS with vertex quadrature, as a UFL form (the residuals
        assemble the same terms vertex by vertex: ``interface``; this form is their
        independent check on the facets' own areas, without a smoothed mesh's
        ``area_factor``)."""
        i_bv = self.interface_current()
        return sum(w * integrand_of_i(i_bv) * self.dS(k)
                   for k, w in self.interface_weights().items())

    def _build_forms(self, diffusivity, solid_conductivities: dict):
        """Residuals of c_s, Φ_s, the electrolyte unknowns and V; diagnostics.

        Args:
            diffusivity: D_s(x) (m²/s) as a function of the stoichiometry.
            solid_conductivities: {phase id: σ(x) or constant} of the electron conductors.
        """
        d, p = self.doms, self.params
        dx = d.dx
        c, phi_s = self.c, self.phi_s
        vc, vs = ufl.TestFunction(self.Vc), ufl.TestFunction(self.Vs)
        q = ufl.TestFunction(self.R)
        x = c / p.cam.c_max
        G = p.collector.contact_conductance
        # the interface terms (+w i in F_c and F_s, −w i in the electrolyte charge
        # balance) are added vertex by vertex: ``self.interface``
        self.entity_maps = list(d.entity_maps)
        self.diffusivity = diffusivity
        store, flux, li = self._cam_measures(diffusivity)
        F_c = (FARADAY * (c - self.c_old) / self.dt * vc * store
               + FARADAY * diffusivity(x) * ufl.inner(ufl.grad(c), ufl.grad(vc)) * flux)
        F_s = 0
        for phase, sigma in solid_conductivities.items():
            if phase == CAM:
                F_s += sigma(x) * ufl.inner(ufl.grad(phi_s), ufl.grad(vs)) * dx(phase)
            else:  # constant σ: one point is exact for the constant integrand
                F_s += sigma * ufl.inner(ufl.grad(phi_s), ufl.grad(vs)) * dx(phase, degree=0)
        # the collector (+G (Φ_s − V) in F_s and F_V, −I A in F_V) and the anode kinetics
        # (−i_anode in the electrolyte charge balance) are nodal too: ``self.collector``,
        # ``self.anode``. F_V then has no UFL term.
        F_V = ufl.ZeroBaseForm((q,))
        # V next to Φ_s: the solver's groups (Φ_s with V, ...) are contiguous blocks
        self.residuals = [F_c, F_s, F_V, *self.electrolyte_residuals()]
        self.unknowns = [c, phi_s, self.voltage, *self.electrolyte_unknowns]
        # potentials relative to v_ref (for the predictor)
        self.referenced = [False, True, True] + [False] * len(self.electrolyte_unknowns)
        em = self.entity_maps
        self.interface = (NodalInterface(self) if self.skin is None
                          else SkinInterface(self, self.skin, diffusivity))
        A, A_coll = d.cross_section, d.collector_area
        self.collector = NodalTerm(
            self, [(d.boundary_entities[COLLECTOR], 1.0)], args=("phi_s", "V"),
            rows={"phi_s": 1.0, "V": 1.0},
            function=lambda phi, v: G * (phi - v),  # j_coll (A/m²), both relative to v_ref
            sources={"V": lambda: -float(self.current.value) * A / A_coll})
        self.anode = None if p.anode.kinetics == "ideal" else NodalTerm(
            self, [(d.boundary_entities[ANODE], 1.0)], args=self.anode_arguments,
            rows={self.anode_arguments[-1]: -1.0}, function=self.anode_current_density)
        # a constant-voltage hold replaces F_V (the collector's current balance) by
        # G A_coll (V − V_set) = 0
        self.voltage_hold = VoltageHold(self, "V", G * A_coll)
        self.nodal_terms = [t for t in (self.interface, self.collector, self.anode,
                                        self.voltage_hold) if t]
        self.lithium_form = fem.form(c * li, entity_maps=em)

    def _cam_measures(self, diffusivity):
        """(storage, flux, inventory) measures of c_s: the CAM cells, or with a resolved
        skin (``params.resolution.skin``) the moved core, storage lumped at its vertices."""
        res, cam = self.params.resolution, self.doms.dx(CAM)
        self.skin = None
        if not res.skin:
            return cam, cam, cam
        settings = SkinSettings(res.depth_um * 1e-6, res.first_cell_nm, res.growth)
        self.skin = skin_geometry(self, settings)
        self.entity_maps.append(self.skin.core_map)
        flux = ufl.Measure("dx", domain=self.skin.core, metadata={"quadrature_degree": 2})
        lumped = ufl.Measure("dx", domain=self.skin.core,
                             metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})
        self._core_storage = lumped
        return lumped, flux, lumped

    # -- operation --------------------------------------------------------------------
    def set_current(self, current_density: float) -> None:
        """Galvanostatic operation at ``current_density`` (A/m²; > 0 discharge, < 0
        charge, 0 open circuit): F_V balances the collector current against it."""
        self.current_density = float(current_density)
        self.current.value = self.current_density
        self.collector.rows[self.fields.index("V")] = 1.0
        self.voltage_hold.target = None

    def hold_voltage(self, volts: float) -> None:
        """Potentiostatic operation: the cell voltage is held at ``volts`` (V) and the
        current (``cell_current``) follows."""
        self.collector.rows[self.fields.index("V")] = 0.0
        self.voltage_hold.target = float(volts)

    def ocv_window(self) -> tuple[float, float]:
        """(lowest, highest) open-circuit voltage of the CAM (V), at x = 1 and x = 0
        (within 1e-6)."""
        u = self.ocv(np.array([1.0 - 1e-6, 1e-6]))
        return float(u[0]), float(u[1])

    def cell_current(self) -> float:
        """The current density through the collector (A/m² of cross-section, > 0 on
        discharge): the applied one in galvanostatic operation (at convergence)."""
        return self.collector.total() / self.doms.cross_section

    # -- state ------------------------------------------------------------------------
    def set_rest_state(self) -> float:
        """Uniform CAM stoichiometry x0 at open circuit: Φ_s = V = U(x0), Φ_e = 0.
        Returns the rest voltage (V)."""
        p = self.params
        x0 = p.operation.initial_stoichiometry
        u0 = float(self.ocv(np.array(x0)))
        self.c.x.array[:] = x0 * p.cam.c_max
        self.c_old.x.array[:] = self.c.x.array
        if self.skin is not None:
            self.interface.columns.u[:] = x0 * p.cam.c_max
            self.interface.columns.u_old[:] = x0 * p.cam.c_max
        for u in (self.phi_s, self.phi_e, self.voltage):
            u.x.array[:] = 0.0
        self.v_ref.value = u0
        return u0

    def begin_step(self, dt: float) -> None:
        """Take the present state as the old time level of a step of ``dt`` s."""
        self.c_old.x.array[:] = self.c.x.array
        if self.skin is not None:
            self.interface.columns.u_old[:] = self.interface.columns.u
        self.dt.value = dt

    def bounds(self, u):
        """(lower, upper) limits of an unknown for the predictor (None: unbounded)."""
        if u is self.c:
            return 0.0, self.params.cam.c_max
        return None, None

    def recenter(self) -> None:
        """Move the reference potential to the present cell voltage (no change of state)."""
        w = self._deviation()
        self.v_ref.value = float(self.v_ref.value) + w
        self.phi_s.x.array[:] -= w
        self.voltage.x.array[:] -= w

    def state(self) -> list:
        """The unknowns' local arrays, the skin's columns (if resolved), v_ref."""
        extra = [] if self.skin is None else [self.interface.columns.u.copy()]
        return [u.x.array.copy() for u in self.unknowns] + extra + [float(self.v_ref.value)]

    def restore(self, saved: list) -> None:
        n = len(self.unknowns)
        for u, a in zip(self.unknowns, saved[:n], strict=True):
            u.x.array[:] = a
            u.x.scatter_forward()
        if self.skin is not None:
            self.interface.columns.u[:] = saved[n]
        self.v_ref.value = saved[-1]

    def predict(self, history: list, times: list, t_new: float) -> None:
        """Start the next step from the polynomial extrapolation in time through the
        present state and the earlier accepted states ``history`` (from ``state()``);
        ``times`` holds their times and, last, the present time (s); one earlier state:
        linear, two: quadratic. Extrapolates to ``t_new`` (s).

        Where the extrapolation leaves an unknown's ``bounds``, it keeps its value."""
        v_ref = float(self.v_ref.value)
        # Lagrange weights of the nodes (earlier states..., present) at t_new
        ts = list(times)
        w = []
        for a, ta in enumerate(ts):
            wa = 1.0
            for b, tb in enumerate(ts):
                if b != a:
                    wa *= (t_new - tb) / (ta - tb)
            w.append(wa)
        for k, (u, ref) in enumerate(zip(self.unknowns, self.referenced, strict=True)):
            now = u.x.array
            pred = w[-1] * now
            for wa, old in zip(w[:-1], history, strict=True):
                shift = (v_ref - old[-1]) if ref else 0.0  # old in the present reference
                pred = pred + wa * (old[k] - shift)
            lo, hi = self.bounds(u)
            if lo is not None:
                pred = np.where(pred < lo, now, pred)
            if hi is not None:
                pred = np.where(pred > hi, now, pred)
            u.x.array[:] = pred
            u.x.scatter_forward()

    def _deviation(self) -> float:
        arr = self.voltage.x.array
        local = float(arr[0]) if arr.size else 0.0
        # the real dof lives (owned or ghost) on every rank; rank 0 speaks for all
        return self.doms.mesh.comm.bcast(local, root=0)

    def cell_voltage(self) -> float:
        """Collector potential vs the Li anode (V)."""
        return float(self.v_ref.value) + self._deviation()

    def solid_potential(self):
        """Φ_s (V) as a UFL expression on the electron-conducting submesh."""
        return self.phi_s + self.v_ref

    def unknown(self, name: str):
        """The unknown ``name`` (one of ``fields``)."""
        return self.unknowns[self.fields.index(name)]

    @property
    def comm(self):
        return self.doms.mesh.comm

    @property
    def cross_section(self) -> float:
        return self.doms.cross_section

    def assembled(self, form) -> float:
        """A scalar form summed over ranks."""
        return self.doms.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)

    def interface_current_total(self) -> float:
        """∫_Γ w i dS (A), summed over ranks."""
        return self.interface.total_current()

    def inventory(self) -> Inventory:
        return Inventory(lithium_mol=self.cam_lithium())

    def cam_lithium(self) -> float:
        """mol of lithium in the CAM (core and skin), summed over ranks."""
        local = fem.assemble_scalar(self.lithium_form)
        if self.skin is not None:
            local += self.interface.lithium()
        return self.doms.mesh.comm.allreduce(local, op=MPI.SUM)

    def vertex_lithium(self) -> np.ndarray | None:
        """With a resolved skin: mol of Li per local c_s dof (owned + ghost), the core's
        lumped storage plus the column under the vertex; None without a skin."""
        if self.skin is None:
            return None
        # a column lives on every rank that holds a facet at its vertex: each adds its share
        itf, cols = self.interface, dolfinx.la.vector(self.Vc.dofmap.index_map)
        np.add.at(cols.array, itf.dofs[:, itf.jc],
                  itf.share * np.sum(itf.columns.vol * itf.columns.u, axis=1))
        cols.scatter_reverse(dolfinx.la.InsertMode.add)
        cols.scatter_forward()
        return self._core_volumes() * self.c.x.array + cols.array

    def surface_resolution(self, duration_s: float) -> float:
        """The finest c_s storage at the interface over the diffusion length
        √(D_s(x_surf) t) after ``duration_s`` (s), worst interface vertex: the skin's
        first cell, or a surface node's lumped volume over its area; NaN for t = 0."""
        if not duration_s > 0:
            return float("nan")
        thickness, c_surf = self._surface_storage()
        D = np.real(self.diffusivity(c_surf / self.params.cam.c_max))
        local = float(np.max(thickness / np.sqrt(D * duration_s))) if thickness.size else 0.0
        return self.comm.allreduce(local, op=MPI.MAX)

    def front_resolution(self) -> float:
        """Where the lithium front has left the skin's columns for the core: the core's
        storage thickness at a column's inner end over the front's depth (the lithium
        taken up per area over c_max − c_0), area-weighted over the interface vertices
        whose core node has moved by more than ``FRONT_MOVED`` of c_max − c_0; 0 where
        every front is inside its column, NaN without a skin. The core's P1 elements
        smear a front over an element: a figure near 1 means the capacity depends on
        them (> 0.5: under-resolved)."""
        if self.skin is None:
            return float("nan")
        itf, cmax = self.interface, self.params.cam.c_max
        c0 = self.params.operation.initial_stoichiometry * cmax
        rows = itf.dofs[:, itf.jc]
        W = np.where(itf.w_total > 0, itf.w_total, np.inf)
        core, thickness = self.c.x.array[rows], self._core_volumes()[rows] / W
        swing = cmax - c0
        taken = np.sum(itf.columns.vol * (itf.columns.u - c0), axis=1) / W \
            + thickness * (core - c0)
        depth = np.abs(taken) / swing
        moved = np.abs(core - c0) > FRONT_MOVED * swing
        ratio = np.where(moved & (depth > 0), thickness / np.where(depth > 0, depth, 1.0),
                         0.0)
        num, den = (self.comm.allreduce(float(np.dot(itf.weight, v)), op=MPI.SUM)
                    for v in (ratio, np.ones_like(ratio)))
        return num / den if den > 0 else 0.0

    def _core_volumes(self) -> np.ndarray:
        """m³ of the skin's moved core lumped at each local c_s dof (owned + ghost),
        assembled once (the core does not move after the set-up)."""
        if not hasattr(self, "_core_volume_cache"):
            vol = fem.assemble_vector(fem.form(ufl.TestFunction(self.Vc) * self._core_storage,
                                               entity_maps=self.entity_maps))
            vol.scatter_reverse(dolfinx.la.InsertMode.add)
            vol.scatter_forward()
            self._core_volume_cache = vol.array.copy()
        return self._core_volume_cache

    def _surface_storage(self):
        """(thickness m, c_s mol/m³) of the outermost storage at each interface row."""
        if self.skin is not None:
            cols = self.interface.columns
            return cols.first, cols.u[:, 0]
        if not hasattr(self, "_surface_thickness"):
            area = interface_vertices(self)[0]
            lumped = ufl.Measure("dx", domain=self.doms.mesh, subdomain_data=self.doms.vm.cell_tags,
                                 metadata={"quadrature_rule": "vertex", "quadrature_degree": 1})
            vol = fem.assemble_vector(fem.form(ufl.TestFunction(self.Vc) * lumped(CAM),
                                               entity_maps=self.entity_maps))
            vol.scatter_reverse(dolfinx.la.InsertMode.add)
            vol.scatter_forward()
            rows = self.interface.dofs[:, self.interface.args.index(self.fields.index("c"))]
            self._surface_thickness = vol.array[rows] / area[rows]
        rows = self.interface.dofs[:, self.interface.args.index(self.fields.index("c"))]
        return self._surface_thickness, self.c.x.array[rows]

    def max_concentration(self) -> float:
        """Highest c_s (mol/m³) anywhere in the CAM (the skin's columns included)."""
        local = self.c.x.array.max() if self.c.x.array.size else -np.inf
        if self.skin is not None:
            local = max(local, self.interface.maximum())
        return self.doms.mesh.comm.allreduce(float(local), op=MPI.MAX)

    def min_concentration(self) -> float:
        """Lowest c_s (mol/m³) anywhere in the CAM (the skin's columns included)."""
        local = self.c.x.array.min() if self.c.x.array.size else np.inf
        if self.skin is not None:
            local = min(local, self.interface.minimum())
        return self.doms.mesh.comm.allreduce(float(local), op=MPI.MIN)

    def error_entries(self) -> tuple[list[int], float]:
        c = self.fields.index("c")
        skin = [] if self.skin is None else [len(self.unknowns)]  # the columns' entry
        return [c, *skin], self.params.cam.c_max

    def stop_events(self, control) -> list:
        """CAM saturated on discharge (c_s beyond (1 + overfill) c_max anywhere: one
        saturated surface is no stop, the current moves elsewhere; beyond it the model
        has left its range) and CAM exhausted on charge (c_s below −5 overfill c_max
        somewhere, or below +overfill c_max where no step size converges any more:
        emptied, and the voltage would climb without bound). A surface node of the ASSB
        undershoots zero by ~1 % in ordinary charges (D_s is small near x = 0: a steep
        front the voxel mesh does not resolve), hence the wider bound on charge."""
        c_max = self.params.cam.c_max
        return [ThresholdEvent(StopReason.CAM_SATURATED, self.max_concentration,
                               (1.0 + control.overfill) * c_max, above=True, direction=1),
                ThresholdEvent(StopReason.CAM_EXHAUSTED, lambda: self.min_concentration() / c_max,
                               -EXHAUSTED_OVERSHOOT * control.overfill, above=False,
                               direction=-1,
                               warning="the CAM is empty at its surface: min c_s/c_max",
                               failure_bound=control.overfill)]

    def collector_dof_count(self) -> int:
        """Global number of Φ_s unknowns on the collector: the cell voltage V's couplings
        (a dense row and column of the Jacobian)."""
        b = dolfinx.la.vector(self.Vs.dofmap.index_map)
        b.array[:] = np.bincount(self.collector.dofs[:, 0], minlength=b.array.size)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        n_own = self.Vs.dofmap.index_map.size_local
        return self.doms.mesh.comm.allreduce(int(np.count_nonzero(b.array[:n_own])),
                                             op=MPI.SUM)

    def minimum(self, u) -> float:
        """Global minimum of a P1 function's nodal values."""
        loc = u.x.array
        return self.doms.mesh.comm.allreduce(float(loc.min()) if loc.size else np.inf,
                                             op=MPI.MIN)

    def maximum(self, u) -> float:
        loc = u.x.array
        return self.doms.mesh.comm.allreduce(float(loc.max()) if loc.size else -np.inf,
                                             op=MPI.MAX)
