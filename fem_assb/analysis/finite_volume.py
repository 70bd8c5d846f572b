"""Two-point flux finite volumes on the voxel grid (the TauFactor / BEST convention).

One unknown per conducting voxel (the voxel-centre potential). Face neighbours i, j
exchange current through the conductance of two half-voxels in series, the harmonic
mean of their conductivities,

    g_ij = 2 σ_i σ_j / (σ_i + σ_j) · h²/h,

and a voxel on an end face normal to the axis is tied to the face potential (1 at the
inlet, 0 at the outlet) through half a voxel, g = 2 σ_i h. No flux crosses the other
faces or phase boundaries. The current is the inlet flux Σ 2 σ_i h (1 − u_i).

Solver: CG preconditioned by multigrid on the voxel grid itself: each coarser level
aggregates the conducting voxels of a 2 × 2 × 2 block into one unknown (piecewise
constant interpolation, Galerkin coarse operators, W-cycles, Chebyshev–Jacobi smoothing,
GAMG on the coarsest level). About 300 bytes per unknown, summed over ranks (GAMG on
the fine grid: ~380 serial, ~700 on two ranks, for its graph products), at about
GAMG's speed.

The label array is distributed over ranks in slabs of voxel planes (no tetrahedral mesh,
no rank holds the whole array): a rank assembles the rows of its slab, a few planes at a
time straight into compressed rows, with one plane of each neighbouring slab.
"""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI, PETSc
from fem_assb.numerics.options import unique_prefix

# the column order of a row in the C-ordered global numbering: -x, -y, -z, self, +z, +y, +x
_OFFSETS = ((-1, 0, 0), (0, -1, 0), (0, 0, -1), None, (0, 0, 1), (0, 1, 0), (1, 0, 0))
_CHUNK_VOXELS = 1 << 19  # voxels assembled at a time (the temporaries' size)
MAX_LEVELS = 5  # multigrid levels; slabs start on multiples of ALIGN planes
ALIGN = 2 ** (MAX_LEVELS - 1)
_COARSEST = 2000  # stop aggregating below this many unknowns
_MG_OPTIONS = {"pc_mg_galerkin": "both", "pc_mg_cycle_type": "w",
               "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi",
               "mg_levels_ksp_max_it": 2,
               # D⁻¹A of a weakly diagonally dominant M-matrix (every level: piecewise-
               # constant Galerkin keeps it one) has its eigenvalues in (0, 2]: no estimate
               "mg_levels_ksp_chebyshev_eigenvalues": "0.2,2.0",
               "mg_coarse_ksp_type": "preonly",
               "mg_coarse_pc_type": "gamg"}
# Galerkin products P^T A P without the A·P intermediate (~155 B per fine unknown on
# more than one rank; not a serial algorithm); read unprefixed at the set-up
_PTAP = ("matptap_via", "allatonce")


def _neighbour_planes(slab: np.ndarray, comm) -> tuple[np.ndarray, np.ndarray]:
    """The last plane of the previous non-empty slab and the first plane of the next one
    (zeros at the array's ends)."""
    ny, nz = slab.shape[1:]
    sizes = comm.allgather(len(slab))
    below = np.zeros((ny, nz), np.uint8)
    above = np.zeros((ny, nz), np.uint8)
    if not len(slab):
        return below, above
    prev = next((r for r in range(comm.rank - 1, -1, -1) if sizes[r]), None)
    after = next((r for r in range(comm.rank + 1, comm.size) if sizes[r]), None)
    reqs = []
    if prev is not None:
        reqs += [comm.Isend(np.ascontiguousarray(slab[0]), dest=prev, tag=1),
                 comm.Irecv(below, source=prev, tag=2)]
    if after is not None:
        reqs += [comm.Isend(np.ascontiguousarray(slab[-1]), dest=after, tag=2),
                 comm.Irecv(above, source=after, tag=1)]
    MPI.Request.Waitall(reqs)
    return below, above


