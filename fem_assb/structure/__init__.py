"""Voxel microstructures (numpy only): generation, structuring, files, virtual cells."""

from fem_assb.structure.cell import assemble_cell
from fem_assb.structure.generate import homogeneous, voxelise_spheres
from fem_assb.structure.io import load_structure, save_structure
from fem_assb.structure.modify import perforate, stack_layers, to_solid_electrolyte
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR, VOID, phase_id
from fem_assb.structure.voxels import StructureError, VoxelStructure

__all__ = [
    "CAM", "CBD", "ELECTROLYTE", "SEPARATOR", "VOID", "StructureError", "VoxelStructure",
    "assemble_cell", "homogeneous", "layered", "load_structure", "perforate", "phase_id",
    "save_structure", "stack_layers", "to_solid_electrolyte", "voxelise_spheres",
]


def layered(fractions=(0.5, 0.5), cam_fractions=(0.6, 0.7), reverse: bool = False,
            seed: int = 0, **kwargs) -> VoxelStructure:
    """Layered cathode: one homogeneous structure per layer composition, stacked along x.

    ``fractions`` are layer thickness fractions and ``cam_fractions`` the CAM content of
    each layer, both from the separator to the collector; ``kwargs`` go to
    ``homogeneous`` (size, voxel size, particle sizes, cbd_fraction, ...).
    """
    layers = [homogeneous(cam_fraction=f, seed=seed + 1000 * i, **kwargs)
              for i, f in enumerate(cam_fractions)]
    s = stack_layers(layers, fractions, reverse=reverse)
    s.metadata.update({"cam_fractions": list(cam_fractions), "seed": seed})
    return s
