"""Face-connected clusters of a phase set (numpy/scipy only).

``percolating_mask`` labels a whole array; ``percolating_slab`` does the same for an
array distributed over MPI ranks in slabs of planes along axis 0 (each rank labels its
own slab, and rank 0 joins the clusters that meet across slab boundaries), so no rank
needs more than its slab and two planes of every other slab.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph


class PercolationError(ValueError):
    """A phase set does not connect the two faces it must conduct between."""


def percolating_mask(mask: np.ndarray, axis: int = 0) -> np.ndarray:
    """Voxels of ``mask`` in face-connected clusters that touch both faces normal to ``axis``.

    Clusters touching one face only carry no steady current, and clusters touching
    neither would float; both are left out of a conduction problem.
    """
    lab, _ = ndimage.label(mask)  # default structure: 6-neighbour (face) connectivity
    first = np.unique(np.take(lab, 0, axis=axis))
    last = np.unique(np.take(lab, -1, axis=axis))
    through = np.intersect1d(first[first > 0], last[last > 0])
    if through.size == 0:
        return np.zeros_like(mask, dtype=bool)
    return np.isin(lab, through)


def percolating_slab(mask: np.ndarray, comm) -> np.ndarray:
    """``percolating_mask`` along axis 0 of a mask distributed in slabs of planes.

    Args:
        mask: this rank's planes of the global mask (possibly none: shape (0, ny, nz));
            the slabs of ranks 0, 1, … follow one another along axis 0 and together
            make the whole array.
        comm: MPI communicator of the slabs.

    Returns the voxels of this slab in clusters that join the first and last plane of the
    whole array. Memory: 4 bytes per voxel of the slab (cluster numbers) and, on rank 0,
    two planes per rank.
    """
    lab, n = ndimage.label(mask) if mask.size else (np.zeros(mask.shape, np.int32), 0)
    offset = comm.exscan(n) if comm.size > 1 else 0
    offset = offset or 0
    lab[lab > 0] += offset  # cluster numbers unique over ranks (0: not in the mask)
    ends = (lab[0].copy(), lab[-1].copy()) if len(lab) else None
    ends = comm.gather(ends, root=0)
    total = comm.allreduce(n) if comm.size > 1 else n
    flags = None
    if comm.rank == 0:
        ends = [e for e in ends if e is not None]
        # clusters that touch across a slab boundary are one cluster
        a = np.concatenate([e[1].ravel() for e in ends[:-1]] + [np.zeros(0, np.int32)])
        b = np.concatenate([e[0].ravel() for e in ends[1:]] + [np.zeros(0, np.int32)])
        both = (a > 0) & (b > 0)
        graph = sparse.coo_matrix((np.ones(int(both.sum()), np.int8), (a[both], b[both])),
                                  shape=(total + 1, total + 1))
        _, component = csgraph.connected_components(graph, directed=False)
        inlet, outlet = ends[0][0], ends[-1][1]
        through = np.intersect1d(component[inlet[inlet > 0]], component[outlet[outlet > 0]])
        flags = np.isin(component, through)
        flags[0] = False
    if comm.size > 1:
        flags = comm.bcast(flags, root=0)
    return flags[lab]


__all__ = ["PercolationError", "percolating_mask", "percolating_slab"]
