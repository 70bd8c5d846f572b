"""The two cell chemistries, ASSB and LIB, as objects.

A ``Chemistry`` owns what differs between them: the cell model class, the phase
mapping of a cathode structure (the LIB → ASSB conversion: CBD becomes solid
electrolyte), the conduction-path rule (does the CBD carry electrons and ions?), the
mass basis of the energy density and the memory and time per voxel of a run. The words
'solid'/'liquid' (and 'assb'/'lib') are read at the edges only, by ``chemistry()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fem_assb.errors import ConfigError
from fem_assb.materials.mass import areal_mass, areal_mass_of_volumes
from fem_assb.physics.liquid_cell import LiquidCellModel
from fem_assb.physics.solid_cell import SolidCellModel
from fem_assb.structure.cell import assemble_cell
from fem_assb.structure.modify import to_solid_electrolyte
from fem_assb.structure.paths import ConductionPaths, conduction_paths


@dataclass(frozen=True)
class Chemistry:
    """One cell chemistry (see the module docstring)."""

    name: str  # 'ASSB' or 'LIB'
    electrolyte: str  # the word of the command line: 'solid' or 'liquid'
    model: type  # the cell model class
    solid_electrolyte: bool
    bytes_per_voxel: int  # memory of a run, all ranks together (measured)
    seconds_per_voxel_newton: float  # wall time per voxel and Newton iteration, one core

    def __str__(self) -> str:
        return self.name

    @property
    def porous_cbd(self) -> bool:
        """Does the cathode keep a porous, electron-conducting CBD (LIB)?"""
        return not self.solid_electrolyte

    def cathode(self, structure):
        """The cathode's phases in this chemistry: the ASSB turns CBD into solid
        electrolyte (binder-free); the LIB keeps the structure as it is."""
        return to_solid_electrolyte(structure) if self.solid_electrolyte else structure

    def virtual_cell(self, structure, separator_um: float):
        """Separator (dense SE, or porous with liquid) + the cathode in this chemistry."""
        cell = assemble_cell(self.cathode(structure), separator_um)
        return cell.copy(electrolyte=self.electrolyte)

    def paths(self, cell) -> ConductionPaths:
        return conduction_paths(cell, porous_cbd=self.porous_cbd)

    def mass_per_area(self, cell, params, theoretical_capacity: float) -> float:
        """kg/m² of the energy-density basis of a virtual cell."""
        return areal_mass(cell, params, self.solid_electrolyte, theoretical_capacity)

    def mass_per_area_of_volumes(self, volumes, area: float, params,
                                 theoretical_capacity: float) -> float:
        return areal_mass_of_volumes(volumes, area, params, self.solid_electrolyte,
                                     theoretical_capacity)

    @property
    def ion_conductors(self) -> tuple[str, ...]:
        """The phases of the cathode that conduct ions (σ_eff of a structure)."""
        return ("electrolyte",) if self.solid_electrolyte else ("electrolyte", "cbd")

    def has_parameters(self, table: str) -> bool:
        """Does a cell of this chemistry use the parameter table ``table``?"""
        return table != ("liquid_electrolyte" if self.solid_electrolyte
                         else "solid_electrolyte")

    def check(self, params) -> None:
        """Refuse a parameter set this chemistry cannot run (one line)."""
        if not self.solid_electrolyte and params.anode.kinetics == "ideal":
            raise ConfigError("anode.kinetics = 'ideal' is only available for the solid "
                              "electrolyte; the LIB anode uses Butler–Volmer kinetics")


ASSB = Chemistry("ASSB", "solid", SolidCellModel, True, 5700, 4.5e-5)
LIB = Chemistry("LIB", "liquid", LiquidCellModel, False, 8400, 9e-5)

_WORDS = {"solid": ASSB, "assb": ASSB, "liquid": LIB, "lib": LIB}
ELECTROLYTES = ("solid", "liquid")


def chemistry(value: str | Chemistry) -> Chemistry:
    """The chemistry of a word ('solid' or 'assb', 'liquid' or 'lib'; any case) or a
    ``Chemistry``; ``ConfigError`` otherwise."""
    if isinstance(value, Chemistry):
        return value
    chem = _WORDS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if chem is None:
        raise ConfigError(f"electrolyte must be 'solid' (ASSB) or 'liquid' (LIB), got "
                          f"{value!r}")
    return chem
