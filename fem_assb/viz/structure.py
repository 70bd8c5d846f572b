"""Pictures of voxel structures: a 3D off-screen render (pyvista) and cross-sections with
phase fractions along x (matplotlib). Both write PNG files and need no display."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_assb.structure.phases import PHASE_NAMES
from fem_assb.structure.voxels import VoxelStructure

# phase id -> colour (void, CAM, electrolyte, CBD, separator)
PHASE_COLOURS = {0: "#ffffff", 1: "#7d8aa0", 2: "#7fc8f8", 3: "#2b2b2b", 4: "#f6c85f"}


def _cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap([PHASE_COLOURS[i] for i in sorted(PHASE_COLOURS)])


def _offscreen_pyvista():
    """pyvista set up for off-screen rendering; without a display prefer EGL (no X
    warnings) when libEGL is present."""
    import ctypes.util
    import os

    if not os.environ.get("DISPLAY") and ctypes.util.find_library("EGL"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    pv.OFF_SCREEN = True
    return pv


def render_structure(structure: VoxelStructure, path, show_phases=(1, 3, 4),
                     window_size=(1100, 850), electrolyte_opacity: float = 0.12) -> Path:
    """3D render of the chosen phases (default CAM, CBD, separator) with the electrolyte
    translucent, to a PNG, off-screen. x (separator -> collector) points right; the view
    is onto the y = 0 face, along whose lower edge the channel of a ``single``
    perforation (a quarter hole on the y = z = 0 edge) runs; the box is labelled in µm
    and its anode (x = 0) and collector (x = Lx) sides are named."""
    pv = _offscreen_pyvista()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = structure.shape
    h = structure.voxel_size * 1e6  # µm for the picture
    lx, lz = nx * h, nz * h
    grid = pv.ImageData(dimensions=(nx + 1, ny + 1, nz + 1), spacing=(h, h, h))
    grid.cell_data["phase"] = structure.labels.ravel(order="F")
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    phases = list(show_phases) + ([2] if electrolyte_opacity > 0 and 2 not in show_phases
                                  else [])
    for pid in phases:
        part = grid.extract_cells(np.flatnonzero(grid.cell_data["phase"] == pid))
        if part.n_cells:
            opacity = electrolyte_opacity if pid == 2 and pid not in show_phases else 1.0
            surface = part.extract_surface(algorithm="dataset_surface")
            plotter.add_mesh(surface, color=PHASE_COLOURS[pid], opacity=opacity,
                             show_edges=False, label=PHASE_NAMES[pid])
    plotter.add_mesh(grid.outline(), color="black")
    plotter.show_bounds(xtitle="x (um)", ytitle="y (um)", ztitle="z (um)", font_size=11,
                        color="black", location="outer", ticks="outside")
    plotter.add_point_labels(
        np.array([[0.0, 0.0, 1.12 * lz], [lx, 0.0, 1.12 * lz]]),
        ["anode side (x = 0)", "current collector (x = Lx)"], font_size=14,
        text_color="black", shape_opacity=0.0, show_points=False, always_visible=True)
    plotter.add_legend(bcolor="white", face="rectangle", loc="upper left", size=(0.16, 0.16))
    # from (+x, −y, +z): x to the right, the y = 0 face in front, its lower edge (y = z =
    # 0, where a 'single' perforation's quarter hole runs) visible
    plotter.view_vector((1.0, -1.6, 0.9), viewup=(0.0, 0.0, 1.0))
    plotter.reset_camera()
    plotter.camera.zoom(0.85)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def plot_sections(structure: VoxelStructure, path, title: str | None = None) -> Path:
    """Mid-plane cross-sections (x–y, x–z, y–z) and phase fractions along x, as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lab = structure.labels
    nx, ny, nz = lab.shape
    lx, ly, lz = (v * 1e6 for v in structure.lengths)
    cmap, kw = _cmap(), {"vmin": -0.5, "vmax": 4.5, "interpolation": "nearest",
                         "origin": "lower"}
    fig = Figure(figsize=(17, 4.2), layout="constrained")
    ax = fig.subplots(1, 4)
    ax[0].imshow(lab[:, :, nz // 2].T, extent=(0, lx, 0, ly), cmap=cmap, **kw)
    ax[0].set(xlabel="x (µm)", ylabel="y (µm)", title="x–y section")
    ax[1].imshow(lab[:, ny // 2, :].T, extent=(0, lx, 0, lz), cmap=cmap, **kw)
    ax[1].set(xlabel="x (µm)", ylabel="z (µm)", title="x–z section")
    ax[2].imshow(lab[nx // 2].T, extent=(0, ly, 0, lz), cmap=cmap, **kw)
    ax[2].set(xlabel="y (µm)", ylabel="z (µm)", title="y–z section (mid x)")
    x = (np.arange(nx) + 0.5) * structure.voxel_size * 1e6
    for pid in np.unique(lab):
        frac = (lab == pid).mean(axis=(1, 2))
        ax[3].plot(x, frac, color=PHASE_COLOURS[int(pid)] if pid != 0 else "grey",
                   label=PHASE_NAMES[int(pid)], lw=2)
    ax[3].set(xlabel="x (µm)", ylabel="volume fraction", ylim=(0, 1),
              title="phase fractions along x")
    ax[3].legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path
