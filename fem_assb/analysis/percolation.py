"""Face-connected clusters of a phase set (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


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
