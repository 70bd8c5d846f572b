"""The Jacobian matrix of a cell model with the sparsity its terms really have.

The interface terms are assembled vertex by vertex (``fem_assb.physics.interface``):
they couple only the unknowns that sit on the same mesh vertex. (As interior-facet
integrals between two submeshes, DOLFINx 0.11 gave them every 4×4 pair of both cells
plus stale columns of earlier facets and a hub row/column at dof 0: 57 % of the stored
entries were explicit zeros, and the pattern build was the memory peak of a run.)
The pattern here is

    bulk:       the cell and boundary integrals of each Jacobian block (DOLFINx's own
                pattern of each compiled block),
    interface:  one entry per interface vertex and pair of interface unknowns,

and the matrix is created in DOLFINx's 'mpi' block layout (rank r owns block 0's rows,
then block 1's, ...). A non-zero outside the pattern is an error, never a silent
reallocation.
"""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, dolfinx, fem


class _BlockLayout:
    """DOLFINx's 'mpi' block layout over ranks: rank r owns block 0's rows, then block
    1's, ...; ``stacked(g, j)`` maps global indices g of block j to the stacked numbering."""

    def __init__(self, spaces, comm):
        bs = [V.dofmap.index_map_bs for V in spaces]
        sizes = [V.dofmap.index_map.size_local * b for V, b in zip(spaces, bs, strict=True)]
        firsts = [V.dofmap.index_map.local_range[0] * b for V, b in zip(spaces, bs, strict=True)]
        self.sizes = np.array(sizes, dtype=np.int64)  # this rank's owned dofs per block
        self.starts = np.array(comm.allgather(firsts), dtype=np.int64)  # [rank, block]
        all_sizes = np.array(comm.allgather(sizes), dtype=np.int64)
        self.rank_offset = np.concatenate([[0], np.cumsum(all_sizes.sum(axis=1))[:-1]])
        self.block_offset = np.cumsum(all_sizes, axis=1) - all_sizes  # [rank, block]

    def stacked(self, g: np.ndarray, j: int) -> np.ndarray:
        owner = np.searchsorted(self.starts[:, j], g, side="right") - 1
        return self.rank_offset[owner] + self.block_offset[owner, j] + (g - self.starts[owner, j])


def _local_to_global(spaces, layout: _BlockLayout) -> np.ndarray:
    """Stacked global index of every local dof (owned then ghost, block after block)."""
    out = []
    for j, V in enumerate(spaces):
        n_local = V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts
        local = np.arange(n_local * V.dofmap.index_map_bs, dtype=np.int64)
        out.append(layout.stacked(_block_global(local, V.dofmap.index_map,
                                                V.dofmap.index_map_bs), j))
    return np.concatenate(out).astype(PETSc.IntType)


def _block_global(cols: np.ndarray, imap, bs: int) -> np.ndarray:
    """Global indices (in the block's own numbering) of local (owned/ghost) columns."""
    cols = np.asarray(cols, dtype=np.int64)
    n_own = imap.size_local * bs
    out = np.empty(cols.size, dtype=np.int64)
    own = cols < n_own
    out[own] = cols[own] + imap.local_range[0] * bs
    g = cols[~own] - n_own
    ghosts = np.asarray(imap.ghosts, dtype=np.int64)
    out[~own] = ghosts[g // bs] * bs + g % bs
    return out


def _block_pattern(a, spaces, i: int, j: int, interface, comm):
    """The finalised sparsity pattern of Jacobian block (i, j): the compiled form ``a``'s
    (or none) plus the interface vertex pairs; None when the block is empty."""
    pairs = interface.pattern_pairs(i, j) if interface is not None else None
    if a is None and pairs is None:
        return None
    if a is not None:
        sp = fem.create_sparsity_pattern(a)
    else:
        sp = dolfinx.cpp.la.SparsityPattern(
            comm, [spaces[i].dofmap.index_map, spaces[j].dofmap.index_map],
            [spaces[i].dofmap.index_map_bs, spaces[j].dofmap.index_map_bs])
    if pairs is not None:
        ins = sp.insert
        for r, c in pairs.tolist():
            ins(r, c)
    sp.finalize()
    return sp if sp.num_nonzeros else None


def jacobian_matrix(J: list, spaces: list, interface, comm,
                    prefix: str | None = None) -> PETSc.Mat:
    """A PETSc AIJ matrix for the compiled Jacobian blocks ``J`` (DOLFINx 'mpi' layout)
    plus the interface couplings of ``interface`` (``NodalInterface``) vertex by vertex."""
    # one block's pattern at a time (DOLFINx's pattern, while it is being built, costs
    # several times its final size): -> (owned rows, global columns of the block) ->
    # columns of the stacked 'mpi' layout, merged and sorted row by row per block row
    layout = _BlockLayout(spaces, comm)
    sizes = layout.sizes
    n_global = int(comm.allreduce(int(sizes.sum())))
    indptrs, indices = [], []
    for i, Ji in enumerate(J):
        n_i = int(sizes[i])
        counts_i = np.zeros(n_i, dtype=np.int64)
        parts = []
        for j, a in enumerate(Ji):
            sp = _block_pattern(a, spaces, i, j, interface, comm)
            if sp is None:
                continue
            cols, offsets = sp.graph
            offsets = np.asarray(offsets[: n_i + 1], dtype=np.int64)
            cols = np.asarray(cols[: offsets[-1]])
            gcols = _block_global(cols, sp.index_map(1), spaces[j].dofmap.index_map_bs)
            del sp, cols
            cnt = np.diff(offsets)
            parts.append((cnt, layout.stacked(gcols, j)))
            counts_i += cnt
        # interleave the blocks' columns row by row, then sort each row's columns
        # (one int64 key per entry: row · n_global + column)
        indptr_i = np.concatenate([[0], np.cumsum(counts_i)])
        key = np.empty(indptr_i[-1], dtype=np.int64)
        fill = indptr_i[:-1].copy()
        rows = np.arange(n_i, dtype=np.int64) * n_global
        for cnt, stacked in parts:
            pos = np.repeat(fill - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) \
                + np.arange(cnt.sum())
            key[pos] = stacked + np.repeat(rows, cnt)
            fill += cnt
        del parts
        key.sort()
        key -= np.repeat(rows, counts_i)
        indices.append(key.astype(PETSc.IntType))
        indptrs.append(counts_i)
        del key
    counts = np.concatenate(indptrs)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    indices = np.concatenate(indices)
    n_local = int(sizes.sum())
    A = PETSc.Mat().createAIJ(((n_local, None), (n_local, None)), comm=comm)
    A.setPreallocationCSR((indptr, indices))
    A.assemble()
    l2g = PETSc.LGMap().create(_local_to_global(spaces, layout), comm=MPI.COMM_SELF)
    A.setLGMap(l2g, l2g)
    A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
    if prefix:
        A.setOptionsPrefix(prefix)
    return A
