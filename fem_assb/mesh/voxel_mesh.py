"""Voxel structure -> distributed conforming tetrahedral DOLFINx mesh with tags.

Every voxel becomes 6 tetrahedra (Kuhn subdivision along the main diagonal: the same in
every voxel, so neighbouring voxels match face to face). The mesh is built in x-slabs:
rank r creates the cells and vertices of its slab of voxel planes only (slabs hold equal
numbers of meshed voxels); no rank holds the whole mesh. By default the slabs are kept
as the partition (every phase then is split evenly over the ranks, no graph partitioner
runs); ``partition='graph'`` uses DOLFINx's graph partitioner instead. Cells are ghosted
across facets (``GhostMode.shared_facet``) so that interface facets on partition
boundaries are seen from both sides. Each rank holds the label array (1 byte per voxel).

Vertices where voxels of the meshed set meet only along an edge or at a corner are split
(``connectivity='face'``, the default; see ``fem_assb.mesh.connectivity``).

``interface='smooth'`` moves the vertices of the phase interfaces onto a smooth surface
(``fem_assb.mesh.smoothing``): the same cells, tags and partition, other coordinates.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import basix.ufl
import numpy as np
import ufl

from fem_assb._dolfinx import MPI, dolfinx
from fem_assb._dolfinx_private import cpp_adjacency
from fem_assb.mesh import tags
from fem_assb.mesh.connectivity import tables, vertex_codes
from fem_assb.mesh.kuhn import KUHN_TETS
from fem_assb.mesh.smoothing import mean_ratio, refine_smooth, vertex_displacement
from fem_assb.mesh.surface_area import AreaCorrection, area_correction
from fem_assb.structure.phases import SEPARATOR, phase_ids
from fem_assb.structure.voxels import StructureError, VoxelStructure


def facet_areas(msh, cell_facets: np.ndarray) -> np.ndarray:
    """Area (m²) of each facet given as a row (cell, local facet) of a tetrahedral mesh."""
    x = msh.geometry.x
    nodes = msh.geometry.dofmaps[0][cell_facets[:, 0]]  # P1: the cell's vertices in order
    keep = np.arange(4)[None, :] != cell_facets[:, 1:2]  # facet i is opposite vertex i
    tri = x[nodes[keep].reshape(-1, 3)]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def facet_midpoints(msh, cell_facets: np.ndarray) -> np.ndarray:
    """Midpoint (m) of each facet given as a row (cell, local facet) of a tetrahedral mesh."""
    nodes = msh.geometry.dofmaps[0][cell_facets[:, 0]]
    keep = np.arange(4)[None, :] != cell_facets[:, 1:2]
    return msh.geometry.x[nodes[keep].reshape(-1, 3)].mean(axis=1)


class MeshQueries:
    """What every cell mesh answers (voxel-built or imported): needs ``mesh``,
    ``cell_tags``, ``lengths`` and a ``_facet_tags`` slot; the x-planes for profiles come
    from ``cell_planes``."""

    @property
    def comm(self):
        return self.mesh.comm

    @property
    def facet_tags(self) -> dolfinx.mesh.MeshTags:
        """Interface and box-face tags (``fem_assb.mesh.tags``), made on first use (they
        need the mesh's facets: about 80 bytes per cell)."""
        if self._facet_tags is None:
            self._facet_tags = _tag_facets(self.mesh, self.cell_tags.values, self.lengths)
            self._facet_tags.name = "facets"
        return self._facet_tags

    def num_cells_global(self) -> int:
        return self.mesh.topology.index_map(3).size_global

    def area_factor(self, phase: int, points: np.ndarray) -> np.ndarray:
        """Area of the surface a facet stands for over its own, at facet midpoints
        ``points`` (m, (n, 3)) between the CAM and ``phase``: 1 (the mesh's surface is
        the cell's)."""
        return np.ones(points.shape[0])

    def facet_area(self, tag: int) -> float:
        """Total area (m²) of the facets with ``tag``, summed over all ranks."""
        from fem_assb._dolfinx import fem

        dx_tag = ufl.Measure("ds" if tag >= tags.X0 else "dS", domain=self.mesh,
                             subdomain_data=self.facet_tags)
        area = fem.assemble_scalar(fem.form(fem.Constant(self.mesh, 1.0) * dx_tag(tag)))
        return self.comm.allreduce(area, op=MPI.SUM)

    def surface_area(self, tag: int) -> float:
        """Area (m²) of the surface that the facets with interface ``tag`` stand for
        (``area_factor``; the facets' own on staircase and imported meshes), summed over
        all ranks."""
        from fem_assb._dolfinx import fem

        phase = {v: k[1] for k, v in tags.INTERFACES.items()}[tag]
        top = self.mesh.topology
        top.create_connectivity(2, 3)
        top.create_connectivity(3, 2)
        ents = np.asarray(fem.compute_integration_domains(
            fem.IntegralType.interior_facet, top, self.facet_tags.find(tag))).reshape(-1, 4)
        area = facet_areas(self.mesh, ents[:, :2])
        factor = self.area_factor(phase, facet_midpoints(self.mesh, ents[:, :2]))
        return self.comm.allreduce(float(np.dot(area, factor)), op=MPI.SUM)

    def cell_quality(self) -> np.ndarray:
        """Mean ratio 12 (3V)^(2/3) / Σ l² of the owned cells: 1 for a regular tetrahedron,
        0.76 for an undeformed voxel's, ≤ 0 for a degenerate or inverted one."""
        n = self.mesh.topology.index_map(3).size_local
        q = _cell_mean_ratio(self.mesh, n)
        orientation = getattr(self, "_orientation", None)
        return q * orientation[:n] if orientation is not None else np.abs(q)

    def min_cell_quality(self) -> float:
        """The smallest ``cell_quality`` over all ranks."""
        q = self.cell_quality()
        return self.comm.allreduce(float(q.min()) if q.size else np.inf, op=MPI.MIN)

    def phase_volume(self, phase: int) -> float:
        """Volume (m³) of the cells of a phase id, summed over all ranks."""
        n = self.mesh.topology.index_map(3).size_local
        own = np.flatnonzero(self.cell_tags.values[:n] == phase)
        p = self.mesh.geometry.x[self.mesh.geometry.dofmaps[0][own]]
        e1, e2, e3 = (p[:, k] - p[:, 0] for k in (1, 2, 3))
        vol = float(np.abs(np.einsum("ij,ij->i", e1, np.cross(e2, e3))).sum()) / 6.0
        return self.comm.allreduce(vol, op=MPI.SUM)

    def write_xdmf(self, path) -> None:
        """Write mesh, phase cell tags and facet tags to XDMF (+ HDF5) for ParaView."""
        from fem_assb._dolfinx import io

        self.mesh.topology.create_connectivity(2, 3)
        with io.XDMFFile(self.comm, str(path), "w") as f:
            f.write_mesh(self.mesh)
            f.write_meshtags(self.cell_tags, self.mesh.geometry)
            f.write_meshtags(self.facet_tags, self.mesh.geometry)


@dataclass
class VoxelMesh(MeshQueries):
    """A tetrahedral mesh of (a subset of) a voxel structure.

    Attributes:
        mesh: the DOLFINx mesh (coordinates in m, x through the thickness).
        cell_tags: phase id of every local cell (owned and ghost).
        facet_tags: interface and face tags (``fem_assb.mesh.tags``), made on first use
            (they need the mesh's facets: about 80 bytes per cell).
        labels: the (possibly refined) voxel label array that was meshed.
        voxel_size: voxel edge of ``labels`` in m.
        cell_voxel: flat index into ``labels`` of every local cell (owned and ghost).
        interface: 'voxel' (staircase) or 'smooth' (vertices moved onto smooth surfaces).
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    labels: np.ndarray
    voxel_size: float
    cell_voxel: np.ndarray
    _make_mesh: Callable[[], dolfinx.mesh.Mesh] = field(repr=False)
    interface: str = "voxel"
    _facet_tags: dolfinx.mesh.MeshTags | None = field(default=None, repr=False)
    # sign of every local cell's volume before the vertices moved (smooth meshes)
    _orientation: np.ndarray | None = field(default=None, repr=False)
    # smooth meshes: makes the factor from facet to smooth-surface area (``surface_area``)
    _area_correction: Callable[[], AreaCorrection] | AreaCorrection | None = field(
        default=None, repr=False)

    def area_factor(self, phase: int, points: np.ndarray) -> np.ndarray:
        """Smooth-surface area over facet area at facet midpoints ``points`` (m, (n, 3))
        between the CAM and ``phase``: 1 on staircase meshes; on smoothed ones
        ``fem_assb.mesh.surface_area`` (made on first use, local to the rank)."""
        if self._area_correction is None:
            return np.ones(points.shape[0])
        if not isinstance(self._area_correction, AreaCorrection):
            self._area_correction = self._area_correction()
        return self._area_correction(phase, points)

    def has_entities(self) -> bool:
        """Whether the mesh holds facets (made by facet tags, submeshes, facet forms)."""
        try:
            self.mesh.topology.connectivity(2, 0)
        except RuntimeError:
            return False
        return self.mesh.topology.index_map(2) is not None

    def drop_entities(self) -> None:
        """Replace the DOLFINx mesh by a new, identical one (the same cells, vertices and
        local numbering) that holds only cells and vertices.

        DOLFINx's ``create_submesh`` makes every edge, facet, connectivity and entity
        permutation of the parent mesh (needed for lower-dimensional submeshes only): about
        140 MiB per million cells (measured at the study size) that a cell model never
        uses after its submeshes are made. Objects made on the old mesh (submesh entity
        maps, measures, spaces) must be made again on the new one; integration entities
        (cell, local facet) stay valid.
        """
        old = self.mesh
        fingerprint = (old.topology.original_cell_index.copy(),
                       old.geometry.input_global_indices.copy(),
                       old.topology.connectivity(3, 0).array.copy())
        values = self.cell_tags.values.copy()
        # the old mesh goes first (when nothing else holds it): it and the new one with
        # its construction would be the peak of the set-up
        self.mesh = self.cell_tags = self._facet_tags = old = None
        gc.collect()
        new = self._make_mesh()
        same = all(np.array_equal(a, b) for a, b in zip(fingerprint, (
            new.topology.original_cell_index, new.geometry.input_global_indices,
            new.topology.connectivity(3, 0).array), strict=True))
        if not new.comm.allreduce(same, op=MPI.LAND):
            raise RuntimeError("re-made mesh differs from the first (non-deterministic "
                               "partition or ordering)")
        self.mesh = new
        self.cell_tags = dolfinx.mesh.meshtags(new, 3, np.arange(values.size, dtype=np.int32),
                                               values)
        self.cell_tags.name = "phase"
        self._facet_tags = None

    @property
    def lengths(self) -> tuple[float, float, float]:
        return tuple(n * self.voxel_size for n in self.labels.shape)

    # -- x-planes (profiles) ------------------------------------------------------------
    @property
    def num_planes(self) -> int:
        return self.labels.shape[0]

    @property
    def plane_width(self) -> float:
        return self.voxel_size

    @property
    def separator_thickness(self) -> float:
        """m: the leading x-planes made of separator voxels only."""
        full = np.all(self.labels == SEPARATOR, axis=(1, 2))
        return float(np.argmin(full) if not full.all() else full.size) * self.voxel_size

    def cell_planes(self, cells: np.ndarray) -> np.ndarray:
        """x-plane (0 … num_planes − 1) of local cells."""
        return np.unravel_index(self.cell_voxel[cells], self.labels.shape)[0]


def slab_bounds(mask: np.ndarray | None, nranks: int, plane_weights=None) -> np.ndarray:
    """Voxel-plane boundaries (nranks + 1) giving every rank about equal meshed voxels
    of ``mask`` (or equal weight, ``plane_weights`` per x-plane; then mask may be None)."""
    per_plane = mask.sum(axis=(1, 2), dtype=np.int64) if plane_weights is None \
        else np.asarray(plane_weights, dtype=np.float64)
    nx = per_plane.size
    cum = np.concatenate([[0], np.cumsum(per_plane)])
    targets = cum[-1] * np.arange(nranks + 1) / nranks
    bounds = np.searchsorted(cum, targets, side="left").clip(0, nx)
    bounds[0], bounds[-1] = 0, nx
    return np.maximum.accumulate(bounds)


def _slab_mesh_data(mask, voxel_size, comm, connectivity, plane_weights=None):
    """Cells (global vertex ids) and owned vertex coordinates of this rank's slab."""
    nx, ny, nz = mask.shape
    rank, size = comm.rank, comm.size
    bounds = slab_bounds(mask, size, plane_weights)
    x0, x1 = int(bounds[rank]), int(bounds[rank + 1])
    v1 = x1 if rank < size - 1 else nx + 1  # owned vertex planes [x0, v1)
    comp_table, count_table = tables(connectivity)

    codes = vertex_codes(mask, x0, max(x1 + 1, v1))
    counts = count_table[codes].astype(np.int64)
    n_owned = int(counts[: v1 - x0].sum())
    start = comm.exscan(n_owned) if size > 1 else 0
    start = start or 0
    offsets = (start + np.cumsum(counts.ravel()) - counts.ravel()).reshape(counts.shape)

    # coordinates of the owned vertex copies
    own_counts = counts[: v1 - x0].ravel()
    gi, gj, gk = np.unravel_index(np.arange(own_counts.size), counts[: v1 - x0].shape)
    grid = np.stack([gi + x0, gj, gk], axis=1).astype(np.float64) * voxel_size
    coords = np.repeat(grid, own_counts, axis=0)

    # cells: 6 tetrahedra per meshed voxel of the slab
    vi, vj, vk = np.nonzero(mask[x0:x1])
    corner_ids = np.empty((vi.size, 8), dtype=np.int64)
    for corner in range(8):
        dx, dy, dz = corner & 1, corner >> 1 & 1, corner >> 2 & 1
        octant = (1 - dx) + 2 * (1 - dy) + 4 * (1 - dz)
        code = codes[vi + dx, vj + dy, vk + dz]
        corner_ids[:, corner] = offsets[vi + dx, vj + dy, vk + dz] + comp_table[code, octant]
    cells = corner_ids[:, KUHN_TETS].reshape(-1, 4)
    return cells, coords


def _slab_partitioner(comm, num_local_cells: int):
    """Graph 'partitioner' that keeps every cell on its rank and ghosts facet neighbours."""
    cell_offsets = np.concatenate([[0], np.cumsum(comm.allgather(num_local_cells))])
    rank = comm.rank

    def part(_comm, _nparts, graph, ghosting):
        n = num_local_cells
        if not ghosting:
            return cpp_adjacency(np.full(n, rank, dtype=np.int32),
                                  np.arange(n + 1, dtype=np.int32))
        nbr = np.asarray(graph.array)
        node = np.repeat(np.arange(n), np.diff(np.asarray(graph.offsets)))
        nbr_rank = np.searchsorted(cell_offsets, nbr, side="right") - 1
        keep = nbr_rank != rank
        pairs = np.unique(np.stack([node[keep], nbr_rank[keep]], axis=1), axis=0)
        nghost = np.bincount(pairs[:, 0], minlength=n) if pairs.size else np.zeros(n, int)
        offsets = np.concatenate([[0], np.cumsum(1 + nghost)]).astype(np.int32)
        dest = np.empty(offsets[-1], dtype=np.int32)
        dest[offsets[:-1]] = rank
        if pairs.size:
            # ghost ranks follow the owner, in the order of np.unique (sorted by node)
            first = offsets[pairs[:, 0]] + 1
            within = np.arange(pairs.shape[0]) - np.searchsorted(pairs[:, 0], pairs[:, 0])
            dest[first + within] = pairs[:, 1]
        return cpp_adjacency(dest, offsets)

    return part


def _tag_facets(msh, cell_labels, lengths) -> dolfinx.mesh.MeshTags:
    """Interface facets (by the phases of their two cells) and box faces."""
    top = msh.topology
    top.create_connectivity(2, 3)
    f2c = top.connectivity(2, 3)
    offsets = np.asarray(f2c.offsets)
    links = np.asarray(f2c.array)
    nfacets = top.index_map(2).size_local + top.index_map(2).num_ghosts
    ncell = np.diff(offsets)
    two = np.flatnonzero(ncell == 2)
    la = cell_labels[links[offsets[two]]]
    lb = cell_labels[links[offsets[two] + 1]]
    lo, hi = np.minimum(la, lb), np.maximum(la, lb)
    idx, val = [], []
    for (a, b), tag in tags.INTERFACES.items():
        sel = two[(lo == a) & (hi == b)]
        idx.append(sel)
        val.append(np.full(sel.size, tag, dtype=np.int32))

    exterior = dolfinx.mesh.exterior_facet_indices(top)
    if exterior.size:
        mid = dolfinx.mesh.compute_midpoints(msh, 2, exterior)
        tol = 1e-6 * min(lengths)
        for axis, (t0, t1) in enumerate(((tags.X0, tags.X1), (tags.Y0, tags.Y1),
                                         (tags.Z0, tags.Z1))):
            for coord, tag in ((0.0, t0), (lengths[axis], t1)):
                sel = exterior[np.abs(mid[:, axis] - coord) < tol]
                idx.append(sel)
                val.append(np.full(sel.size, tag, dtype=np.int32))
    idx = np.concatenate(idx).astype(np.int32)
    val = np.concatenate(val)
    order = np.argsort(idx, kind="stable")
    idx, val = idx[order], val[order]
    assert np.all(idx < nfacets)
    return dolfinx.mesh.meshtags(msh, 2, idx, val)


def _cell_mean_ratio(msh, num_cells: int, chunk: int = 1 << 18) -> np.ndarray:
    """``mean_ratio`` of the local cells 0 … num_cells − 1 (in chunks: no big temporaries)."""
    x, dofs = msh.geometry.x, msh.geometry.dofmaps[0]
    return np.concatenate([mean_ratio(x[dofs[i:min(i + chunk, num_cells)]])
                           for i in range(0, num_cells, chunk)] or [np.zeros(0)])


def _smooth(msh, labels: np.ndarray, h: float) -> None:
    """Move the local vertices (owned and ghost) of a voxel mesh onto smooth interfaces."""
    x = msh.geometry.x
    if x.shape[0] == 0:
        return
    ijk = np.rint(x / h).astype(np.int64)
    p0, p1 = int(ijk[:, 0].min()), int(ijk[:, 0].max()) + 1
    d = vertex_displacement(labels, (p0, p1))
    x += d[ijk[:, 0] - p0, ijk[:, 1], ijk[:, 2]] * h


def _area_correction(msh, coarse: np.ndarray, fine: np.ndarray, factor: int,
                     voxel_size: float) -> AreaCorrection:
    """The smooth surface's area factor on the coarse voxel planes of the local vertices."""
    x = msh.geometry.x[:, 0] / voxel_size
    if x.size == 0:
        return AreaCorrection(0, voxel_size, {})
    planes = (int(np.floor(x.min())) - 1, int(np.ceil(x.max())) + 1)
    return area_correction(coarse, fine, factor, planes, voxel_size)


INTERFACES = ("voxel", "smooth")


def refine_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Subdivide every voxel into factor³ voxels of the same phase."""
    if factor < 1 or int(factor) != factor:
        raise StructureError(f"refinement factor must be a positive integer, got {factor}")
    out = labels
    for axis in range(3):
        out = np.repeat(out, int(factor), axis=axis)
    return out


def _grid_mesh(mask, h: float, comm, connectivity: str, plane_weights, partition: str):
    """The distributed mesh of the voxels in ``mask`` (edge ``h``, m) in x-slabs."""
    cells, coords = _slab_mesh_data(mask, h, comm, connectivity, plane_weights)
    element = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    ghost = dolfinx.mesh.GhostMode.shared_facet
    if comm.size == 1:
        partitioner = None
    elif partition == "slab":
        partitioner = dolfinx.mesh.create_cell_partitioner(
            _slab_partitioner(comm, cells.shape[0]), ghost, 2)
    else:
        partitioner = dolfinx.mesh.create_cell_partitioner(ghost, 2)
    return dolfinx.mesh.create_mesh(comm, cells, element, coords, partitioner)


def build_mesh(structure: VoxelStructure, phases=None, comm=MPI.COMM_WORLD,
               connectivity: str = "face", partition: str = "slab",
               refine: int = 1, phase_weights: dict | None = None,
               interface: str = "voxel") -> VoxelMesh:
    """Mesh the voxels of ``phases`` (default: every non-void voxel) of a structure.

    Args:
        structure: the voxel structure (or assembled virtual cell).
        phases: phase names/ids to mesh; ``None`` meshes all non-void voxels.
        comm: MPI communicator.
        connectivity: ``'face'`` (split vertices at edge/corner-only contacts, as voxel
            codes do) or ``'vertex'`` (plain conforming mesh).
        partition: ``'slab'`` (keep the x-slabs of the builder) or ``'graph'``.
        refine: subdivide each voxel into refine³ voxels first.
        phase_weights: {phase id: work per voxel} for the x-slabs (e.g. the number of
            unknown fields on the phase); default: every meshed voxel weighs 1.
        interface: 'voxel' (the staircase) or 'smooth' (interface vertices moved onto
            smooth surfaces, ``fem_assb.mesh.smoothing``; with ``refine`` the sub-voxels
            follow the smooth surfaces of the voxels, ``refine_smooth``).
    """
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {INTERFACES}, got '{interface}'")
    smooth = interface == "smooth"
    if refine == 1:
        labels = structure.labels
    else:
        labels = (refine_smooth if smooth else refine_labels)(structure.labels, refine)
    h = structure.voxel_size / refine
    if phases is None:
        mask = labels != 0
    else:
        mask = np.isin(labels, phase_ids(phases))
    if not mask.any():
        raise StructureError(f"no voxel of phase(s) {phases} to mesh")
    if partition not in ("slab", "graph"):
        raise ValueError(f"partition must be 'slab' or 'graph', got '{partition}'")

    plane_weights = None
    if phase_weights:
        w = np.zeros(256)
        for label, weight in phase_weights.items():
            w[label] = weight
        plane_weights = np.where(mask, w[labels], 0.0).sum(axis=(1, 2))

    def make_grid_mesh():  # deterministic: the same input gives the same local numbering
        return _grid_mesh(mask, h, comm, connectivity, plane_weights, partition)

    def make_mesh():
        msh = make_grid_mesh()
        if smooth:
            _smooth(msh, labels, h)
        return msh

    msh = make_grid_mesh()

    num_cells = msh.topology.index_map(3).size_local + msh.topology.index_map(3).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(msh, 3, np.arange(num_cells, dtype=np.int32))
    ijk = np.floor(mid / h).astype(np.int64)
    ijk = np.minimum(np.maximum(ijk, 0), np.array(labels.shape) - 1)
    cell_voxel = np.ravel_multi_index(ijk.T, labels.shape).astype(
        np.int32 if labels.size < 2**31 else np.int64)
    del mid, ijk
    cell_labels = labels.ravel()[cell_voxel].astype(np.int32)
    cell_tags = dolfinx.mesh.meshtags(msh, 3, np.arange(num_cells, dtype=np.int32), cell_labels)
    cell_tags.name = "phase"
    vm = VoxelMesh(msh, cell_tags, labels, h, cell_voxel, make_mesh, interface)
    if smooth:
        vm._orientation = np.sign(_cell_mean_ratio(msh, num_cells)).astype(np.int8)
        _smooth(msh, labels, h)
        vm._area_correction = lambda: _area_correction(vm.mesh, structure.labels, labels,
                                                       refine, structure.voxel_size)
        q = vm.min_cell_quality()
        if q <= 0:  # the smoothing's own checks should make this impossible
            raise StructureError(f"smoothed mesh has a degenerate or inverted tetrahedron "
                                 f"(min quality {q:.3g})")
    return vm
