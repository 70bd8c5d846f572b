"""Pictures of a mesh's phase interfaces (pyvista, off-screen PNG): the CAM|electrolyte
surface as the cell model sees it, staircase or smoothed, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_assb.mesh import tags
from fem_assb.viz.structure import _offscreen_pyvista


def interface_triangles(vm, tag: int = tags.CAM_ELECTROLYTE) -> np.ndarray | None:
    """Triangles (n, 3, 3) in µm of the facets with ``tag`` owned by each rank, gathered
    on rank 0 (None elsewhere); collective."""
    from fem_assb._dolfinx import dolfinx

    msh = vm.mesh
    facets = vm.facet_tags.find(tag)
    facets = facets[facets < msh.topology.index_map(2).size_local]
    nodes = dolfinx.mesh.entities_to_geometry(msh, 2, facets.astype(np.int32))
    tri = msh.geometry.x[nodes] * 1e6
    parts = msh.comm.gather(tri, root=0)
    return np.concatenate(parts) if msh.comm.rank == 0 else None


def render_interfaces(meshes: dict, path, tag: int = tags.CAM_ELECTROLYTE,
                      window_size=(1200, 600), view=(1.0, -1.3, 0.9)) -> Path | None:
    """PNG of the ``tag`` facets (default CAM|electrolyte) of each mesh in ``meshes``
    ({title: VoxelMesh or ImportedMesh}), side by side, with each title and area; the
    same view (direction from the focus to the camera) for all. Collective; rank 0
    draws and returns the path."""
    tris = {title: interface_triangles(vm, tag) for title, vm in meshes.items()}
    areas = {title: vm.facet_area(tag) * 1e12 for title, vm in meshes.items()}
    if next(iter(meshes.values())).comm.rank != 0:
        return None
    pv = _offscreen_pyvista()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter = pv.Plotter(off_screen=True, shape=(1, len(tris)), window_size=list(window_size))
    plotter.set_background("white")
    for k, (title, tri) in enumerate(tris.items()):
        plotter.subplot(0, k)
        n = tri.shape[0]
        faces = np.column_stack([np.full(n, 3), np.arange(3 * n).reshape(n, 3)]).ravel()
        surf = pv.PolyData(tri.reshape(-1, 3), faces)
        plotter.add_mesh(surf, color="#a9b8d0", show_edges=True, edge_color="#4a5568",
                         line_width=0.6, ambient=0.3, diffuse=0.7)
        plotter.add_text(f"{title}: {areas[title]:.4g} µm²", font_size=12, color="black")
        plotter.view_vector(view, viewup=(0.0, 0.0, 1.0))
        plotter.reset_camera()
    plotter.link_views()
    plotter.screenshot(str(path))
    plotter.close()
    return path


__all__ = ["interface_triangles", "render_interfaces"]
