"""Effective conductivity of a phase set: steady conduction through the voxel structure.

Solves ∇·(σ ∇u) = 0 on the face-connected clusters of the chosen phases that touch both
end faces normal to ``axis``, with u = 1 on the inlet face, u = 0 on the outlet face and
no flux elsewhere (symmetry planes and phase boundaries). σ is 1 in the bulk phase and
the phase's factor elsewhere (CBD 0.12, separator 0.5 by default). The current is taken
from the energy, I·ΔU = ∫ σ|∇u|² dx, which converges at twice the rate of the field.

    σ_eff/σ_bulk = I L / (A ΔU),   tortuosity factor τ = ε / (σ_eff/σ_bulk)

with L the length along ``axis``, A the full cross-section and ε the volume fraction of
the phase set (TauFactor convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import ufl

from fem_assb._dolfinx import MPI, fem
from fem_assb.analysis.percolation import PercolationError, percolating_mask
from fem_assb.mesh import build_mesh, tags
from fem_assb.solver import linear_solver_options, unique_prefix
from fem_assb.structure.phases import CBD, PHASE_NAMES, SEPARATOR, phase_ids
from fem_assb.structure.voxels import StructureError, VoxelStructure

AXES = {"x": 0, "y": 1, "z": 2}
DEFAULT_FACTORS = {CBD: 0.12, SEPARATOR: 0.5}


@dataclass
class ConductivityResult:
    """Result of ``effective_conductivity`` (dimensionless unless named)."""

    relative_conductivity: float  # σ_eff / σ_bulk
    tortuosity_factor: float  # ε / (σ_eff / σ_bulk); inf when not percolating
    volume_fraction: float  # ε of the phase set
    percolating_fraction: float  # share of the phase set in through-going clusters
    phases: list[str]
    axis: str
    num_dofs: int
    refine: int

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


def effective_conductivity(structure: VoxelStructure, phases=("electrolyte",),
                           axis: str = "x", factors: dict | None = None,
                           comm=MPI.COMM_WORLD, refine: int = 1, solver: str = "auto",
                           connectivity: str = "face") -> ConductivityResult:
    """Normalised effective conductivity σ_eff/σ_bulk of ``phases`` along ``axis``.

    Args:
        structure: voxel structure.
        phases: conducting phase names or ids.
        axis: 'x', 'y' or 'z'.
        factors: conductivity of a phase relative to the bulk, e.g. {'cbd': 0.12}
            (defaults: CBD 0.12, separator 0.5, others 1).
        comm: MPI communicator.
        refine: subdivide each voxel into refine³ voxels.
        solver: 'auto', 'direct' (MUMPS) or 'iterative' (CG + GAMG).
        connectivity: 'face' (voxel-code connectivity) or 'vertex'.

    Raises:
        PercolationError: no face-connected path of the phases joins the two end faces.
    """
    if axis not in AXES:
        raise StructureError(f"axis must be one of x, y, z, got '{axis}'")
    ids = phase_ids(phases)
    names = [PHASE_NAMES[i] for i in ids]
    fac = _resolve_factors(ids, factors)
    labels = np.moveaxis(structure.labels, AXES[axis], 0)
    mask = np.isin(labels, ids)
    fraction = float(mask.mean())
    source = structure.metadata.get("source", "structure")
    if fraction == 0.0:
        raise StructureError(f"{source}: phase(s) {', '.join(names)} absent (no voxel)")
    through = percolating_mask(mask, axis=0)
    if not through.any():
        raise PercolationError(
            f"{source}: phase(s) {', '.join(names)} (volume fraction {fraction:.3f}) do not "
            f"percolate along {axis}: no face-connected path joins the faces {axis} = 0 and "
            f"{axis} = L{axis}")
    work = VoxelStructure(np.where(through, labels, 0).astype(np.uint8), structure.voxel_size)
    vm = build_mesh(work, phases=ids, comm=comm, connectivity=connectivity, refine=refine)
    msh = vm.mesh

    V = fem.functionspace(msh, ("Lagrange", 1))
    Q = fem.functionspace(msh, ("DG", 0))
    sigma = fem.Function(Q)
    lut = np.zeros(max(PHASE_NAMES) + 1)
    for pid, f in fac.items():
        lut[pid] = f
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
    from fem_assb._dolfinx import dolfinx

    problem = dolfinx.fem.petsc.LinearProblem(
        a, L, bcs=bcs, petsc_options_prefix=unique_prefix("conductivity"),
        petsc_options=linear_solver_options(solver, ndofs, symmetric=True))
    uh = problem.solve()
    problem.solver.destroy()
    energy = fem.assemble_scalar(fem.form(sigma * ufl.inner(ufl.grad(uh), ufl.grad(uh)) * ufl.dx))
    current = comm.allreduce(energy, op=MPI.SUM)  # ΔU = 1
    length, w1, w2 = (n * structure.voxel_size for n in labels.shape)
    rel = current * length / (w1 * w2)
    return ConductivityResult(
        relative_conductivity=float(rel), tortuosity_factor=float(fraction / rel),
        volume_fraction=fraction, percolating_fraction=float(through.sum() / mask.sum()),
        phases=names, axis=axis, num_dofs=int(ndofs), refine=int(refine))


__all__ = ["ConductivityResult", "PercolationError", "effective_conductivity"]
