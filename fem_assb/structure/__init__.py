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


def layered(fractions: tuple[float, ...] = (0.5, 0.5),
            cam_fractions: tuple[float, ...] = (0.6, 0.7), reverse: bool = False,
            seed: int = 0, **kwargs) -> VoxelStructure:
    """Layered cathode: one homogeneous structure per layer composition, stacked along x.

    Parameters
    ----------
    fractions : sequence of float
        Layer thickness fractions (sum 1), from the separator to the collector.
    cam_fractions : sequence of float
        CAM volume fraction of each layer, in the same order.
    reverse : bool
        Stack the layers the other way round.
    seed : int
        Random seed (layer k uses seed + 1000 k).
    **kwargs
        Passed to ``homogeneous`` (size_um, voxel_size_um, particle sizes, cbd_fraction).

    Returns
    -------
    VoxelStructure

    Raises
    ------
    StructureError
        Fractions that do not fit (named in the message).
    """
    layers = [homogeneous(cam_fraction=f, seed=seed + 1000 * i, **kwargs)
              for i, f in enumerate(cam_fractions)]
    s = stack_layers(layers, fractions, reverse=reverse)
    s.metadata.update({"cam_fractions": list(cam_fractions), "seed": seed})
    return s
