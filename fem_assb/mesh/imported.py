"""Imported tetrahedral meshes: a cell made elsewhere (gmsh, any format meshio reads).

The file holds tetrahedra with a phase per cell: gmsh physical groups (named after the
phases — 'cam', 'electrolyte', 'cbd', 'separator' — or numbered with the phase ids 1 CAM,
2 electrolyte, 3 CBD, 4 separator), or meshio cell data (``gmsh:physical``, ``phase``,
``cell_tags``, ``medit:ref``) holding the ids. The mesh must fill a box: x from the anode
side (separator, if any) to the current collector, y and z symmetry planes. It is moved
so that the box starts at the origin. Interface facets are found from the phases of the
two cells of every facet, the collector and anode faces from the box faces, as for voxel
meshes; facet tags in the file are not needed.

Rank 0 reads the file; DOLFINx's graph partitioner distributes the cells.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import basix.ufl
import numpy as np
import ufl

from fem_assb._dolfinx import MPI, dolfinx
from fem_assb.mesh.voxel_mesh import MeshQueries
from fem_assb.structure.phases import CAM, ELECTROLYTE, PHASE_NAMES, phase_id
from fem_assb.structure.voxels import StructureError

MESH_SUFFIXES = (".msh", ".vtu", ".vtk", ".xdmf", ".mesh", ".med", ".inp", ".xml")
UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6}
_TAG_KEYS = ("gmsh:physical", "phase", "cell_tags", "medit:ref")
_MAX_LENGTH = 1e-2  # m: a cell longer than this is a unit mistake


class MeshImportError(StructureError):
    """A mesh file that cannot be a cell (missing tags, not a box, degenerate cells)."""


def is_mesh_file(path) -> bool:
    """Whether ``path`` names a mesh (by its suffix) rather than a voxel structure."""
    return Path(path).suffix.lower() in MESH_SUFFIXES


@dataclass
class ImportedMesh(MeshQueries):
    """A distributed tetrahedral cell mesh read from a file (the interface of
    ``VoxelMesh`` that the cell models use).

    Attributes:
        mesh, cell_tags: the DOLFINx mesh (m) and the phase id of every local cell.
        lengths: the box (m).
        voxel_size: the mean cell size (m), (6 V / N)^(1/3): tolerances, profile planes.
        source: the file.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    lengths: tuple[float, float, float]
    voxel_size: float
    source: str
    separator_thickness: float = 0.0
    interface: str = "imported"
    _facet_tags: dolfinx.mesh.MeshTags | None = field(default=None, repr=False)

    def drop_entities(self) -> None:
        """Kept (imported meshes are not rebuilt): the entities stay."""

    @property
    def num_planes(self) -> int:
        return max(1, int(round(self.lengths[0] / self.voxel_size)))

    @property
    def plane_width(self) -> float:
        return self.lengths[0] / self.num_planes

    def cell_planes(self, cells: np.ndarray) -> np.ndarray:
        """x-slice (0 … num_planes − 1) of local cells, by their midpoints."""
        mid = dolfinx.mesh.compute_midpoints(self.mesh, 3, np.asarray(cells, dtype=np.int32))
        return np.clip((mid[:, 0] / self.plane_width).astype(np.int64), 0,
                       self.num_planes - 1)


def _phases_of_tags(values: np.ndarray, names: dict[int, str], source: str) -> np.ndarray:
    """Phase id of every cell from its tag (physical names first, else the ids)."""
    out = np.zeros(values.size, dtype=np.uint8)
    for tag in np.unique(values):
        name = names.get(int(tag))
        try:
            pid = phase_id(name) if name is not None else phase_id(int(tag))
        except ValueError:
            what = f"physical group '{name}' (tag {tag})" if name else f"tag {tag}"
            raise MeshImportError(
                f"{source}: {what} is not a phase; name the groups 'cam', 'electrolyte', "
                f"'cbd', 'separator' or number them 1 CAM, 2 electrolyte, 3 CBD, 4 "
                "separator") from None
        if pid == 0:
            raise MeshImportError(f"{source}: tag {tag} marks void; mesh only material")
        out[values == tag] = pid
    return out


def _folded_facets(cells: np.ndarray, pts: np.ndarray) -> tuple[int, int]:
    """(facets shared by more than two cells, interior facets whose two cells lie on
    the same side of it): zero and zero for a valid mesh, whatever the cells' vertex
    order; an inverted (tangled) cell folds facets."""
    tri = np.concatenate([np.delete(cells, k, axis=1) for k in range(4)])
    tri.sort(axis=1)
    opp = np.concatenate([cells[:, k] for k in range(4)])
    _, inv, count = np.unique(tri, axis=0, return_inverse=True, return_counts=True)
    a, b, c = (pts[tri[:, k]] for k in range(3))
    side = np.sign(np.einsum("ij,ij->i", np.cross(b - a, c - a), pts[opp] - a))
    shared = count[inv] == 2
    order = np.argsort(inv[shared], kind="stable")
    s = side[shared][order].reshape(-1, 2)
    return int(np.count_nonzero(count > 2)), int(np.count_nonzero(s[:, 0] * s[:, 1] >= 0))


