"""Face connectivity of voxels at mesh vertices (numpy only).

Voxel codes (BEST, TauFactor) connect two voxels only through a shared face. A conforming
P1 mesh would also connect two voxels of the meshed set that meet only along an edge or
at a corner, because they share the vertices there. fem_assb splits such vertices: at
each grid vertex the (up to 8) incident voxels of the meshed set are grouped into
components that are connected through faces *within the 2x2x2 block around the vertex*,
and every component gets its own copy of the vertex. Voxels touching only along an edge
or at a corner then share no vertex, exactly like face-connected voxel codes; voxels
connected through a face keep a conforming mesh.

Octant o = a + 2b + 4c of a vertex (i, j, k) is the voxel (i-1+a, j-1+b, k-1+c).
"""

from __future__ import annotations

import numpy as np


def _octant_tables() -> tuple[np.ndarray, np.ndarray]:
    """comp[code, o]: component index of octant o (-1 if empty); ncomp[code]."""
    comp = -np.ones((256, 8), dtype=np.int8)
    ncomp = np.zeros(256, dtype=np.int8)
    for code in range(256):
        occupied = [o for o in range(8) if code >> o & 1]
        parent = {o: o for o in occupied}

        def find(o, parent=parent):
            while parent[o] != o:
                o = parent[o]
            return o

        for o in occupied:
            for bit in (1, 2, 4):
                n = o ^ bit
                if n in parent:
                    ra, rb = find(o), find(n)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        roots: dict[int, int] = {}
        for o in occupied:
            r = find(o)
            if r not in roots:
                roots[r] = len(roots)
            comp[code, o] = roots[r]
        ncomp[code] = len(roots)
    return comp, ncomp


OCTANT_COMPONENT, OCTANT_COUNT = _octant_tables()
# one vertex copy for any non-empty block: plain conforming (vertex-connected) meshing
_VERTEX_COMPONENT = np.where(OCTANT_COMPONENT >= 0, 0, -1).astype(np.int8)
_VERTEX_COUNT = (OCTANT_COUNT > 0).astype(np.int8)


def tables(connectivity: str) -> tuple[np.ndarray, np.ndarray]:
    """(component table, count table) for 'face' (split) or 'vertex' (conforming)."""
    if connectivity == "face":
        return OCTANT_COMPONENT, OCTANT_COUNT
    if connectivity == "vertex":
        return _VERTEX_COMPONENT, _VERTEX_COUNT
    raise ValueError(f"connectivity must be 'face' or 'vertex', got '{connectivity}'")


def vertex_codes(mask: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """8-bit occupancy codes of the vertex planes i0..i1-1 (all y/z vertices).

    ``mask`` is the boolean voxel mask of the meshed set, shape (nx, ny, nz); the result
    has shape (i1 - i0, ny + 1, nz + 1).
    """
    nx, ny, nz = mask.shape
    lo, hi = max(i0 - 1, 0), min(i1, nx)
    pad = np.zeros((i1 - i0 + 1, ny + 2, nz + 2), dtype=np.uint8)
    # padded plane p holds voxel plane i0 - 1 + p
    pad[lo - (i0 - 1):hi - (i0 - 1), 1:-1, 1:-1] = mask[lo:hi]
    codes = np.zeros((i1 - i0, ny + 1, nz + 1), dtype=np.uint8)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                o = a + 2 * b + 4 * c
                codes |= pad[a:a + i1 - i0, b:b + ny + 1, c:c + nz + 1] << o
    return codes
