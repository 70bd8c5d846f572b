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
                     window_size=(1000, 800)) -> Path:
    """3D render of the chosen phases (default CAM, CBD, separator; electrolyte left
    transparent) to a PNG, off-screen. x (separator -> collector) points right."""
    pv = _offscreen_pyvista()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = structure.shape
    h = structure.voxel_size * 1e6  # µm for the picture
    grid = pv.ImageData(dimensions=(nx + 1, ny + 1, nz + 1), spacing=(h, h, h))
    grid.cell_data["phase"] = structure.labels.ravel(order="F")
    shown = grid.extract_cells(np.flatnonzero(np.isin(grid.cell_data["phase"], show_phases)))
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    for pid in show_phases:
        part = shown.extract_cells(np.flatnonzero(shown.cell_data["phase"] == pid))
        if part.n_cells:
            plotter.add_mesh(part, color=PHASE_COLOURS[pid], show_edges=False,
                             label=PHASE_NAMES[pid])
    plotter.add_mesh(grid.outline(), color="black")
    plotter.add_legend(bcolor="white", face="rectangle")
    plotter.show_axes()
    plotter.camera_position = "iso"
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
