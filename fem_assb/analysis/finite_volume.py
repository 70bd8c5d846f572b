"""Two-point flux finite volumes on the voxel grid (the TauFactor / BEST convention).

One unknown per conducting voxel (the voxel-centre potential). Face neighbours i, j
exchange current through the conductance of two half-voxels in series, the harmonic
mean of their conductivities,

    g_ij = 2 σ_i σ_j / (σ_i + σ_j) · h²/h,

and a voxel on an end face normal to the axis is tied to the face potential (1 at the
inlet, 0 at the outlet) through half a voxel, g = 2 σ_i h. No flux crosses the other
faces or phase boundaries. The matrix is distributed over ranks in slabs of voxel
planes (no tetrahedral mesh; every rank reads only its planes and their neighbours)
and solved by CG + GAMG. The current is the inlet flux Σ 2 σ_i h (1 − u_i).
"""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI, PETSc
from fem_assb.mesh.voxel_mesh import slab_bounds

# the column order of a row in the C-ordered global numbering: -x, -y, -z, self, +z, +y, +x
_OFFSETS = ((-1, 0, 0), (0, -1, 0), (0, 0, -1), None, (0, 0, 1), (0, 1, 0), (1, 0, 0))


def _global_ids(labels: np.ndarray, conducts: np.ndarray, planes: range,
                first_of_plane: np.ndarray) -> np.ndarray:
    """Global index (C order over the conducting voxels) of every voxel in ``planes``
    (planes outside the array and non-conducting voxels: -1)."""
    ny, nz = labels.shape[1:]
    out = np.full((len(planes), ny, nz), -1, dtype=np.int64)
    for k, p in enumerate(planes):
        if 0 <= p < labels.shape[0]:
            m = conducts[labels[p]]
            out[k][m] = first_of_plane[p] + np.arange(int(m.sum()), dtype=np.int64)
    return out


def fv_relative_conductivity(labels: np.ndarray, sigma_of_label: np.ndarray,
                             comm=MPI.COMM_WORLD, rtol: float = 1e-12) -> tuple[float, int]:
    """σ_eff/σ_ref along axis 0 of a label array, by two-point flux finite volumes.

    Args:
        labels: voxel labels (uint8); every rank holds them.
        sigma_of_label: conductivity relative to σ_ref of each label value (0: does not
            conduct). Voxels not connected to both end faces must be made non-conducting
            by the caller (their potential would be undetermined).
        comm: MPI communicator; rank r assembles the rows of its slab of x-planes.
        rtol: CG tolerance on the unpreconditioned residual.

    Returns (σ_eff/σ_ref, number of unknowns). Apart from ``labels``, memory is per slab.
    """
    nx, ny, nz = labels.shape
    sigma_of_label = np.asarray(sigma_of_label, dtype=np.float64)
    conducts = sigma_of_label > 0
    per_plane = np.array([np.count_nonzero(conducts[labels[p]]) for p in range(nx)],
                         dtype=np.int64)
    first_of_plane = np.concatenate([[0], np.cumsum(per_plane)])
    n_global = int(first_of_plane[-1])
    bounds = slab_bounds(None, comm.size, per_plane)
    x0, x1 = int(bounds[comm.rank]), int(bounds[comm.rank + 1])
    n_local = int(first_of_plane[x1] - first_of_plane[x0])

    # this slab and one plane either side, padded with a non-conducting frame in y, z
    planes = range(x0 - 1, x1 + 1)
    ids = _global_ids(labels, conducts, planes, first_of_plane)
    ids = np.pad(ids, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    sig = np.zeros(ids.shape)
    lo, hi = max(x0 - 1, 0), min(x1 + 1, nx)
    sig[lo - (x0 - 1): hi - (x0 - 1), 1:-1, 1:-1] = sigma_of_label[labels[lo:hi]]
    core = (slice(1, 1 + x1 - x0), slice(1, 1 + ny), slice(1, 1 + nz))
    own = ids[core] >= 0
    s0 = sig[core][own]

    # off-diagonal conductances in the row order above; the diagonal collects them
    cols, vals, diag = [], [], np.zeros(s0.size)
    for off in _OFFSETS:
        if off is None:
            cols.append(ids[core][own])
            vals.append(diag)  # filled below (same array object)
            continue
        nb = tuple(slice(c.start + o, c.stop + o) for c, o in zip(core, off, strict=True))
        nid = ids[nb][own]
        s1 = sig[nb][own]
        g = np.where(nid >= 0, 2.0 * s0 * s1 / np.where(nid >= 0, s0 + s1, 1.0), 0.0)
        diag += g
        cols.append(nid)
        vals.append(-g)
    # Dirichlet end faces through half a voxel: u = 1 at x = 0, u = 0 at x = nx
    plane = np.broadcast_to(np.arange(x0, x1)[:, None, None], own.shape)[own]
    inlet, outlet = plane == 0, plane == nx - 1
    diag += 2.0 * s0 * inlet + 2.0 * s0 * outlet
    rhs = 2.0 * s0 * inlet

    cols = np.stack(cols, axis=1)
    vals = np.stack(vals, axis=1)
    keep = cols >= 0
    counts = keep.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    A = PETSc.Mat().createAIJ(((n_local, n_global), (n_local, n_global)), comm=comm,
                              csr=(indptr, cols[keep].astype(PETSc.IntType), vals[keep]))
    del cols, vals, keep, ids, sig
    A.setOption(PETSc.Mat.Option.SPD, True)
    b = A.createVecLeft()
    b.array[:] = rhs
    u = A.createVecRight()
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("gamg")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.solve(b, u)
    reason = ksp.getConvergedReason()
    for obj in (ksp, A, b):
        obj.destroy()
    if reason < 0:
        u.destroy()
        raise RuntimeError(f"finite-volume conduction solve did not converge (reason {reason})")
    current = comm.allreduce(float(np.sum(2.0 * s0[inlet] * (1.0 - u.array[inlet]))),
                             op=MPI.SUM)
    u.destroy()
    return current * nx / (ny * nz), n_global


__all__ = ["fv_relative_conductivity"]