def _read_rank0(path: Path, unit: float):
    """(cells (n, 4), points (m, 3) in m, phase per cell) from a mesh file, checked."""
    import meshio

    src = str(path)
    if not path.is_file():
        raise MeshImportError(f"{src}: no such file")
    said = io.StringIO()
    try:  # meshio's readers print (and exit on a garbage .vtu): caught, one line
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(said):
            m = meshio.read(src)
    except (Exception, SystemExit) as err:  # meshio raises many types
        why = " ".join(said.getvalue().split()).removeprefix("Error: ") or str(err)
        raise MeshImportError(f"{src}: cannot be read as a mesh ({why})") from None
    blocks = [k for k, c in enumerate(m.cells) if c.type == "tetra"]
    if not blocks:
        raise MeshImportError(f"{src}: no tetrahedra (cell types: "
                              f"{', '.join(sorted({c.type for c in m.cells}))})")
    key = next((k for k in _TAG_KEYS if k in m.cell_data), None)
    if key is None:
        raise MeshImportError(f"{src}: no cell tags for the phases (looked for cell data "
                              f"{', '.join(_TAG_KEYS)}; found {', '.join(m.cell_data) or 'none'})")
    cells = np.concatenate([m.cells[k].data for k in blocks]).astype(np.int64)
    tags = np.concatenate([np.asarray(m.cell_data[key][k]).ravel() for k in blocks])
    names = {int(v[0]): n for n, v in (m.field_data or {}).items()
             if len(v) > 1 and int(v[1]) == 3}
    phases = _phases_of_tags(tags, names, src)
    for need in (CAM, ELECTROLYTE):
        if not np.any(phases == need) and not (need == ELECTROLYTE and np.any(phases == 4)):
            raise MeshImportError(f"{src}: no cell of phase '{PHASE_NAMES[need]}'")
    pts = np.asarray(m.points, dtype=np.float64)[:, :3] * unit
    used = np.unique(cells)
    lo, hi = pts[used].min(axis=0), pts[used].max(axis=0)
    if np.max(hi - lo) > _MAX_LENGTH:
        raise MeshImportError(f"{src}: the mesh spans {np.max(hi - lo):.3g} m; are its "
                              "coordinates in µm or mm? (give the length unit)")
    pts = pts - lo
    e1, e2, e3 = (pts[cells[:, k]] - pts[cells[:, 0]] for k in (1, 2, 3))
    vol = np.einsum("ij,ij->i", e1, np.cross(e2, e3)) / 6.0
    box = float(np.prod(hi - lo))
    flat = np.abs(vol) < 1e-9 * box / cells.shape[0]
    if flat.any():
        raise MeshImportError(f"{src}: {int(flat.sum())} degenerate tetrahedra (zero volume)")
    many, folded = _folded_facets(cells, pts)
    if many or folded:
        raise MeshImportError(f"{src}: {folded + many} facets are folded (both cells on one "
                              "side, or more than two cells): the mesh has inverted or "
                              "overlapping tetrahedra")
    total = float(np.abs(vol).sum())
    if not np.isclose(total, box, rtol=1e-6, atol=0.0):
        what = "overlap" if total > box else "leave holes"
        raise MeshImportError(
            f"{src}: the tetrahedra do not fill their bounding box ({total / box:.6f} of "
            f"its volume: cells {what}); a cell mesh must fill a box")
    sep = phases == 4
    sep_x = float(pts[cells[sep]][..., 0].max()) if sep.any() else 0.0
    h = (6.0 * box / cells.shape[0]) ** (1.0 / 3.0)
    return cells, pts, phases, tuple(float(v) for v in hi - lo), h, sep_x


def read_mesh(path, comm=MPI.COMM_WORLD, unit: str = "m") -> ImportedMesh:
    """Read a tetrahedral cell mesh with phase tags (see the module docstring).

    Args:
        path: .msh (gmsh) or any file meshio reads (.vtu, .xdmf, .mesh, …).
        comm: MPI communicator; rank 0 reads, the graph partitioner distributes.
        unit: length unit of the file's coordinates: 'm', 'mm' or 'um'.

    Raises:
        MeshImportError: missing file, no tetrahedra, no or unknown phase tags, a mesh
            that does not fill a box, degenerate or inverted tetrahedra (one line each).
    """
    if unit not in UNITS:
        raise MeshImportError(f"mesh unit must be one of {', '.join(UNITS)}, got '{unit}'")
    path = Path(path)
    data, err = None, None
    if comm.rank == 0:
        try:
            data = _read_rank0(path, UNITS[unit])
        except MeshImportError as e:
            err = str(e)
    err = comm.bcast(err, root=0)
    if err is not None:
        raise MeshImportError(err)
    if comm.rank == 0:
        cells, pts, phases, lengths, h, sep_x = data
        meta = (lengths, h, sep_x)
    else:
        cells, pts = np.zeros((0, 4), dtype=np.int64), np.zeros((0, 3))
        phases, meta = None, None
    lengths, h, sep_x = comm.bcast(meta, root=0)
    phases = comm.bcast(phases, root=0)  # 1 byte per cell: every rank maps its own
    element = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    partitioner = None if comm.size == 1 else dolfinx.mesh.create_cell_partitioner(
        dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells, element, pts, partitioner)
    num_cells = msh.topology.index_map(3).size_local + msh.topology.index_map(3).num_ghosts
    values = phases[np.asarray(msh.topology.original_cell_index)[:num_cells]].astype(np.int32)
    cell_tags = dolfinx.mesh.meshtags(msh, 3, np.arange(num_cells, dtype=np.int32), values)
    cell_tags.name = "phase"
    return ImportedMesh(msh, cell_tags, lengths, h, str(path), sep_x)


__all__ = ["MESH_SUFFIXES", "UNITS", "ImportedMesh", "MeshImportError", "is_mesh_file",
           "read_mesh"]
