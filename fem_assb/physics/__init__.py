"""Weak forms of the cell physics on submeshes of one parent mesh."""

from fem_assb.physics.domains import CellDomains, cell_domains
from fem_assb.physics.solid_cell import SolidCellModel

__all__ = ["CellDomains", "SolidCellModel", "cell_domains"]
