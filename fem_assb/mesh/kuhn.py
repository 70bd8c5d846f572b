"""The Kuhn subdivision of a voxel into 6 tetrahedra, shared by the mesh builder and the
smoothing: one tetrahedron per permutation of the axes, each a path (0,0,0) -> e_p0 ->
e_p0 + e_p1 -> (1,1,1) along the main diagonal, the same in every voxel so neighbouring
voxels match face to face. Corner index = dx + 2 dy + 4 dz."""

import numpy as np


def _kuhn() -> np.ndarray:
    out = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        c = np.zeros(3, dtype=int)
        path = [0]
        for axis in perm:
            c[axis] = 1
            path.append(int(c[0] + 2 * c[1] + 4 * c[2]))
        out.append(path)
    return np.array(out, dtype=np.int64)


KUHN_TETS = _kuhn()  # (6, 4) corner indices
CORNERS = np.array([[c & 1, c >> 1 & 1, c >> 2 & 1] for c in range(8)])  # (8, 3) offsets
