"""Voxel structures -> distributed tetrahedral DOLFINx meshes with phase and facet tags."""

from fem_assb.mesh import tags
from fem_assb.mesh.voxel_mesh import VoxelMesh, build_mesh, refine_labels

__all__ = ["VoxelMesh", "build_mesh", "refine_labels", "tags"]
