"""Analysis of structures and results: effective conductivity, percolation, ..."""

from fem_assb.analysis.percolation import PercolationError, percolating_mask, percolating_slab

__all__ = ["PercolationError", "percolating_mask", "percolating_slab"]
