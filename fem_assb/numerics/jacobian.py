"""The Jacobian matrix of a cell model with the sparsity its terms really have.

The facet terms (interface, collector, anode) are assembled vertex by vertex
(``fem_assb.physics.nodal``): they couple only the unknowns that sit on the same mesh
vertex. (As interior-facet integrals between two submeshes, DOLFINx 0.11 gave the
interface every 4×4 pair of both cells plus stale columns of earlier facets and a hub
row/column at dof 0: 57 % of the stored entries were explicit zeros, and the pattern
build was the memory peak of a run.)
The pattern here is

    bulk:       the cell integrals of each Jacobian block (DOLFINx's own pattern of
                each compiled block),
    facets:     one entry per facet vertex and pair of the nodal terms' unknowns,

and the vectors have DOLFINx's 'mpi' block layout (rank r owns block 0's rows, then
block 1's, ...). The matrix is one AIJ matrix (for the direct solver), or, for the field
split of the iterative solver, a MATNEST with one AIJ matrix per pair of field-split
groups: the field split and GAMG then work on the stored blocks in place, where with one
AIJ matrix PETSc copies every diagonal block and every group's rows (two copies of the
Jacobian, measured 218 MiB per rank at the default structure on 2 ranks). A non-zero
outside the pattern is an error, never a silent reallocation.
"""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, fem
from fem_assb._dolfinx_private import sparsity_pattern


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


def _block_pattern(a, spaces, i: int, j: int, nodal_terms, comm):
    """The finalised sparsity pattern of Jacobian block (i, j): the compiled form ``a``'s
    (or none) plus the nodal terms' vertex pairs; None when the block is empty."""
    found = [t.pattern_pairs(i, j) for t in nodal_terms]
    found = [p for p in found if p is not None]
    pairs = np.unique(np.concatenate(found), axis=0) if found else None
    # collective below: the block is empty only if it is empty on every rank
    if a is None and not comm.allreduce(pairs is not None, op=MPI.LOR):
        return None
    if a is not None:
        sp = fem.create_sparsity_pattern(a)
    else:
        sp = sparsity_pattern(comm, spaces[i], spaces[j])
    if pairs is not None:
        ins = sp.insert
        for r, c in pairs.tolist():
            ins(r, c)
    sp.finalize()
    return sp if sp.num_nonzeros else None


def _csr(J: list, rows: list, cols: list, spaces: list, nodal_terms, comm):
    """CSR pattern (owned rows) of the Jacobian blocks J[i][j], i in ``rows``, j in
    ``cols`` (unknown indices), stacked in the 'mpi' layouts of those unknowns.
    Returns (indptr, indices, row layout, column layout, global number of columns)."""
    # one block's pattern at a time (DOLFINx's pattern, while it is being built, costs
    # several times its final size): -> (owned rows, global columns of the block) ->
    # columns of the stacked 'mpi' layout, merged and sorted row by row per block row
    rlay = _BlockLayout([spaces[i] for i in rows], comm)
    clay = _BlockLayout([spaces[j] for j in cols], comm)
    n_cols = int(comm.allreduce(int(clay.sizes.sum())))
    indptrs, indices = [], []
    for ii, i in enumerate(rows):
        n_i = int(rlay.sizes[ii])
        counts_i = np.zeros(n_i, dtype=np.int64)
        parts = []
        for jj, j in enumerate(cols):
            sp = _block_pattern(J[i][j], spaces, i, j, nodal_terms, comm)
            if sp is None:
                continue
            c, offsets = sp.graph
            offsets = np.asarray(offsets[: n_i + 1], dtype=np.int64)
            c = np.asarray(c[: offsets[-1]])
            gcols = _block_global(c, sp.index_map(1), spaces[j].dofmap.index_map_bs)
            del sp, c
            cnt = np.diff(offsets)
            parts.append((cnt, clay.stacked(gcols, jj)))
            counts_i += cnt
        # interleave the blocks' columns row by row, then sort each row's columns
        # (one int64 key per entry: row · n_cols + column)
        indptr_i = np.concatenate([[0], np.cumsum(counts_i)])
        key = np.empty(indptr_i[-1], dtype=np.int64)
        fill = indptr_i[:-1].copy()
        rows_key = np.arange(n_i, dtype=np.int64) * n_cols
        for cnt, stacked in parts:
            pos = np.repeat(fill - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) \
                + np.arange(cnt.sum())
            key[pos] = stacked + np.repeat(rows_key, cnt)
            fill += cnt
        del parts
        key.sort()
        key -= np.repeat(rows_key, counts_i)
        indices.append(key.astype(PETSc.IntType))
        indptrs.append(counts_i)
        del key
    counts = np.concatenate(indptrs)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    return indptr, np.concatenate(indices), rlay, clay


def _aij(J, rows, cols, spaces, nodal_terms, comm) -> PETSc.Mat | None:
    """The AIJ matrix of the blocks (rows × cols) with their pattern and local-to-global
    maps; None when the blocks hold no entry on any rank."""
    indptr, indices, rlay, clay = _csr(J, rows, cols, spaces, nodal_terms, comm)
    if comm.allreduce(int(indices.size)) == 0:
        return None
    A = PETSc.Mat().createAIJ(((int(rlay.sizes.sum()), None), (int(clay.sizes.sum()), None)),
                              comm=comm)
    A.setPreallocationCSR((indptr, indices))
    A.assemble()
    rmap = PETSc.LGMap().create(_local_to_global([spaces[i] for i in rows], rlay),
                                comm=MPI.COMM_SELF)
    cmap = rmap if cols == rows else PETSc.LGMap().create(
        _local_to_global([spaces[j] for j in cols], clay), comm=MPI.COMM_SELF)
    A.setLGMap(rmap, cmap)
    A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
    return A


