"""Effective conductivity of a phase set: steady conduction through the voxel structure.

Solves ∇·(σ ∇u) = 0 on the face-connected clusters of the chosen phases that touch both
end faces normal to ``axis``, with u = 1 on the inlet face, u = 0 on the outlet face and
no flux elsewhere (symmetry planes and phase boundaries). σ is 1 in the bulk phase and
the phase's factor elsewhere (CBD 0.12, separator 0.5 by default).

    σ_eff/σ_bulk = I L / (A ΔU),   tortuosity factor τ = ε / (σ_eff/σ_bulk)

with L the length along ``axis``, A the full cross-section and ε the volume fraction of
the phase set (TauFactor convention). Three discretisations of the same voxel geometry:

- ``fv``: two-point flux finite volumes on the voxel grid (TauFactor's and BEST's
  convention; ``fem_assb.analysis.finite_volume``). Converges to the geometry's value
  from below as voxels are subdivided (harmonic-mean faces underestimate the flux
  through staircase corners).
- ``fem``: conforming P1 finite elements on 6 tetrahedra per voxel; the current from
  the energy, I·ΔU = ∫ σ|∇u|² dx. The P1 energy is an upper bound of the exact one
  (minimum of the energy over a subspace), so this converges from above.
- ``bracket`` (default): both, the geometry's value estimated by the midpoint of
  [fv, fem], with the bracket's bounds reported; ``extrapolated``: both at ``refine``
  and 2·``refine``, the limit from the four values assuming one common convergence
  order of the two methods (a closed form, no order assumed), bounded by the refined
  pair.

All three compute the conductivity of the voxel geometry (staircase boundaries).
``interface='smooth'`` (with ``fem``) moves the mesh's phase boundaries onto smooth
surfaces first (``fem_assb.mesh.smoothing``): the conductivity of the shapes the voxels
stand for (spheres rather than stacks of cubes), a different geometry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import ufl

from fem_assb._dolfinx import MPI, fem
from fem_assb.analysis.finite_volume import ALIGN, fv_relative_conductivity
from fem_assb.analysis.percolation import PercolationError, percolating_slab
from fem_assb.mesh import INTERFACES, build_mesh, refine_labels, tags
from fem_assb.mesh.voxel_mesh import slab_bounds
from fem_assb.numerics import linear_solver_options, unique_prefix
from fem_assb.structure.phases import CBD, PHASE_NAMES, SEPARATOR, phase_ids
from fem_assb.structure.voxels import StructureError, VoxelStructure

AXES = {"x": 0, "y": 1, "z": 2}
DEFAULT_FACTORS = {CBD: 0.12, SEPARATOR: 0.5}


METHODS = ("bracket", "fv", "fem", "extrapolated")


@dataclass
class ConductivityResult:
    """Result of ``effective_conductivity`` (dimensionless unless named)."""

    relative_conductivity: float  # σ_eff / σ_bulk (the method's value or best estimate)
    tortuosity_factor: float  # ε / (σ_eff / σ_bulk); inf when not percolating
    volume_fraction: float  # ε of the phase set
    percolating_fraction: float  # share of the phase set in through-going clusters
    phases: list[str]
    axis: str
    num_dofs: int  # unknowns of the (finest) finite-element solve, else of the FV solve
    refine: int
    method: str = "fem"
    lower_bound: float | None = None  # FV value (bracket, extrapolated)
    upper_bound: float | None = None  # FEM value (bracket, extrapolated)
    interface: str = "voxel"  # 'smooth': FEM on smoothed phase boundaries

    def to_dict(self) -> dict:
        return asdict(self)


def _resolve_factors(ids, factors) -> dict[int, float]:
    out = {}
    for pid in ids:
        out[pid] = DEFAULT_FACTORS.get(pid, 1.0)
    for key, value in (factors or {}).items():
        pid = phase_ids(key)[0]
        if pid not in ids:
            raise StructureError(f"conductivity factor given for phase '{key}', "
                                 f"which is not in the conducting set")
        if not value > 0:
            raise StructureError(f"conductivity factor of '{key}' must be > 0, got {value}")
        out[pid] = float(value)
    return out


def _fem(labels, voxel_size, ids, lut, comm, refine, solver, connectivity, interface="voxel"):
    """(σ_eff/σ_bulk, unknowns) by P1 finite elements along axis 0 of ``labels``."""
    from fem_assb._dolfinx import dolfinx

    vm = build_mesh(VoxelStructure(labels, voxel_size), phases=ids, comm=comm,
                    connectivity=connectivity, refine=refine, interface=interface)
    msh = vm.mesh
    V = fem.functionspace(msh, ("Lagrange", 1))
    Q = fem.functionspace(msh, ("DG", 0))
    sigma = fem.Function(Q)
    sigma.x.array[:] = lut[vm.cell_tags.values]
    fdim = msh.topology.dim - 1
    inlet = vm.facet_tags.find(tags.X0)
    outlet = vm.facet_tags.find(tags.X1)
    bcs = [fem.dirichletbc(1.0, fem.locate_dofs_topological(V, fdim, inlet), V),
           fem.dirichletbc(0.0, fem.locate_dofs_topological(V, fdim, outlet), V)]
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    L = fem.Constant(msh, 0.0) * v * ufl.dx
    ndofs = V.dofmap.index_map.size_global
    problem = dolfinx.fem.petsc.LinearProblem(
        a, L, bcs=bcs, petsc_options_prefix=unique_prefix("conductivity"),
        petsc_options=linear_solver_options(solver, ndofs, symmetric=True))
    uh = problem.solve()
    problem.solver.destroy()
    energy = fem.assemble_scalar(fem.form(sigma * ufl.inner(ufl.grad(uh), ufl.grad(uh)) * ufl.dx))
    current = comm.allreduce(energy, op=MPI.SUM)  # ΔU = 1
    nx, ny, nz = labels.shape
    return current * nx / (ny * nz * voxel_size), int(ndofs)


def extrapolated_limit(fv1: float, fem1: float, fv2: float, fem2: float) -> float:
    """The common limit L of two sequences at voxel sizes h and h/2 that converge from
    both sides with one order p: fem_k = L + a h_k^p, fv_k = L − b h_k^p gives
    (fem1 − L)(L − fv2) = (fem2 − L)(L − fv1), linear in L."""
    den = fem1 - fem2 + fv2 - fv1
    if den == 0:  # both exact already
        return 0.5 * (fv2 + fem2)
    return (fem1 * fv2 - fem2 * fv1) / den


def _phase_set(structure: VoxelStructure, phases, factors, axis: str):
    """(ids, names, labels with ``axis`` first, membership table, voxels of the set per
    plane, conductivity of each label) of the conducting phases; absent: an error."""
    ids = phase_ids(phases)
    names = [PHASE_NAMES[i] for i in ids]
    labels = np.moveaxis(structure.labels, AXES[axis], 0)  # a view: axis 0 is the axis
    in_set = np.zeros(256, dtype=bool)
    in_set[list(ids)] = True
    per_plane = np.array([np.count_nonzero(in_set[p]) for p in labels], dtype=np.int64)
    if per_plane.sum() == 0:
        source = structure.metadata.get("source", "structure")
        raise StructureError(f"{source}: phase(s) {', '.join(names)} absent (no voxel)")
    lut = np.zeros(256)
    for pid, f in _resolve_factors(ids, factors).items():
        lut[pid] = f
    return ids, names, labels, in_set, per_plane, lut


def _through_slab(labels: np.ndarray, in_set: np.ndarray, per_plane: np.ndarray, comm):
    """This rank's slab of planes (about equal phase voxels per rank, multigrid-aligned)
    with what does not join the two end faces cleared: (first plane, slab, global
    number of through-going voxels)."""
    bounds = slab_bounds(None, comm.size, per_plane)
    bounds[1:-1] = np.round(bounds[1:-1] / ALIGN) * ALIGN  # multigrid blocks within slabs
    bounds = np.minimum(bounds, labels.shape[0])
    x0, x1 = int(bounds[comm.rank]), int(bounds[comm.rank + 1])
    slab = np.array(labels[x0:x1], dtype=np.uint8)
    through = percolating_slab(in_set[slab], comm)
    slab[~through] = 0
    return x0, slab, comm.allreduce(int(np.count_nonzero(through)), op=MPI.SUM)


def _check_choices(axis: str, method: str, interface: str) -> None:
    if axis not in AXES:
        raise StructureError(f"axis must be one of x, y, z, got '{axis}'")
    if method not in METHODS:
        raise StructureError(f"conductivity method must be one of {', '.join(METHODS)}, "
                             f"got '{method}'")
    if interface not in INTERFACES:
        raise StructureError(f"interface must be one of {', '.join(INTERFACES)}, "
                             f"got '{interface}'")
    if interface != "voxel" and method != "fem":
        raise StructureError(f"interface '{interface}' needs method 'fem' (the finite "
                             f"volumes of '{method}' live on the voxel grid)")


def _estimate(method: str, refine: int, interface: str, fv, fem_) -> tuple:
    """(σ_eff/σ_bulk, dofs, lower, upper) of a method from the FV and FEM solvers."""
    lower = upper = None
    if method == "fv":
        rel, ndofs = fv(refine)
    elif method == "fem":
        rel, ndofs = fem_(refine, interface)
    elif method == "bracket":
        lower, _ = fv(refine)
        upper, ndofs = fem_(refine)
        rel = 0.5 * (lower + upper)
    else:
        fv1, _ = fv(refine)
        fem1, _ = fem_(refine)
        lower, _ = fv(2 * refine)
        upper, ndofs = fem_(2 * refine)
        rel = min(max(extrapolated_limit(fv1, fem1, lower, upper), lower), upper)
    return rel, ndofs, lower, upper


def effective_conductivity(structure: VoxelStructure,
                           phases: str | tuple[str, ...] = ("electrolyte",),
                           axis: str = "x", factors: dict | None = None,
                           comm: MPI.Comm = MPI.COMM_WORLD, refine: int = 1,
                           solver: str = "auto",
                           connectivity: str = "face",
                           method: str = "bracket",
                           interface: str = "voxel") -> ConductivityResult:
    """Normalised effective conductivity σ_eff/σ_bulk of ``phases`` along ``axis``.

    Parameters
    ----------
    structure : VoxelStructure
        The voxel structure.
    phases : str or sequence
        Conducting phase names or ids.
    axis : str
        'x', 'y' or 'z'.
    factors : dict, optional
        Conductivity of a phase relative to the bulk, e.g. {'cbd': 0.12} (defaults: CBD
        0.12, separator 0.5, others 1).
    comm : MPI communicator
    refine : int
        Subdivide each voxel into refine³ voxels.
    solver : str
        Finite elements: 'auto', 'direct' (MUMPS) or 'iterative' (CG + GAMG).
    connectivity : str
        Finite elements: 'face' (voxel-code connectivity) or 'vertex'.
    method : str
        'bracket' (FV and FEM, their midpoint as the estimate), 'fv', 'fem' or
        'extrapolated' (FV and FEM at refine and 2·refine; see the module docstring).
    interface : str
        Finite elements on the 'voxel' staircase or with 'smooth' phase boundaries
        (method 'fem' only: FV lives on the voxel grid).

    Returns
    -------
    ConductivityResult
        σ_eff/σ_bulk, tortuosity factor, volume fraction, bounds.

    Raises
    ------
    PercolationError
        No face-connected path of the phases joins the two end faces.
    StructureError
        An unknown axis, method, interface or phase.
    """
    _check_choices(axis, method, interface)
    ids, names, labels, in_set, per_plane, lut = _phase_set(structure, phases, factors, axis)
    fraction = float(per_plane.sum() / labels.size)
    source = structure.metadata.get("source", "structure")
    x0, slab, n_through = _through_slab(labels, in_set, per_plane, comm)
    if n_through == 0:
        raise PercolationError(
            f"{source}: phase(s) {', '.join(names)} (volume fraction {fraction:.3f}) do not "
            f"percolate along {axis}: no face-connected path joins the faces {axis} = 0 and "
            f"{axis} = L{axis}")
    h = structure.voxel_size
    nx = labels.shape[0]

    def fv(r):
        part = refine_labels(slab, r) if r > 1 else slab
        return fv_relative_conductivity(part, x0 * r, nx * r, lut, comm)

    @cache
    def whole():  # finite elements: every rank needs the whole (masked) array, once
        return np.concatenate(comm.allgather(slab)) if comm.size > 1 else slab

    def fem_(r, iface="voxel"):
        return _fem(whole(), h, ids, lut, comm, r, solver, connectivity, iface)

    rel, ndofs, lower, upper = _estimate(method, refine, interface, fv, fem_)
    return ConductivityResult(
        relative_conductivity=float(rel), tortuosity_factor=float(fraction / rel),
        volume_fraction=fraction,
        percolating_fraction=float(n_through / per_plane.sum()),
        phases=names, axis=axis, num_dofs=int(ndofs), refine=int(refine), method=method,
        lower_bound=None if lower is None else float(lower),
        upper_bound=None if upper is None else float(upper), interface=interface)


__all__ = ["METHODS", "ConductivityResult", "PercolationError", "effective_conductivity",
           "extrapolated_limit"]
