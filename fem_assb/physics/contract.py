"""The contract between a cell model and the time loop (``fem_assb.protocol``).

The loop drives any object with this shape: it switches the collector condition (a
current or a held voltage), advances the state one backward-Euler step at a time, reads
the cell's voltage and current, and asks the model for its own balances and run-wide
stop events. It never asks which chemistry it runs. The numerics
(``fem_assb.numerics``) need the model's forms: ``Discretised``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Inventory:
    """What the cell holds (SI, summed over ranks): the conserved amounts the balances
    check, and the lowest electrolyte concentration where it varies (LIB)."""

    lithium_mol: float  # in the CAM
    salt_mol: float | None = None  # LIB: in the liquid electrolyte
    min_electrolyte_concentration: float | None = None  # mol/m³


class Discretised(Protocol):
    """What ``fem_assb.numerics`` needs of a model: its blocks, forms and terms."""

    fields: tuple[str, ...]  # the unknowns' names, in block order
    splits: dict  # {field-split group: (block indices)}
    unknowns: list  # dolfinx Functions, in ``fields`` order
    residuals: list  # UFL forms, one per unknown
    bcs: list
    nodal_terms: list  # facet terms assembled vertex by vertex

    def collector_dof_count(self) -> int: ...


class CellModel(Discretised, Protocol):
    """What the time loop needs of a cell model (SI units throughout)."""

    def set_rest_state(self) -> float:
        """Uniform initial stoichiometry at open circuit; returns the rest voltage (V)."""

    def set_current(self, current_density: float) -> None:
        """Galvanostatic: A/m² of cross-section, > 0 discharge, < 0 charge, 0 rest."""

    def hold_voltage(self, volts: float) -> None:
        """Potentiostatic: the cell voltage held at ``volts``; the current follows."""

    def ocv_window(self) -> tuple[float, float]:
        """(lowest, highest) open-circuit voltage of the CAM (V): a held voltage outside
        it has no resting state."""

    def cell_voltage(self) -> float: ...

    def cell_current(self) -> float:
        """A/m² through the collector (> 0 discharge)."""

    def interface_current_total(self) -> float:
        """∫_Γ w i dS (A): against the collector current, the charge balance."""

    def inventory(self) -> Inventory: ...

    def surface_resolution(self, duration_s: float) -> float:
        """Finest c_s storage at the CAM surface over √(D_s(x_surf) t) after
        ``duration_s`` s (worst vertex; > 0.5: the surface is under-resolved)."""

    def front_resolution(self) -> float:
        """The core's storage at the columns' inner ends over the lithium front's depth,
        area-weighted where the front has left the skin's columns (> 0.5: the core's
        elements carry the front; NaN without a skin)."""

    def stop_events(self, control) -> list:
        """The model's run-wide stops (``fem_assb.protocol.events.ThresholdEvent``) for
        the step-control settings ``control``."""

    def error_entries(self) -> tuple[list[int], float]:
        """(indices into ``state()``, scale): the entries whose distance from the
        predictor, over the scale, measures a step's local error (the CAM concentration,
        the resolved skin's columns included, and c_max)."""

    def begin_step(self, dt: float) -> None: ...

    def recenter(self) -> None: ...

    def state(self) -> list: ...

    def restore(self, saved: list) -> None: ...

    def predict(self, history: list, times: list, t_new: float) -> None: ...

    @property
    def comm(self): ...

    @property
    def cross_section(self) -> float:
        """m²: the cell's cross-section (current densities are per this area)."""
