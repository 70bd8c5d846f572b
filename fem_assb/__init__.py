"""fem_assb: structure-resolved simulation of battery composite cathodes with DOLFINx.

The pipeline flows one way through the sub-packages::

    structure (numpy voxels) -> mesh (DOLFINx) -> physics/materials
    -> numerics + protocol -> simulation -> analysis / studies / viz / cli

``fem_assb.structure`` imports no DOLFINx and works on a laptop without MPI. The entry
points are reachable from the top level (``dir(fem_assb)`` lists them; each is imported
when first used, so ``import fem_assb`` stays light)::

    import fem_assb
    s = fem_assb.homogeneous(size_um=(40, 20, 20), cbd_fraction=0.0)
    sol = fem_assb.discharge(s, 4.0, electrolyte="solid")          # a Solution
    sim = fem_assb.Simulation(s, electrolyte="solid")
    sol = sim.run(["Discharge at 1C until 3.0 V", "Rest for 1 hour",
                   "Charge at C/3 until 4.2 V"])
    sol.plot()
"""

import importlib

__version__ = "0.1.0"

# name -> module that defines it (imported on first access: PEP 562)
_ENTRY_POINTS = {
    # structures
    "VoxelStructure": "fem_assb.structure", "homogeneous": "fem_assb.structure",
    "layered": "fem_assb.structure", "perforate": "fem_assb.structure",
    "stack_layers": "fem_assb.structure", "to_solid_electrolyte": "fem_assb.structure",
    "assemble_cell": "fem_assb.structure", "load_structure": "fem_assb.structure",
    "save_structure": "fem_assb.structure",
    # materials
    "default_parameters": "fem_assb.materials", "load_parameters": "fem_assb.materials",
    "structure_capacity_mAh_cm2": "fem_assb.materials",
    # chemistry, runs and results
    "ASSB": "fem_assb.physics.chemistry", "LIB": "fem_assb.physics.chemistry",
    "Simulation": "fem_assb.simulation", "discharge": "fem_assb.simulation",
    "run": "fem_assb.simulation", "Experiment": "fem_assb.protocol.experiment",
    "RunOptions": "fem_assb.protocol.run_options", "StepControl": "fem_assb.protocol.control",
    "Solution": "fem_assb.solution",
    # analysis and studies
    "effective_conductivity": "fem_assb.analysis.conductivity",
    "load_config": "fem_assb.studies", "run_study": "fem_assb.studies",
    # errors
    "ConfigError": "fem_assb.errors", "RunError": "fem_assb.errors",
}

__all__ = ["__version__", *_ENTRY_POINTS]


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        return getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module 'fem_assb' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
