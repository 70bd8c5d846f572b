"""Voxel structures -> distributed tetrahedral DOLFINx meshes with phase and facet tags;
imported cell meshes (gmsh, meshio)."""

from fem_assb.mesh import tags
from fem_assb.mesh.imported import ImportedMesh, MeshImportError, read_mesh
from fem_assb.mesh.voxel_mesh import INTERFACES, VoxelMesh, build_mesh, refine_labels

__all__ = ["INTERFACES", "ImportedMesh", "MeshImportError", "VoxelMesh", "build_mesh",
           "read_mesh", "refine_labels", "tags"]
