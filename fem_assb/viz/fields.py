"""3D field output for ParaView: VTX (ADIOS2 .bp) files per submesh, written during a run.

- ``cam.bp``: lithiation x = c_s/c_max on the CAM (and Φ_s (V) when only the CAM
  conducts electrons, as in the ASSB),
- ``solid.bp``: Φ_s (V) on CAM ∪ CBD (LIB),
- ``electrolyte.bp``: Φ_e (V), the ionic current density magnitude |i_e| (A/m², cell-wise,
  bulk-equivalent in porous regions) and, for the LIB, c_e (mol/m³) on the electrolyte
  set (electrolyte + CBD + separator).
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
        Vc = fem.functionspace(model.doms.cam, ("Lagrange", 1))
        Vs = fem.functionspace(model.doms.solid, ("Lagrange", 1))
        self.x = fem.Function(Vc, name="lithiation")
        self.phi_s = fem.Function(Vs, name="phi_s")
        self._x_expr = fem.Expression(model.c / p.cam.c_max, Vc.element.interpolation_points)
        self._phis_expr = fem.Expression(model.solid_potential(),
                                         Vs.element.interpolation_points)
        Q = fem.functionspace(model.doms.electrolyte, ("DG", 0))
        self.i_e = fem.Function(Q, name="ionic_current_density")
        i_e = model.ionic_current()
        self._ie_expr = fem.Expression(ufl.sqrt(ufl.inner(i_e, i_e)),
                                       Q.element.interpolation_points)
        comm = model.doms.mesh.comm
        self._writers = []
        if model.doms.solid is model.doms.cam:
            self._writers.append(io.VTXWriter(comm, str(d / "cam.bp"), [self.x, self.phi_s],
                                              engine="BP4"))
        else:
            self._writers += [io.VTXWriter(comm, str(d / "cam.bp"), [self.x], engine="BP4"),
                              io.VTXWriter(comm, str(d / "solid.bp"), [self.phi_s],
                                           engine="BP4")]
        ele = [model.phi_e, self.i_e] + ([model.c_e] if hasattr(model, "c_e") else [])
        self._writers.append(io.VTXWriter(comm, str(d / "electrolyte.bp"), ele, engine="BP4"))

    def write(self, t: float) -> None:
        self.x.interpolate(self._x_expr)
        self.phi_s.interpolate(self._phis_expr)
        self.i_e.interpolate(self._ie_expr)
        for w in self._writers:
            w.write(t)

    def close(self) -> None:
        for w in self._writers:
            w.close()
