"""3D field output for ParaView: VTX (ADIOS2 .bp) files per submesh, written during a run.

- ``cam.bp``: lithiation x = c_s/c_max and Φ_s (V) on the CAM,
- ``electrolyte.bp``: Φ_e (V) and the ionic current density magnitude |i_e| (A/m²,
  cell-wise) on the electrolyte (SE + separator).
"""

from __future__ import annotations

from pathlib import Path

import ufl

from fem_assb._dolfinx import fem, io


class FieldWriter:
    """Writes the model's fields at chosen times (s) to VTX files in ``directory``."""

    def __init__(self, model, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        p = model.params
        self.model = model
        Vs = fem.functionspace(model.doms.cam, ("Lagrange", 1))
        self.x = fem.Function(Vs, name="lithiation")
        self.phi_s = fem.Function(Vs, name="phi_s")
        self._x_expr = fem.Expression(model.c / p.cam.c_max, Vs.element.interpolation_points)
        self._phis_expr = fem.Expression(model.solid_potential(),
                                         Vs.element.interpolation_points)
        Q = fem.functionspace(model.doms.electrolyte, ("DG", 0))
        self.i_e = fem.Function(Q, name="ionic_current_density")
        grad = ufl.grad(model.phi_e)
        sigma = p.solid_electrolyte.conductivity
        self._ie_expr = fem.Expression(sigma * ufl.sqrt(ufl.inner(grad, grad)),
                                       Q.element.interpolation_points)
        comm = model.doms.mesh.comm
        self._cam = io.VTXWriter(comm, str(d / "cam.bp"), [self.x, self.phi_s], engine="BP4")
        self._ele = io.VTXWriter(comm, str(d / "electrolyte.bp"), [model.phi_e, self.i_e],
                                 engine="BP4")

    def write(self, t: float) -> None:
        self.x.interpolate(self._x_expr)
        self.phi_s.interpolate(self._phis_expr)
        self.i_e.interpolate(self._ie_expr)
        self._cam.write(t)
        self._ele.write(t)

    def close(self) -> None:
        self._cam.close()
        self._ele.close()
