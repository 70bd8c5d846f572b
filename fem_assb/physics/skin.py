"""The CAM skin resolved: a graded 1D column under every interface vertex, condensed.

With D_s(x) small at high lithiation (7e-18 m²/s above x = 0.89), lithium enters an
ASSB particle behind a saturating skin ~0.1-0.4 µm thick and a front ~1 µm deep; 1 µm
elements store a shell half an element thick in each surface node and over-predict the
capacity ~2x at 1C. Measured in 1D (``benchmarks/particle_1d_schemes.py``, a 5 µm sphere
against a converged radial grid): the outer ~0.7-1 element must be graded from a first
cell of a few nm; a graded shell half an element deep over the 1 µm core leaves +8.6 %
at 1C, one element deep −0.9 % (0.2C to 2C within 1.2 %).

So the CAM is split into a core and a skin of depth L_k (``depth``, less where the
mesh cannot move that far) under every interface vertex k:

- the core is the CAM mesh with its interface vertices moved inward by L_k along their
  normals (a harmonic extension moves the rest; vertices on box faces slide in them).
  c_s keeps its unknowns and its P1 equation (lumped storage) on that moved copy of the
  CAM submesh; Φ_s, the SE and the interface stay on the true geometry;
- the skin is a 1D column per vertex from the true surface (Butler–Volmer at its outer
  face) to the core node (its inner face), cells graded from ``first_cell_nm`` with
  ``growth``; cross-section A_k (1 − κ s)², κ such that the columns hold exactly the
  volume the core gave up (the CAM's volume and capacity unchanged). Fluxes in Kirchhoff
  form, Q = G (Φ(u_a) − Φ(u_b)) with Φ(c) = ∫ D_s dc (exact for a steady 1D flux, sharp
  fronts included).

The columns' unknowns are eliminated vertex by vertex at every residual evaluation (a
vectorised tridiagonal Newton): to the global problem a column is a nodal term of the
vertex's own unknowns (c_k, Φ_s, Φ_e[, c_e]) — the current W_k i(u_0, …) into the
potentials' rows and the column's outflow into c_k's row — with derivatives by implicit
differentiation. The global system keeps its size and pattern. Lithium is conserved to
round-off: core (lumped) + columns. A vertex on several ranks has a column on each (the
same numbers), and each adds its share of the vertex's interface weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, dolfinx, fem
from fem_assb.constants import FARADAY
from fem_assb.errors import ConfigError
from fem_assb.physics.interface import NodalInterface

_H = 1e-30  # complex step
SLOPE = 0.5  # the largest change of the skin's depth per length along the interface
COLLAPSE = 0.01  # a core cell whose volume falls below this fraction limits the move
REACH = 1.0  # decay length of the core's move into the CAM, in column depths
CHUNK = 8192  # columns solved together (temporaries of ~20 arrays of CHUNK x 20 doubles)


@dataclass(frozen=True)
class SkinSettings:
    """Column depth (m), first cell (nm) and growth factor."""

    depth: float = 1e-6
    first_cell_nm: float = 3.0
    growth: float = 1.3


def graded_faces(first: float, growth: float) -> np.ndarray:
    """Faces 0 = t_0 = t_1 < … < t_N = 1 (relative to the column depth): the surface node,
    then cells growing by ``growth`` from ``first``."""
    d = [first]
    while sum(d) < 1.0:
        d.append(d[-1] * growth)
    d = np.array(d)
    d *= 1.0 / d.sum()
    # a first cell of zero width: the surface node (no storage) on which the kinetics act
    return np.concatenate([[0.0, 0.0], np.cumsum(d)])


class Kirchhoff:
    """Φ(c) = ∫_0^c D_s(c'/c_max) dc' (mol/m/s) for D_s piecewise linear on a fine grid
    of x, with its exact derivative D; numpy arrays."""

    def __init__(self, diffusivity, c_max: float, lo: float = -1.0, hi: float = 2.0,
                 n: int = 30001):
        self.c_max = c_max
        self.x = np.linspace(lo, hi, n)
        self.dx = self.x[1] - self.x[0]
        self.D = np.asarray(diffusivity(self.x), dtype=float)
        self.P = np.concatenate([[0.0], np.cumsum(0.5 * (self.D[1:] + self.D[:-1]) * self.dx)])
        self.P -= np.interp(0.0, self.x, self.P)

    def _where(self, c):
        x = np.clip(np.asarray(c) / self.c_max, self.x[0], self.x[-1] - 1e-12)
        i = np.minimum(((x - self.x[0]) / self.dx).astype(int), self.x.size - 2)
        return i, x - self.x[i]

    def phi(self, c):
        return self.phi_and_d(c)[0]

    def d(self, c):
        """dΦ/dc = D_s (m²/s)."""
        return self.phi_and_d(c)[1]

    def phi_and_d(self, c):
        """(Φ(c), D(c)) from one look-up."""
        i, r = self._where(c)
        D0 = self.D[i]
        slope = (self.D[i + 1] - D0) * (1.0 / self.dx)
        return self.c_max * (self.P[i] + r * (D0 + 0.5 * slope * r)), D0 + slope * r


def _thomas(lower, diag, upper, rhs):
    """Solve tridiagonal systems, one per row of the (n, N) arrays (lower[:, 0] and
    upper[:, -1] unused), ``CHUNK`` rows at a time (bounded temporaries)."""
    x = np.empty(diag.shape)
    for rows in _chunks(diag.shape[0]):
        x[rows] = _thomas_block(lower[rows], diag[rows], upper[rows], rhs[rows])
    return x


def _chunks(n: int):
    return [slice(a, min(a + CHUNK, n)) for a in range(0, n, CHUNK)] or [slice(0, 0)]


def _thomas_block(lower, diag, upper, rhs):
    """``_thomas`` on one block. The sweeps run on transposed copies: each step along
    the column then reads contiguous memory (3x faster than strided rows)."""
    lower, diag, upper, rhs = (np.ascontiguousarray(a.T) for a in (lower, diag, upper, rhs))
    N, n = diag.shape
    c = np.empty((N, n))
    d = np.empty((N, n))
    m = np.empty(n)
    c[0] = upper[0] / diag[0]
    d[0] = rhs[0] / diag[0]
    for j in range(1, N):
        np.subtract(diag[j], lower[j] * c[j - 1], out=m)
        np.divide(upper[j], m, out=c[j])
        d[j] = (rhs[j] - lower[j] * d[j - 1]) / m
    x = np.empty((N, n))
    x[-1] = d[-1]
    for j in range(N - 2, -1, -1):
        x[j] = d[j] - c[j] * x[j + 1]
    return x.T


# -- geometry: the moved core and the columns' extent ------------------------------------
@dataclass
class SkinGeometry:
    """The moved CAM core and, per local CAM dof (owned + ghost), the columns' extent.

    Attributes:
        core, core_map: the moved copy of the CAM submesh and its entity map to it.
        area: m², the columns' cross-section at the surface (β × the geometric interface
            area of each dof's vertex; 0 off the interface).
        depth: m, column depth L_k.
        kappa: 1/m, curvature of the column's cross-section A (1 − κ s)².
        faces: relative faces of the graded cells (``graded_faces``).
        volume: m³ the core gave up (= the columns' volume, over ranks).
    """

    core: dolfinx.mesh.Mesh
    core_map: object
    area: np.ndarray
    depth: np.ndarray
    kappa: np.ndarray
    faces: np.ndarray
    volume: float


def _totals(V, local: np.ndarray) -> np.ndarray:
    """Per-dof sums over ranks of the rank's partial values (owned + ghost dofs)."""
    vec = dolfinx.la.vector(V.dofmap.index_map)
    vec.array[:] = local
    vec.scatter_reverse(dolfinx.la.InsertMode.add)
    vec.scatter_forward()
    return vec.array.copy()


def interface_vertices(model):
    """(area (m²), area-weighted outward normal) per local CAM dof, summed over ranks,
    and the interface's edges (local dof pairs)."""
    doms, V = model.doms, model.Vc
    from fem_assb.physics.domains import facet_areas
    from fem_assb.physics.nodal import facet_vertex_dofs

    ents = np.concatenate([e.reshape(-1, 4) for e in doms.interface_entities.values()])
    factor = np.concatenate([doms.area_factor(tag, e)
                             for tag, e in doms.interface_entities.items()])
    n = V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts
    area, normal = np.zeros(n), np.zeros((n, 3))
    if ents.shape[0]:
        X = V.tabulate_dof_coordinates()
        dofs = facet_vertex_dofs(V, doms, ents)  # (m, 3)
        sub = doms.entity_map(doms.cam).sub_topology_to_topology(
            ents[:, 0].astype(np.int32), True)
        opposite = V.dofmap.list[sub][np.arange(ents.shape[0]), ents[:, 1]]
        a, b, c = (X[dofs[:, j]] for j in range(3))
        nrm = 0.5 * np.cross(b - a, c - a)
        flip = np.einsum("ij,ij->i", nrm, a - X[opposite]) < 0
        nrm[flip] *= -1.0
        w = facet_areas(doms.mesh, ents[:, :2]) * factor / 3.0
        for j in range(3):
            area += np.bincount(dofs[:, j], weights=w, minlength=n)
            for d in range(3):
                normal[:, d] += np.bincount(dofs[:, j], weights=nrm[:, d] / 3.0, minlength=n)
    area = _totals(V, area)
    normal = np.stack([_totals(V, normal[:, d]) for d in range(3)], axis=1)
    edges = (np.concatenate([dofs[:, [0, 1]], dofs[:, [1, 2]], dofs[:, [0, 2]]])
             if ents.shape[0] else np.zeros((0, 2), dtype=np.int64))
    return area, normal, edges


def _box_faces(model, X: np.ndarray) -> np.ndarray:
    """(n, 3) bool: the dof lies on a box face normal to axis d (it slides in it)."""
    lengths = np.asarray(model.doms.vm.lengths, dtype=float)
    tol = 1e-9 * lengths.max()
    return (np.abs(X) < tol) | (np.abs(X - lengths) < tol)


class _Extension:
    """Displacement (n, 3) of the CAM dofs: ``move`` where ``fixed[:, d]``, elsewhere
    the solution of −Δu + u/scale² = 0: it decays over ~``scale`` from the interface, so
    the move stays local (a thin CAM neck limits only its own vertices' depth) and a CAM
    cluster without fixed dofs stays at rest. The three operators and their CG/GAMG
    solvers are set up once; each call assembles right-hand sides only."""

    def __init__(self, V, fixed: np.ndarray, scale: float):
        import ufl
        from dolfinx.fem import petsc

        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self.a = fem.form((ufl.inner(ufl.grad(u), ufl.grad(v)) + u * v / scale**2) * ufl.dx)
        self.L = fem.form(fem.Constant(V.mesh, 0.0) * v * ufl.dx)
        self.g = [fem.Function(V) for _ in range(3)]
        # ``fixed`` agrees on every rank that holds a dof: its ghosts included
        self.bcs = [fem.dirichletbc(g, np.flatnonzero(fixed[:, d]).astype(np.int32))
                    for d, g in enumerate(self.g)]
        self.ksp, self.mats = [], []
        for bc in self.bcs:
            A = petsc.assemble_matrix(self.a, bcs=[bc])
            A.assemble()
            ksp = PETSc.KSP().create(V.mesh.comm)
            ksp.setOperators(A)
            ksp.setType("cg")
            ksp.getPC().setType("gamg")
            ksp.setTolerances(rtol=1e-11, atol=1e-30)
            self.ksp.append(ksp)
            self.mats.append(A)
        self.V, self.petsc = V, petsc

    def __call__(self, move: np.ndarray) -> np.ndarray:
        petsc, out = self.petsc, np.zeros((move.shape[0], 3))
        x = fem.Function(self.V)
        for d in range(3):
            self.g[d].x.array[:] = move[:, d]
            b = petsc.assemble_vector(self.L)
            petsc.apply_lifting(b, [self.a], bcs=[[self.bcs[d]]])
            b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            petsc.set_bc(b, [self.bcs[d]])
            self.ksp[d].solve(b, x.x.petsc_vec)
            x.x.scatter_forward()
            out[:, d] = x.x.array
            b.destroy()
        return out

    def destroy(self) -> None:
        for obj in self.ksp + self.mats:
            obj.destroy()


def _volumes(x: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Signed volumes (m³) of tetrahedra ``cells`` (node indices into ``x``)."""
    p = x[cells]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]),
                     p[:, 3] - p[:, 0]) / 6.0


def _regular_volume(x: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Volume (m³) of the regular tetrahedron with each cell's mean edge length."""
    p = x[cells]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    mean = sum(np.linalg.norm(p[:, a] - p[:, b], axis=1) for a, b in pairs) / 6.0
    return mean**3 / (6.0 * np.sqrt(2.0))


class _SurfaceLimit:
    """depth_k ≤ depth_j + γ |x_k − x_j| along every interface edge: the move varies
    slowly over the surface (a vertex held next to one moved fully turns cells over).
    Solved on the gathered interface (the same numbers on every rank)."""

    def __init__(self, V, edges: np.ndarray, X: np.ndarray, comm):
        imap = V.dofmap.index_map
        self.glob = imap.local_to_global(np.arange(X.shape[0], dtype=np.int32))
        self.n_own, self.n_global, self.comm = imap.size_local, imap.size_global, comm
        e = np.unique(np.sort(edges, axis=1), axis=0)
        length = np.linalg.norm(X[e[:, 0]] - X[e[:, 1]], axis=1)
        ge = np.concatenate(comm.allgather(self.glob[e].reshape(-1, 2)))
        gl = np.concatenate(comm.allgather(length))
        self.edges, first = np.unique(ge, axis=0, return_index=True)
        self.length = gl[first]

    def __call__(self, depth: np.ndarray, gamma: float) -> np.ndarray:
        full = np.zeros(self.n_global)
        for g, d in self.comm.allgather((self.glob[:self.n_own], depth[:self.n_own])):
            full[g] = d
        i, j = self.edges[:, 0], self.edges[:, 1]
        while True:
            new = full.copy()
            np.minimum.at(new, i, full[j] + gamma * self.length)
            np.minimum.at(new, j, full[i] + gamma * self.length)
            if np.array_equal(new, full):
                return full[self.glob]
            full = new


def _cell_vertices(V, dofs: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """bool per local dof: a vertex of one of ``cells`` (on any rank)."""
    count = np.zeros(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts)
    for j in range(4):
        count += np.bincount(dofs[cells, j], minlength=count.size)
    return _totals(V, count) > 0


def _moving_vertices(V, dofs, bad_cells, depth, comm, layers: int = 8) -> np.ndarray:
    """The interface vertices whose move collapses ``bad_cells``: theirs, or, for cells
    inside the CAM (the extension carries a move inward), those of the cells around them,
    grown layer by layer (up to ``layers``) until interface vertices are reached."""
    region = _cell_vertices(V, dofs, bad_cells)
    for _ in range(layers):
        if comm.allreduce(int(np.any(region & (depth > 0))), op=MPI.MAX):
            break
        region = _cell_vertices(V, dofs, np.any(region[dofs], axis=1))
    return region & (depth > 0)


def _core_move(V, depth, unit, fixed, limit, cells, settings, rounds):
    """Displacement (n, 3) of the CAM dofs and the final depths.

    The depth of the vertices of collapsing cells (volume down by 99 % or turned over;
    slivers, < 5 % of a regular cell's volume, may turn over: DOLFINx integrates
    |det J|) is halved (from the fourth round: divided by 5), kept slowly varying
    (``limit``), and the core moved again; a ``ConfigError`` after ``rounds``."""
    x0, cdm, core_dofs, comm = cells
    vol0 = _volumes(x0, cdm)
    solid_cell = np.abs(vol0) > 0.05 * _regular_volume(x0, cdm)
    dofs = V.dofmap.list[:cdm.shape[0]]
    depth = limit(depth, SLOPE)
    extension = _Extension(V, fixed, REACH * settings.depth)
    for k in range(rounds):
        disp = extension(-depth[:, None] * unit)
        bad_cells = (_volumes(x0 + disp[core_dofs], cdm) / vol0 < COLLAPSE) & solid_cell
        if not comm.allreduce(int(np.any(bad_cells)), op=MPI.MAX):
            extension.destroy()
            return disp, depth
        bad = _moving_vertices(V, dofs, bad_cells, depth, comm)
        depth = limit(np.where(bad, (0.5 if k < 3 else 0.2) * depth, depth), SLOPE)
    n_bad = comm.allreduce(int(np.count_nonzero(bad_cells)), op=MPI.SUM)
    raise ConfigError(f"resolved skin: {n_bad} cells of the CAM core collapse however "
                      "little it moves; set resolution.depth_um smaller or "
                      "resolution.skin=false")


def skin_geometry(model, settings: SkinSettings, rounds: int = 16) -> SkinGeometry:
    """Move the CAM core inward under the interface and size the columns (collective)."""
    V, cam, comm = model.Vc, model.doms.cam, model.comm
    area, normal, edges = interface_vertices(model)
    X = V.tabulate_dof_coordinates()
    faces_ = _box_faces(model, X)
    norm = np.linalg.norm(normal, axis=1)
    on = (area > 0) & (norm > 0)
    normal[faces_] = 0.0  # slide in the box faces (the out-of-face part of the move is lost)
    unit = np.where(on[:, None], normal / np.where(norm > 0, norm, 1.0)[:, None], 0.0)
    n_cells = cam.topology.index_map(3).size_local
    all_cells = np.arange(n_cells + cam.topology.index_map(3).num_ghosts, dtype=np.int32)
    core, core_map, _, gmap = dolfinx.mesh.create_submesh(cam, 3, all_cells)
    node_dof = np.empty(cam.geometry.x.shape[0], dtype=np.int64)
    node_dof[cam.geometry.dofmaps[0].ravel()] = V.dofmap.list.ravel()
    x0 = cam.geometry.x[np.asarray(gmap)].copy()
    cells = (x0, core.geometry.dofmaps[0][:n_cells], node_dof[np.asarray(gmap)], comm)
    disp, depth = _core_move(V, np.where(on, settings.depth, 0.0), unit,
                             on[:, None] | faces_, _SurfaceLimit(V, edges, X, comm), cells,
                             settings, rounds)
    core.geometry.x[:] = x0 + disp[cells[2]]
    # DOLFINx integrates |det J| (voxel meshes hold cells of both orientations)
    lost = comm.allreduce(float(np.sum(np.abs(_volumes(x0, cells[1]))
                                       - np.abs(_volumes(core.geometry.x, cells[1])))),
                          op=MPI.SUM)
    # a vertex that cannot move still gets a shallow column: the volume balance below
    # takes its volume from the core's loss elsewhere
    # (also a vertex whose facets' normals cancel: a CAM sheet one cell thick)
    depth = np.where(area > 0, np.maximum(depth, settings.depth / 64.0), 0.0)
    kappa, faces, beta = _column_shape(V, area, depth, lost, settings, comm)
    return SkinGeometry(core, core_map, beta * area, depth, kappa, faces, lost)


def _column_shape(V, area, depth, lost, settings, comm):
    """(κ per dof (1/m), relative faces, β): cross-sections β A (1 − κ s)² that hold
    ``lost`` (m³) in all. κL follows the volume ratio ρ = lost / Σ A L (a sphere of
    radius R: κ = 1/R) within ±0.5; β takes the rest (a staircase's area exceeds the
    surface it stands for: ρ small, β < 1)."""
    n_own = V.dofmap.index_map.size_local
    shell = comm.allreduce(float(np.sum(area[:n_own] * depth[:n_own])), op=MPI.SUM)
    rho = lost / shell if shell > 0 else 1.0
    # ∫_0^1 (1 − t s)² ds = 1 − t + t²/3 = ρ  ->  t = κ L
    t = 1.5 * (1.0 - np.sqrt(max(1.0 - 4.0 * (1.0 - rho) / 3.0, 0.0)))
    t = float(np.clip(t, -0.5, 0.5))
    beta = rho / (1.0 - t + t * t / 3.0)
    kappa = np.where(depth > 0, t / np.where(depth > 0, depth, 1.0), 0.0)
    deepest = float(comm.allreduce(depth.max() if depth.size else 0.0, op=MPI.MAX))
    faces = graded_faces(settings.first_cell_nm * 1e-9 / max(deepest, 1e-12), settings.growth)
    return kappa, faces, beta


# -- the columns --------------------------------------------------------------------------
class Columns:
    """Graded 1D columns (one per row): cross-sections, volumes, conductances and state.

    Args:
        area, depth, kappa: per column, m², m, 1/m (``SkinGeometry``).
        faces: relative cell faces.
        kirchhoff: Φ(c) and D(c) of the CAM.
        c0: mol/m³, the initial concentration.
    """

    def __init__(self, area, depth, kappa, faces, kirchhoff: Kirchhoff, c0: float):
        s = depth[:, None] * faces[None, :]
        k = kappa[:, None]

        def prim(z):
            return z - k * z * z + k * k * z**3 / 3.0

        a = area[:, None] * (1.0 - k * s) ** 2  # face areas
        self.vol = area[:, None] * (prim(s[:, 1:]) - prim(s[:, :-1]))
        self.first = s[:, 2] - s[:, 1]  # m, the outermost cell (after the surface node)
        mid = 0.5 * (s[:, 1:] + s[:, :-1])
        N = faces.size - 1
        self.G = np.zeros((area.size, N + 1))  # G_j between cells j-1 and j; G_N to the core
        self.G[:, 1:N] = a[:, 1:N] / (mid[:, 1:] - mid[:, :-1])
        self.G[:, N] = a[:, N] / (s[:, N] - mid[:, -1])
        self.K = kirchhoff
        self.u = np.full(self.vol.shape, float(c0))
        self.u_old = self.u.copy()

    def _system(self, u, core, inflow, dinflow, dt, rows=slice(None)):
        """Residual R and the tridiagonal Jacobian (lower, diag, upper) at ``u`` of the
        columns ``rows`` (``u``, ``core``, ``inflow``: theirs)."""
        K, G, vol = self.K, self.G[rows], self.vol[rows]
        P, D = K.phi_and_d(u)
        Q = np.zeros((u.shape[0], u.shape[1] + 1))  # inward flux at faces (mol/s)
        Q[:, 0] = inflow
        Q[:, 1:-1] = G[:, 1:-1] * (P[:, :-1] - P[:, 1:])
        Q[:, -1] = G[:, -1] * (P[:, -1] - K.phi(core))
        R = vol * (u - self.u_old[rows]) / dt - Q[:, :-1] + Q[:, 1:]
        lower = np.zeros_like(u)
        upper = np.zeros_like(u)
        lower[:, 1:] = -G[:, 1:-1] * D[:, :-1]
        upper[:, :-1] = -G[:, 1:-1] * D[:, 1:]
        diag = vol / dt + G[:, :-1] * D + G[:, 1:] * D  # G_0 = 0: Q_0 is the inflow
        diag[:, 0] -= dinflow
        return R, lower, diag, upper

    def solve(self, core, inflow_of, dt, tol=1e-9, max_it=120):
        """Column states for core concentrations ``core`` (mol/m³) and the inflow at the
        surface ``inflow_of(u_0, rows) -> (Q_0 mol/s, dQ_0/du_0)`` of the columns
        ``rows``; from ``self.u``. Returns (converged, (lower, diag, upper) at the
        solution). Each column iterates until its own update is below ``tol`` (the
        others are not computed again): its result does not depend on the other
        columns, so not on the ranks either. The last update is applied: its error is
        of the order of (tol · c_max)² / c_max. From a converged state Newton needs 3-6
        iterations (a first step from rest, on a tiny cell: up to ~100); a column still
        moving after ``max_it``, or driven out of [-1, 2] c_max (the range of Φ's table),
        has no solution at these vertex values (a wild iterate of the global Newton: its
        line search then shortens the step)."""
        u = self.u.copy()
        system = tuple(np.empty(u.shape) for _ in range(3))
        for rows in _chunks(u.shape[0]):  # CHUNK columns at a time: bounded temporaries
            if not self._newton(u, np.arange(rows.start, rows.stop), core, inflow_of, dt,
                                tol, max_it):
                return False, None
            q, dq = inflow_of(u[rows, 0], rows)
            for out, a in zip(system, self._system(u[rows], core[rows], q, dq, dt, rows)[1:],
                              strict=True):
                out[rows] = a
        self.u = u
        return bool(np.all(np.isfinite(u))), system

    def _newton(self, u, active, core, inflow_of, dt, tol, max_it) -> bool:
        """Newton on the columns ``active`` of ``u`` (updated in place); False where one
        has no solution."""
        cmax = self.K.c_max
        for _ in range(max_it):
            ua = u[active]
            q, dq = inflow_of(ua[:, 0], active)
            R, lo, di, up = self._system(ua, core[active], q, dq, dt, active)
            du = -_thomas_block(lo, di, up, R)
            du = np.clip(np.nan_to_num(du, nan=0.0), -0.1 * cmax, 0.1 * cmax)
            ua += du
            u[active] = ua
            if np.any(np.abs(ua[:, 0] - 0.5 * cmax) > 1.5 * cmax):
                return False
            active = active[~np.all(np.abs(du) < tol * cmax, axis=1)]
            if active.size == 0:
                return True
        return False

    def lithium(self, share) -> float:
        """mol in the columns, each weighted by this rank's ``share`` of it."""
        return float(np.dot(share, np.sum(self.vol * self.u, axis=1)))


class SkinInterface(NodalInterface):
    """The Butler–Volmer interface with a condensed column under every vertex (see the
    module docstring): W_k i(u_0, Φ_s, Φ_e[, c_e]) into the potentials' rows, the
    column's outflow −F Q_N into c_k's row."""

    def __init__(self, model, geometry: SkinGeometry, diffusivity):
        super().__init__(model)
        self.jc = self.args.index(model.fields.index("c"))
        cd = self.dofs[:, self.jc]
        n = geometry.area.size
        total = _totals(model.Vc, np.bincount(cd, weights=self.weight, minlength=n))[cd]
        self.w_total = total  # the vertex's whole weight W_k (m²), over ranks
        self.share = np.divide(self.weight, total, out=np.zeros_like(total), where=total > 0)
        cmax = model.params.cam.c_max
        self.columns = Columns(geometry.area[cd], geometry.depth[cd], geometry.kappa[cd],
                               geometry.faces, Kirchhoff(diffusivity, cmax),
                               model.params.operation.initial_stoichiometry * cmax)
        self.geometry = geometry
        self._memo = None

    def _current(self, vals, u0, only=None):
        """i (A/m²) and ∂i/∂ each argument (complex step; ``only``: that argument's, the
        others None), with c_s = u0."""
        args = list(vals)
        args[self.jc] = u0
        f = self.function
        i = np.real(f(*args))
        grads = []
        for j in range(len(args)):
            if only is not None and j != only:
                grads.append(None)
                continue
            h = _H * max(float(np.max(np.abs(args[j]))) if args[j].size else 1.0, 1.0)
            pert = list(args)
            pert[j] = args[j] + 1j * h
            grads.append(np.imag(f(*pert)) / h)
        return i, grads

    def _solve(self):
        """(i, Q_N, derivatives or None) at the present unknowns; NaN where a column
        does not converge (the Newton step then fails). The residual and the Jacobian of
        one Newton iteration ask at the same unknowns: the columns are solved once (the
        answer is kept with its inputs: vertex values, time step, old column state)."""
        vals = self.values()
        dt = float(self.model.dt.value)
        memo = self._memo
        if (memo is not None and memo[0] == dt
                and all(np.array_equal(a, b) for a, b in zip(memo[1], vals, strict=True))
                and np.array_equal(memo[2], self.columns.u_old)):
            self.columns.u[:] = memo[3]
            return memo[4]
        out = self._solve_columns(vals, dt)
        col = self.columns
        self._memo = (dt, [v.copy() for v in vals], col.u_old.copy(), col.u.copy(), out)
        return out

    def _solve_columns(self, vals, dt):
        col, W = self.columns, self.w_total
        jc = self.jc

        def inflow(u0, rows):
            i, g = self._current([v[rows] for v in vals], u0, only=jc)
            return -W[rows] * i / FARADAY, -W[rows] * g[jc] / FARADAY

        ok, system = col.solve(vals[jc], inflow, dt)
        if not ok:
            nan = np.full(W.size, np.nan)
            return nan, nan, system
        i, g = self._current(vals, col.u[:, 0])
        QN = col.G[:, -1] * (col.K.phi(col.u[:, -1]) - col.K.phi(vals[jc]))
        return i, QN, (system, g)

    def evaluate(self) -> np.ndarray:
        return self._solve()[0]

    def row_terms(self) -> dict:
        i, QN, _ = self._solve()
        return {k: (self.share * -FARADAY * QN if j == self.jc
                    else self.rows[k] * self.weight * i)
                for k, j in ((k, self.args.index(k)) for k in self.rows)}

    def row_derivatives(self) -> dict:
        i, QN, ((lo, di, up), g) = self._solve()
        col, W, jc, F = self.columns, self.w_total, self.jc, FARADAY
        n, N = col.u.shape
        e = np.zeros((n, N))
        e[:, 0] = 1.0
        z0 = _thomas(lo, di, up, e)
        e[:, 0], e[:, -1] = 0.0, 1.0
        zN = _thomas(lo, di, up, e)
        gN = col.G[:, -1] * col.K.d(col.u[:, -1])  # ∂Q_N/∂u_{N-1}
        core = self.values()[jc]
        di_dx, dQ_dx = [], []
        for j in range(len(self.args)):
            if j == jc:  # R_{N-1} holds +Q_N: ∂/∂c_k = −G_N D(c_k)
                r = -col.G[:, -1] * col.K.d(core)
                di_dx.append(g[jc] * (-zN[:, 0] * r))
                dQ_dx.append(r + gN * (-zN[:, -1] * r))
            else:  # R_0 holds −Q_0 = W i / F
                r = W * g[j] / F
                di_dx.append(g[j] + g[jc] * (-z0[:, 0] * r))
                dQ_dx.append(gN * (-z0[:, -1] * r))
        out = {}
        for k, sign in self.rows.items():
            if self.args.index(k) == jc:
                out[k] = [self.share * -F * d for d in dQ_dx]
            else:
                out[k] = [sign * self.weight * d for d in di_dx]
        return out

    def lithium(self) -> float:
        """mol in the columns on this rank (vertices shared by ranks counted by share)."""
        return self.columns.lithium(self.share)

    def maximum(self) -> float:
        u = self.columns.u
        return float(u.max()) if u.size else -np.inf

    def minimum(self) -> float:
        u = self.columns.u
        return float(u.min()) if u.size else np.inf
