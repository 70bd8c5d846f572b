"""Exact-geometry verification cells made with gmsh (OpenCASCADE kernel).

``particle_cell``: one spherical CAM particle (an octant of it, by symmetry) in a box of
solid electrolyte behind a separator, meshed finely at the particle's surface: the
single-particle limit without any voxel staircase. The octant sits in the collector
corner (centre at x = Lx, y = z = 0), so its flat faces lie on the collector and on the
y = 0, z = 0 symmetry planes. Written as .msh (coordinates in µm, physical groups
named 'cam', 'electrolyte', 'separator'); read it with ``read_mesh(path, unit='um')``.
"""

from __future__ import annotations

from pathlib import Path


def particle_cell(path, radius_um: float = 7.0, box_um: float = 10.0,
                  separator_um: float = 2.0, surface_size_um: float = 0.4,
                  bulk_size_um: float = 1.5) -> Path:
    """Write the octant-particle cell to ``path`` (.msh, µm); returns the path.

    Args:
        radius_um: particle radius (< box_um).
        box_um: edge of the cubic cathode box; the cell is (separator + box) × box × box.
        separator_um: dense separator in front of the cathode (x from 0).
        surface_size_um, bulk_size_um: element size at the particle surface and far away.
    """
    import gmsh

    if not 0 < radius_um < box_um:
        raise ValueError(f"radius must be in (0, box) µm, got {radius_um} (box {box_um})")
    if separator_um <= 0:
        raise ValueError(f"separator thickness must be > 0 µm, got {separator_um}")
    path = Path(path)
    lx = separator_um + box_um
    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("particle_cell")
        occ = gmsh.model.occ
        cell = occ.addBox(0, 0, 0, lx, box_um, box_um)
        sep = occ.addBox(0, 0, 0, separator_um, box_um, box_um)
        ball = occ.addSphere(lx, 0, 0, radius_um)
        octant, _ = occ.intersect([(3, ball)], [(3, occ.addBox(0, 0, 0, lx, box_um,
                                                                box_um))])
        out, _ = occ.fragment([(3, cell)], [(3, sep)] + octant)
        occ.synchronize()
        groups = {"cam": [], "electrolyte": [], "separator": []}
        for dim, tag in out:
            x, y, z = occ.getCenterOfMass(dim, tag)
            if x < separator_um:
                groups["separator"].append(tag)
            elif (x - lx) ** 2 + y**2 + z**2 < radius_um**2:
                groups["cam"].append(tag)
            else:
                groups["electrolyte"].append(tag)
        for k, (name, tags) in enumerate(groups.items(), start=1):
            if not tags:
                raise RuntimeError(f"gmsh: no volume for '{name}'")
            gmsh.model.addPhysicalGroup(3, tags, k, name=name)
        # fine at the particle's curved surface, coarse far from it
        surf = [t for d, t in gmsh.model.getBoundary([(3, t) for t in groups["cam"]],
                                                     oriented=False) if d == 2]
        fld = gmsh.model.mesh.field
        dist = fld.add("Distance")
        fld.setNumbers(dist, "SurfacesList", surf)
        thr = fld.add("Threshold")
        fld.setNumber(thr, "InField", dist)
        fld.setNumber(thr, "SizeMin", surface_size_um)
        fld.setNumber(thr, "SizeMax", bulk_size_um)
        fld.setNumber(thr, "DistMin", surface_size_um)
        fld.setNumber(thr, "DistMax", 4 * bulk_size_um)
        fld.setAsBackgroundMesh(thr)
        for key in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints",
                    "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{key}", 0)
        gmsh.model.mesh.generate(3)
        path.parent.mkdir(parents=True, exist_ok=True)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.write(str(path))
        gmsh.model.remove()
    finally:
        if own:
            gmsh.finalize()
    return path


__all__ = ["particle_cell"]
