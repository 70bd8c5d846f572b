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

import numpy as np
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


class FieldObserver:
    """A time-loop observer (``fem_assb.protocol.observers``) writing the fields every
    ``every`` accepted steps (0: the end state only) and at the end."""

    def __init__(self, model, directory, every: int = 0):
        self.writer = FieldWriter(model, directory)
        self.every = every
        self.writer.write(0.0)

    def accepted(self, rec) -> None:
        if self.every and rec.steps % self.every == 0:
            self.writer.write(rec.time_s)

    def finished(self, rec) -> None:
        self.writer.write(rec.time_s)
        self.writer.close()


def render_fields(model, path, window_size=(1800, 600)) -> Path | None:
    """Off-screen picture of the present state in three views (the study's Fig. 6d/9):
    CAM lithiation x = c_s/c_max, electrolyte potential Φ_e (V) and the ionic current
    density |i_e| (A/m², hot spots bright; bulk-equivalent in porous regions).

    Serial runs only (under MPI the fields are distributed; use the VTX files with
    ParaView): returns None and draws nothing when the mesh has more than one rank.
    """
    from fem_assb._dolfinx import plot
    from fem_assb.viz.structure import _offscreen_pyvista

    if model.doms.mesh.comm.size > 1:
        return None
    pv = _offscreen_pyvista()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    p = model.params
    Vc = fem.functionspace(model.doms.cam, ("Lagrange", 1))
    x = fem.Function(Vc)
    x.interpolate(fem.Expression(model.c / p.cam.c_max, Vc.element.interpolation_points))
    Q = fem.functionspace(model.doms.electrolyte, ("DG", 0))
    ie = fem.Function(Q)
    i_e = model.ionic_current()
    ie.interpolate(fem.Expression(ufl.sqrt(ufl.inner(i_e, i_e)), Q.element.interpolation_points))

    def grid(V, values, name, cell=False):
        g = pv.UnstructuredGrid(*plot.vtk_mesh(V.mesh if cell else V))
        g.points[:] *= 1e6  # µm
        (g.cell_data if cell else g.point_data)[name] = values
        return g

    cam = grid(Vc, x.x.array, "lithiation")
    ele_p = grid(model.phi_e.function_space, model.phi_e.x.array.copy(), "phi_e (V)")
    n_cells = model.doms.electrolyte.topology.index_map(3).size_local
    ele_i = grid(Q, ie.x.array[Q.dofmap.list[:n_cells, 0]], "|i_e| (A/m²)", cell=True)
    pl = pv.Plotter(off_screen=True, shape=(1, 3), window_size=list(window_size))
    pl.set_background("white")
    vmax = float(np.percentile(ele_i.cell_data["|i_e| (A/m²)"], 99.5))
    panels = (  # grid, array, colour map, range, bar format, panel title
        (cam, "lithiation", "viridis", (p.operation.initial_stoichiometry, 1.0), "%.2f",
         "CAM lithiation x = c_s / c_max"),
        (ele_p, "phi_e (V)", "coolwarm", None, "%.3f", "electrolyte potential (V)"),
        (ele_i, "|i_e| (A/m²)", "inferno", (0.0, vmax), "%.0f",
         "ionic current density (A/m^2)"))
    for k, (g, name, cmap, clim, fmt, title) in enumerate(panels):
        pl.subplot(0, k)
        pl.add_text(title, position="upper_edge", font_size=12, color="black")
        # one bar per panel: pyvista keys its scalar bars by title
        pl.add_mesh(g, scalars=name, cmap=cmap, clim=clim, scalar_bar_args={
            "title": name, "color": "black", "n_labels": 3, "fmt": fmt, "position_x": 0.2,
            "width": 0.6, "label_font_size": 13, "title_font_size": 13})
        pl.add_mesh(g.outline(), color="black")
        # x (anode -> collector) to the right, as in ``render_structure``
        pl.view_vector((1.0, -1.6, 0.9), viewup=(0.0, 0.0, 1.0))
        pl.reset_camera()
        pl.camera.zoom(0.9)
    pl.screenshot(str(path))
    pl.close()
    return path
