"""fem_assb: structure-resolved simulation of battery composite cathodes with DOLFINx.

The pipeline flows one way through the sub-packages::

    structure (numpy voxels) -> mesh (DOLFINx) -> physics/materials -> solver
    -> analysis -> studies / viz / cli

``fem_assb.structure`` imports no DOLFINx and works on a laptop without MPI. The main
entry points are reachable from the top level (imported when first used)::

    import fem_assb
    s = fem_assb.homogeneous(size_um=(40, 20, 20))
    res = fem_assb.discharge(fem_assb.to_solid_electrolyte(s), 4.0, electrolyte="solid")
    sim = fem_assb.Simulation(fem_assb.to_solid_electrolyte(s), electrolyte="solid")
    sol = sim.run(["Discharge at 1C until 3.0 V", "Rest for 1 hour", "Charge at C/3 until 4.2 V"])
"""

import importlib

__version__ = "0.1.0"

# name -> module that defines it (imported on first access: PEP 562)
_ENTRY_POINTS = {
    "VoxelStructure": "fem_assb.structure", "homogeneous": "fem_assb.structure",
    "layered": "fem_assb.structure", "perforate": "fem_assb.structure",
    "stack_layers": "fem_assb.structure", "to_solid_electrolyte": "fem_assb.structure",
    "assemble_cell": "fem_assb.structure", "load_structure": "fem_assb.structure",
    "save_structure": "fem_assb.structure",
    "default_parameters": "fem_assb.materials", "load_parameters": "fem_assb.materials",
    "discharge": "fem_assb.simulation", "Simulation": "fem_assb.simulation",
    "Experiment": "fem_assb.protocol.experiment",
    "effective_conductivity": "fem_assb.analysis.conductivity",
    "load_config": "fem_assb.studies", "run_study": "fem_assb.studies",
}

__all__ = ["__version__", *_ENTRY_POINTS]


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        return getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module 'fem_assb' has no attribute '{name}'")