def _local_sizes(spaces) -> list:
    return [(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts)
            * V.dofmap.index_map_bs for V in spaces]


class JacobianMatrix:
    """The Jacobian of a cell model: one AIJ matrix, or (``groups`` given) a MATNEST of
    one AIJ matrix per pair of groups.

    Args:
        J: compiled Jacobian blocks (unknown by unknown; None for empty blocks).
        spaces: the unknowns' function spaces, in block order.
        nodal_terms: the vertex-by-vertex facet terms (``NodalTerm``; may be empty).
        comm: MPI communicator.
        groups: {name: unknown indices} of the field split (each group a run of
            consecutive unknowns, together covering all); None for one AIJ matrix.
        prefix: options prefix of the matrix (or of its blocks).

    ``mat`` is the PETSc matrix; ``local_block(i, j)`` / ``restore_local_block`` give the
    block of unknowns (i, j) in local (owned + ghost) numbering for assembly,
    ``add_local`` adds entries to it, ``split_index_sets()`` gives the groups' index sets
    for ``PCFieldSplitSetIS`` (the nest's own, so the field split takes its blocks).
    """

    def __init__(self, J: list, spaces: list, nodal_terms, comm, groups: dict | None = None,
                 prefix: str | None = None):
        n = len(spaces)
        self.comm = comm
        self.groups = dict(groups) if groups else {"all": tuple(range(n))}
        members = [k for g in self.groups.values() for k in g]
        if members != list(range(n)):
            raise ValueError(f"field-split groups {self.groups} must list the {n} unknowns "
                             "once each, in block order")
        # unknown -> (group, offset of its local dofs in the group's local numbering)
        self._where = {}
        for g, ks in enumerate(self.groups.values()):
            offsets = np.concatenate([[0], np.cumsum(_local_sizes([spaces[k] for k in ks]))])
            for k, off in zip(ks, offsets[:-1], strict=True):
                self._where[k] = (g, int(off))
        self._n_local = _local_sizes(spaces)
        self.nested = groups is not None
        g_members = list(self.groups.values())
        blocks = [[_aij(J, list(r), list(c), spaces, nodal_terms, comm) for c in g_members]
                  for r in g_members]
        # index sets of the groups' owned rows in the stacked 'mpi' numbering
        layout = _BlockLayout(spaces, comm)
        first = int(layout.rank_offset[comm.rank])
        starts = first + np.concatenate([[0], np.cumsum(layout.sizes)])
        self._split_is = [PETSc.IS().createStride(int(starts[ks[-1] + 1] - starts[ks[0]]),
                                                  int(starts[ks[0]]), 1, comm=comm)
                          for ks in g_members]
        if self.nested:
            self.mat = PETSc.Mat().createNest(blocks, isrows=self._split_is,
                                              iscols=self._split_is, comm=comm)
            self._blocks = blocks
        else:
            self.mat = blocks[0][0]
            self._blocks = [[self.mat]]
        if prefix:
            self.mat.setOptionsPrefix(prefix)
        self._local_is = {}

    def _block(self, i: int, j: int):
        (gi, oi), (gj, oj) = self._where[i], self._where[j]
        return self._blocks[gi][gj], oi, oj

    def _is(self, k: int, offset: int) -> PETSc.IS:
        key = (k, offset)
        if key not in self._local_is:
            self._local_is[key] = PETSc.IS().createStride(self._n_local[k], offset, 1,
                                                          comm=MPI.COMM_SELF)
        return self._local_is[key]

    def local_block(self, i: int, j: int) -> PETSc.Mat | None:
        """Block (i, j) in the unknowns' local numbering (``setValuesLocal``); None when
        the pattern has no entry in it on any rank."""
        B, oi, oj = self._block(i, j)
        return None if B is None else B.getLocalSubMatrix(self._is(i, oi), self._is(j, oj))

    def restore_local_block(self, i: int, j: int, sub: PETSc.Mat) -> None:
        B, oi, oj = self._block(i, j)
        B.restoreLocalSubMatrix(self._is(i, oi), self._is(j, oj), sub)

    def add_local(self, i: int, j: int, rows, cols, values) -> None:
        """A[i, j][rows, cols] += values (local dof numbers of unknowns i and j)."""
        B, oi, oj = self._block(i, j)
        B.setValuesLocalRCV((np.asarray(rows) + oi).astype(PETSc.IntType).reshape(-1, 1),
                            (np.asarray(cols) + oj).astype(PETSc.IntType).reshape(-1, 1),
                            np.asarray(values, dtype=PETSc.ScalarType).reshape(-1, 1),
                            addv=PETSc.InsertMode.ADD_VALUES)

    def split_index_sets(self) -> list:
        """[(group name, IS of its owned rows)] for the field split."""
        return list(zip(self.groups, self._split_is, strict=True))

    def destroy(self) -> None:
        self.mat.destroy()
        if self.nested:
            for row in self._blocks:
                for B in row:
                    if B is not None:
                        B.destroy()
        for obj in self._split_is + list(self._local_is.values()):
            obj.destroy()