class _Rows:
    """Compressed rows of this rank's slab, chunk by chunk of planes."""

    def __init__(self, slab, below, above, x0, nx, sigma_of_label, first_of_plane):
        self.slab, self.below, self.above = slab, below, above
        self.x0, self.nx, self.sigma = x0, nx, sigma_of_label
        self.first_of_plane = first_of_plane
        ny, nz = slab.shape[1:]
        self.step = max(1, _CHUNK_VOXELS // (ny * nz))

    def chunks(self):
        """(local first plane, the chunk's planes with one neighbour plane either side)."""
        nloc = len(self.slab)
        for a in range(0, nloc, self.step):
            b = min(a + self.step, nloc)
            lo = self.slab[a - 1] if a > 0 else self.below
            hi = self.slab[b] if b < nloc else self.above
            yield a, np.concatenate([lo[None], self.slab[a:b], hi[None]])

    def stencil(self, a, ext):
        """Columns (-1: none) and conductances of the chunk's rows, in ``_OFFSETS`` order,
        and the rows' σ and global planes."""
        conducts = self.sigma[ext] > 0
        ids = np.full(ext.shape, -1, dtype=np.int64)
        for k in range(len(ext)):
            p = self.x0 + a - 1 + k
            if 0 <= p < self.nx:
                m = conducts[k]
                ids[k][m] = self.first_of_plane[p] + np.arange(int(m.sum()))
        ids = np.pad(ids, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
        lab = np.pad(ext, ((0, 0), (1, 1), (1, 1)))
        ny, nz = ext.shape[1:]
        core = (slice(1, len(ext) - 1), slice(1, ny + 1), slice(1, nz + 1))
        own = ids[core] >= 0
        s0 = self.sigma[lab[core][own]]
        cols = np.empty((s0.size, 7), dtype=np.int64)
        vals = np.empty((s0.size, 7))
        diag = np.zeros(s0.size)
        for j, off in enumerate(_OFFSETS):
            if off is None:
                cols[:, j] = ids[core][own]
                continue
            nb = tuple(slice(c.start + o, c.stop + o) for c, o in zip(core, off, strict=True))
            nid = ids[nb][own]
            s1 = self.sigma[lab[nb][own]]
            g = np.where(nid >= 0, 2.0 * s0 * s1 / np.where(nid >= 0, s0 + s1, 1.0), 0.0)
            diag += g
            cols[:, j] = nid
            vals[:, j] = -g
        plane = np.broadcast_to((self.x0 + a + np.arange(len(ext) - 2))[:, None, None],
                                own.shape)[own]
        diag += 2.0 * s0 * (plane == 0) + 2.0 * s0 * (plane == self.nx - 1)  # ends: half a voxel
        vals[:, 3] = diag
        return cols, vals, s0, plane


def _aggregation(mask: np.ndarray, comm):
    """Interpolation from 2 × 2 × 2 blocks of ``mask`` (this rank's slab, starting on an
    even plane) to its voxels, and the blocks' mask. Unknowns are numbered in C order
    over the mask's voxels, rank after rank, as the matrix rows. Made two planes at a
    time (temporaries of a plane's size)."""
    nx, ny, nz = mask.shape
    cy, cz = (ny + 1) // 2, (nz + 1) // 2
    occupied = np.zeros(((nx + 1) // 2, cy, cz), dtype=bool)
    pair = np.zeros((2, 2 * cy, 2 * cz), dtype=bool)
    for p in range(len(occupied)):
        pair[:] = False
        pair[: min(2, nx - 2 * p), :ny, :nz] = mask[2 * p: 2 * p + 2]
        occupied[p] = pair.reshape(2, cy, 2, cz, 2).any(axis=(0, 2, 4))
    n, nc = int(np.count_nonzero(mask)), int(np.count_nonzero(occupied))
    first = comm.exscan(nc) or 0 if comm.size > 1 else 0
    cols = np.empty(n, dtype=PETSc.IntType)  # the block (coarse unknown) of each voxel
    number = np.zeros((cy, cz), dtype=PETSc.IntType)
    r, c = 0, first
    for p in range(len(occupied)):
        m = int(np.count_nonzero(occupied[p]))
        number[occupied[p]] = np.arange(c, c + m, dtype=PETSc.IntType)
        c += m
        of_voxel = number.repeat(2, axis=0)[:ny].repeat(2, axis=1)[:, :nz]
        for plane in mask[2 * p: 2 * p + 2]:
            block = of_voxel[plane]
            cols[r: r + len(block)] = block
            r += len(block)
    P = PETSc.Mat().createAIJ(
        ((n, None), (nc, None)), comm=comm,
        csr=(np.arange(n + 1, dtype=PETSc.IntType), cols, np.ones(n)))
    return P, occupied


def _multigrid(ksp, slab, sigma, x0, nx, comm) -> list:
    """Set up ``ksp``'s preconditioner, the voxel-block multigrid. Returns the
    interpolation matrices (to destroy after the solve)."""
    # levels: every slab must start on a multiple of 2^(levels - 1) planes
    align = x0 & -x0 if 0 < x0 < nx else ALIGN  # the largest power of two dividing x0
    levels = min(MAX_LEVELS, int(comm.allreduce(min(align, ALIGN), op=MPI.MIN)).bit_length())
    mask = (sigma > 0)[slab]
    interps = []
    while len(interps) < levels - 1:
        if comm.allreduce(int(np.count_nonzero(mask)), op=MPI.SUM) < 8 * _COARSEST:
            break
        P, mask = _aggregation(mask, comm)
        interps.append(P)
    del mask
    pc = ksp.getPC()
    if not interps:
        pc.setType("gamg")
        return []
    prefix = unique_prefix("fv")
    ksp.setOptionsPrefix(prefix)
    pc.setType("mg")
    pc.setMGLevels(len(interps) + 1)
    for level, P in enumerate(reversed(interps), start=1):
        pc.setMGInterpolation(level, P)
    opts = PETSc.Options()
    for key, value in _MG_OPTIONS.items():
        opts[prefix + key] = value
    ksp.setFromOptions()
    ours = comm.size > 1 and not opts.hasName(_PTAP[0])  # (MPI only); a user's choice stays
    if ours:
        opts[_PTAP[0]] = _PTAP[1]
    try:
        ksp.setUp()
    finally:
        for key in [prefix + key for key in _MG_OPTIONS] + ([_PTAP[0]] if ours else []):
            opts.delValue(key)
    return interps


def _assemble(rows, start: int, n_local: int, n_global: int, comm):
    """The FV matrix (preallocated, then filled chunk by chunk), its right-hand side and
    the inlet rows with their conductance."""
    # entries per row on and off this rank first (preallocation), then the rows chunk by
    # chunk straight into the matrix: each chunk's stencil is made twice, on purpose (a
    # few seconds at 1e7 voxels), rather than holding a copy of all rows outside PETSc
    d_nnz = np.empty(n_local, dtype=PETSc.IntType)
    o_nnz = np.empty(n_local, dtype=PETSc.IntType)
    r = 0
    for a, ext in rows.chunks():
        cols, *_ = rows.stencil(a, ext)
        on = (cols >= start) & (cols < start + n_local)
        d_nnz[r: r + len(cols)] = on.sum(axis=1)
        o_nnz[r: r + len(cols)] = (cols >= 0).sum(axis=1) - d_nnz[r: r + len(cols)]
        r += len(cols)
    # (an empty slab preallocates by scalars: petsc4py takes an empty array for "not
    # given", and that rank's assembly would wait for a collective set-up the others skip)
    A = PETSc.Mat().createAIJ(((n_local, n_global), (n_local, n_global)),
                              nnz=(d_nnz, o_nnz) if n_local else (0, 0), comm=comm)
    del d_nnz, o_nnz
    rhs = np.zeros(n_local)
    inlet_rows, inlet_sigma = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    r = 0
    for a, ext in rows.chunks():
        cols, vals, s0, plane = rows.stencil(a, ext)
        keep = cols >= 0
        indptr = np.zeros(len(cols) + 1, dtype=PETSc.IntType)
        np.cumsum(keep.sum(axis=1), out=indptr[1:])
        A.setValuesIJV(indptr, cols[keep].astype(PETSc.IntType), vals[keep],
                       rowmap=np.arange(start + r, start + r + len(cols), dtype=PETSc.IntType))
        inlet = np.flatnonzero(plane == 0)
        rhs[r + inlet] = 2.0 * s0[inlet]
        inlet_rows.append(r + inlet)
        inlet_sigma.append(s0[inlet])
        r += len(cols)
    return A, rhs, np.concatenate(inlet_rows), np.concatenate(inlet_sigma)


def fv_relative_conductivity(slab: np.ndarray, x0: int, nx: int, sigma_of_label,
                             comm=MPI.COMM_WORLD, rtol: float = 1e-12) -> tuple[float, int]:
    """σ_eff/σ_ref along axis 0 of a label array distributed in slabs of planes.

    Args:
        slab: this rank's planes [x0, x0 + len(slab)) of the label array (uint8); the
            slabs of ranks 0, 1, … follow one another and make the whole array.
        x0: the global index of the slab's first plane.
        nx: planes of the whole array.
        sigma_of_label: conductivity relative to σ_ref of each label value (0: does not
            conduct). Voxels not connected to both end faces must be made non-conducting
            by the caller (their potential would be undetermined).
        comm: MPI communicator of the slabs.
        rtol: CG tolerance on the unpreconditioned residual.

    Returns (σ_eff/σ_ref, number of unknowns). Memory: the slab, the matrix rows and
    the solver's (no other rank's data beyond one plane).
    """
    ny, nz = slab.shape[1:]
    sigma = np.asarray(sigma_of_label, dtype=np.float64)
    conducts = sigma > 0
    local = np.array([np.count_nonzero(conducts[p]) for p in slab], dtype=np.int64)
    per_plane = np.concatenate(comm.allgather(local))
    first_of_plane = np.concatenate([[0], np.cumsum(per_plane)])
    n_global = int(first_of_plane[-1])
    n_local = int(local.sum())
    rows = _Rows(slab, *_neighbour_planes(slab, comm), x0, nx, sigma, first_of_plane)

    A, rhs, inlet_rows, inlet_sigma = _assemble(rows, int(first_of_plane[x0]), n_local,
                                                n_global, comm)
    A.assemble()
    A.setOption(PETSc.Mat.Option.SPD, True)
    b = A.createVecLeft()
    b.array[:] = rhs
    del rhs
    u = A.createVecRight()
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    interps = _multigrid(ksp, slab, sigma, x0, nx, comm)
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.solve(b, u)
    reason = ksp.getConvergedReason()
    for obj in (ksp, A, b, *interps):
        obj.destroy()
    if reason < 0:
        u.destroy()
        raise RuntimeError(f"finite-volume conduction solve did not converge (reason {reason})")
    current = comm.allreduce(float(np.sum(2.0 * inlet_sigma * (1.0 - u.array[inlet_rows]))),
                             op=MPI.SUM)
    u.destroy()
    return current * nx / (ny * nz), n_global


__all__ = ["fv_relative_conductivity"]
