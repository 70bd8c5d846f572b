"""Conduction paths of a virtual cell (numpy/scipy only): which CAM reaches the current
collector through electron conductors, which ion conductor reaches the anode, and so
which CAM can take part in a discharge at all. Face connectivity, as in the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR


def _touching(mask: np.ndarray, face: int) -> np.ndarray:
    """Voxels of ``mask`` face-connected to the x-face ``face`` (0: x = 0, -1: x = Lx)."""
    lab, _ = ndimage.label(mask)
    ids = np.unique(lab[face])
    ids = ids[ids > 0]
    return np.isin(lab, ids) if ids.size else np.zeros_like(mask)


@dataclass
class ConductionPaths:
    """Voxel counts of a virtual cell's conduction paths."""

    cam: int  # CAM voxels
    cam_to_collector: int  # CAM with an electronic path to the collector (x = Lx)
    active_cam: int  # ... and touching an ion conductor that reaches the anode
    ion_conductor: int  # electrolyte (+ CBD, separator) voxels
    ion_to_anode: int  # ... with an ionic path to the anode (x = 0)
    void: int  # void voxels (not meshed)

    def warnings(self) -> list[str]:
        """One line per kind of isolated material (kept in the model: an electronically
        isolated particle still exchanges lithium with the electrolyte around it, an
        ionically isolated pocket still carries lithium between the particles it
        touches; generated packings hold ~0.1 % of each)."""
        out = []
        if self.cam and self.cam_to_collector < self.cam:
            n = self.cam - self.cam_to_collector
            out.append(f"{n} CAM voxels ({100 * n / self.cam:.2g} % of the CAM) have no "
                       "electronic path to the current collector (kept: they only exchange "
                       "lithium with the electrolyte around them)")
        if self.ion_conductor and self.ion_to_anode < self.ion_conductor:
            n = self.ion_conductor - self.ion_to_anode
            out.append(f"{n} electrolyte voxels ({100 * n / self.ion_conductor:.2g} %) have "
                       "no ionic path to the anode (kept: they carry lithium between the "
                       "particles they touch)")
        return out


def conduction_paths(cell, porous_cbd: bool) -> ConductionPaths:
    """Conduction paths of a virtual cell (``assemble_cell``). With ``porous_cbd`` (the
    LIB) the CBD conducts electrons and, through its pores, ions; without it (the ASSB)
    there is no CBD (it became solid electrolyte)."""
    lab = cell.labels
    cam = lab == CAM
    electronic = cam | (lab == CBD) if porous_cbd else cam
    ionic = np.isin(lab, (ELECTROLYTE, SEPARATOR) + ((CBD,) if porous_cbd else ()))
    to_collector = _touching(electronic, -1) & cam
    to_anode = _touching(ionic, 0)
    # CAM that touches (across a face) an ion conductor reaching the anode
    near = np.zeros_like(cam)
    for axis in range(3):
        for shift in (1, -1):
            near |= np.roll(to_anode, shift, axis=axis) & ~_wrapped(lab.shape, axis, shift)
    cluster, _ = ndimage.label(to_collector)
    active_ids = np.unique(cluster[near & to_collector])
    active_ids = active_ids[active_ids > 0]
    active = np.isin(cluster, active_ids) if active_ids.size else np.zeros_like(cam)
    return ConductionPaths(int(cam.sum()), int(to_collector.sum()), int(active.sum()),
                           int(ionic.sum()), int(to_anode.sum()), int((lab == 0).sum()))


def _wrapped(shape, axis: int, shift: int) -> np.ndarray:
    """The plane that ``np.roll`` wraps around (to be masked out)."""
    m = np.zeros(shape, dtype=bool)
    idx = [slice(None)] * 3
    idx[axis] = 0 if shift == 1 else -1
    m[tuple(idx)] = True
    return m
