"""Pictures: off-screen pyvista renders and matplotlib cross-sections."""

from fem_assb.viz.curves import plot_discharge
from fem_assb.viz.inline import show
from fem_assb.viz.interfaces import render_interfaces
from fem_assb.viz.structure import plot_sections, render_structure

__all__ = ["plot_discharge", "plot_sections", "render_interfaces", "render_structure", "show"]
