"""Weak forms of the cell physics on submeshes of one parent mesh."""

from fem_assb.physics.cell_model import CellModel
from fem_assb.physics.domains import CellDomains, cell_domains
from fem_assb.physics.liquid_cell import LiquidCellModel
from fem_assb.physics.solid_cell import SolidCellModel

__all__ = ["CellDomains", "CellModel", "LiquidCellModel", "SolidCellModel", "cell_domains"]
