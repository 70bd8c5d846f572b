"""CAM utilisation and electrolyte concentration along x: plane means of a model's
fields (the study's utilisation and c_e profiles)."""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI
from fem_assb.physics import CellModel, LiquidCellModel
from fem_assb.structure.phases import CAM


def _plane_sums(model: CellModel, func, submesh_index: int, weight_of_label: dict,
                cell_volumes: bool = False):
    """Sums per x-plane of the mesh (voxel planes; slices of the mean cell size for
    imported meshes) of a P1 function's cell means at the centroids and of the weights,
    each cell weighted by its parent cell's label (and its volume if ``cell_volumes``).
    Returns (x in µm from the separator|cathode face, sums, weights, separator planes)."""
    from fem_assb._dolfinx import fem

    vm = model.doms.vm
    submesh = func.function_space.mesh
    Q = fem.functionspace(submesh, ("DG", 0))
    cbar = fem.Function(Q)
    cbar.interpolate(func)  # cell means of P1 (exact at the centroid)
    # parent cell of every owned submesh cell, through the entity map (the submesh
    # numbering is the partition's business, so no ordering is assumed)
    n_owned = submesh.topology.index_map(3).size_local
    parent = model.doms.entity_maps[submesh_index].sub_topology_to_topology(
        np.arange(n_owned, dtype=np.int32), False)
    cells = Q.dofmap.list[:n_owned, 0]
    vals = cbar.x.array[cells]
    w = np.zeros(256)
    for label, weight in weight_of_label.items():
        w[label] = weight
    wc = w[vm.cell_tags.values[parent]]
    if cell_volumes:
        import ufl

        wc = wc * fem.assemble_vector(fem.form(ufl.TestFunction(Q) * ufl.dx)).array[cells]
    planes = vm.cell_planes(parent)
    nx = vm.num_planes
    s = np.bincount(planes, weights=wc * vals, minlength=nx)
    n = np.bincount(planes, weights=wc, minlength=nx)
    comm = vm.comm
    s, n = comm.allreduce(s, op=MPI.SUM), comm.allreduce(n, op=MPI.SUM)
    width = vm.plane_width
    n_sep = int(round(vm.separator_thickness / width))
    xs = ((np.arange(nx) + 0.5) * width - vm.separator_thickness) * 1e6
    return xs, s, n, n_sep


def _plane_means(model: CellModel, func, submesh_index: int, weight_of_label: dict):
    """Weighted mean of a P1 function per x-plane (``_plane_sums``, cells counted
    alike). Returns (x in µm, values, number of separator planes)."""
    xs, s, n, n_sep = _plane_sums(model, func, submesh_index, weight_of_label)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xs, s / n, n_sep


def _skin_plane_lithiation(model: CellModel, lithium: np.ndarray):
    """Lithiation c_s/c_max per x-plane with a resolved skin: each vertex's lithium
    (core and column, ``vertex_lithium``) over its lumped share of the true CAM volume,
    volume-weighted per plane, so that the planes' lithium adds up to the CAM's."""
    import ufl

    from fem_assb._dolfinx import dolfinx, fem

    V = model.c.function_space
    mass = fem.assemble_vector(fem.form(ufl.TestFunction(V) * ufl.dx(domain=V.mesh)))
    mass.scatter_reverse(dolfinx.la.InsertMode.add)
    mass.scatter_forward()
    f = fem.Function(V)
    np.divide(lithium, mass.array * model.params.cam.c_max, out=f.x.array,
              where=mass.array > 0)
    f.x.scatter_forward()
    xs, s, n, n_sep = _plane_sums(model, f, 0, {CAM: 1.0}, cell_volumes=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xs, s / n, n_sep


def _listed(values) -> list:
    return [None if not np.isfinite(u) else float(u) for u in values]


def electrolyte_profile(model: LiquidCellModel):
    """Mean electrolyte concentration c_e (mol/m³) per voxel plane along x, averaged
    over the pore volume (porosity-weighted), separator included; x in µm from the
    separator|cathode face (negative in the separator)."""
    weights = {label: eps for label, (eps, _) in model.regions.items()}
    xs, mean, _ = _plane_means(model, model.c_e, 1, weights)
    return xs.tolist(), _listed(mean)


def utilisation_profile(model: CellModel):
    """Mean CAM lithiation along x (per voxel plane of the cathode), as
    (x in µm from the separator, (x − x0)/(1 − x0)) — 0 at rest, 1 when fully lithiated."""
    p = model.params
    lithium = model.vertex_lithium()
    if lithium is None:
        xs, mean, n_sep = _plane_means(model, model.c, 0, {CAM: 1.0})
        lithiation = mean / p.cam.c_max
    else:
        xs, lithiation, n_sep = _skin_plane_lithiation(model, lithium)
    x0 = p.operation.initial_stoichiometry
    util = (lithiation - x0) / (1 - x0)
    keep = np.arange(xs.size) >= n_sep
    return xs[keep].tolist(), _listed(util[keep])
