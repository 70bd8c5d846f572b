"""Virtual cell: anode face | separator | cathode | current collector face (along x)."""

from __future__ import annotations

import numpy as np

from fem_assb.constants import UM
from fem_assb.structure.phases import CAM, SEPARATOR
from fem_assb.structure.voxels import MAX_VOXELS, StructureError, VoxelStructure


def assemble_cell(cathode: VoxelStructure, separator_um: float = 25.0) -> VoxelStructure:
    """Put a separator (label 4) in front of the cathode: pure geometry.

    The planar Li anode is the face x = 0 of the result, the current collector the face
    x = Lx. What the phases are (a dense SE separator, or a homogenised porous one; CBD
    as electrolyte or as porous binder) is the chemistry's
    (``fem_assb.physics.chemistry.Chemistry.virtual_cell``).
    ``metadata['separator_voxels']`` gives the separator thickness in voxels.

    Parameters
    ----------
    cathode : VoxelStructure
    separator_um : float
        Separator thickness in µm (at least one voxel plane when > 0).

    Returns
    -------
    VoxelStructure

    Raises
    ------
    StructureError
        A cathode with a separator already, without CAM at the collector, or a cell too
        large.
    """
    if not np.isfinite(separator_um) or separator_um < 0:
        raise StructureError(f"separator thickness must be a finite length >= 0 µm, "
                             f"got {separator_um}")
    if np.any(cathode.labels == SEPARATOR):
        raise StructureError("structure already contains a separator (label 4)")
    cathode.require_phases("cam")
    if not np.any(cathode.labels[-1] == CAM):
        raise StructureError("no CAM voxel touches the current collector face (x = Lx)")
    n_sep = int(round(separator_um * UM / cathode.voxel_size))
    if separator_um > 0 and n_sep == 0:
        n_sep = 1
    if (n_sep + cathode.shape[0]) * cathode.shape[1] * cathode.shape[2] > MAX_VOXELS:
        raise StructureError(
            f"a {separator_um:g} µm separator at {cathode.voxel_size / UM:g} µm voxels is "
            f"{n_sep:,} voxel planes: the cell would exceed {MAX_VOXELS:,} voxels (check "
            "the voxel size, in m, and the separator thickness, in µm)")
    sep = np.full((n_sep,) + cathode.shape[1:], SEPARATOR, dtype=np.uint8)
    labels = np.concatenate([sep, cathode.labels], axis=0)
    return cathode.copy(labels, cell=True, separator_voxels=n_sep,
                        separator_um=n_sep * cathode.voxel_size / UM)
