"""fem_assb: structure-resolved simulation of battery composite cathodes with DOLFINx.

The pipeline flows one way through the sub-packages::

    structure (numpy voxels) -> mesh (DOLFINx) -> physics/materials -> solver
    -> analysis -> studies / viz / cli

``fem_assb.structure`` imports no DOLFINx and works on a laptop without MPI.
"""

__version__ = "0.1.0"
