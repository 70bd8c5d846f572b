"""Mass basis of the energy density (kg/m²): cathode composite + separator (+ its
electrolyte) + Li metal anode sized at n/p = 1; current collectors and housing excluded
(Clausnitzer 2023, Eq. 10)."""

from __future__ import annotations

import numpy as np

from fem_assb.constants import FARADAY, MAH_PER_CM2
from fem_assb.materials.parameters import Parameters, default_parameters
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR
from fem_assb.structure.voxels import VoxelStructure


def theoretical_capacity(cam_volume: float, cross_section: float,
                         params: Parameters) -> float:
    """Theoretical areal capacity in C/m² of ``cam_volume`` (m³) of CAM over
    ``cross_section`` (m²): V_CAM · c_max · (1 − x0) · F / area."""
    x0 = params.operation.initial_stoichiometry
    return cam_volume * params.cam.c_max * (1.0 - x0) * FARADAY / cross_section


def structure_capacity(structure: VoxelStructure, params: Parameters | None = None) -> float:
    """Theoretical areal capacity (C/m²) of a voxel structure's CAM (default parameters
    if none given)."""
    if params is None:
        params = default_parameters()
    v_cam = np.count_nonzero(structure.labels == CAM) * structure.voxel_size**3
    return theoretical_capacity(v_cam, structure.cross_section_area, params)


def structure_capacity_mAh_cm2(structure: VoxelStructure,
                               params: Parameters | None = None) -> float:
    """Theoretical areal capacity of a structure's CAM.

    Parameters
    ----------
    structure : VoxelStructure
    params : Parameters, optional
        The parameter set (c_max, initial stoichiometry; default: built-in).

    Returns
    -------
    float
        mAh/cm².
    """
    return structure_capacity(structure, params) / MAH_PER_CM2


def areal_mass(cell: VoxelStructure, params: Parameters, solid_electrolyte: bool,
               theoretical_capacity: float) -> float:
    """Areal mass in kg/m² of an assembled cell (labels with the separator, 4).

    Args:
        theoretical_capacity: C/m², sizes the Li metal anode (n/p = 1).
    """
    n = np.bincount(cell.labels.ravel(), minlength=5) * cell.voxel_size**3
    return areal_mass_of_volumes(n, cell.cross_section_area, params, solid_electrolyte,
                                 theoretical_capacity)


def areal_mass_of_volumes(volumes, cross_section: float, params: Parameters,
                          solid_electrolyte: bool, theoretical_capacity: float) -> float:
    """Areal mass in kg/m² of a cell from its phase volumes (m³, indexed by phase id)
    over ``cross_section`` (m²); ``theoretical_capacity`` (C/m²) sizes the anode."""
    n = np.zeros(5)
    n[:len(volumes)] = volumes
    p = params
    if solid_electrolyte:
        rho_e = p.solid_electrolyte.density
        m = n[CAM] * p.cam.density + (n[ELECTROLYTE] + n[CBD] + n[SEPARATOR]) * rho_e
    else:
        rho_l = p.liquid_electrolyte.density
        eps_c, eps_s = p.cbd.porosity, p.separator.porosity
        m = (n[CAM] * p.cam.density + n[ELECTROLYTE] * rho_l
             + n[CBD] * ((1 - eps_c) * p.cbd.solid_density + eps_c * rho_l)
             + n[SEPARATOR] * ((1 - eps_s) * p.separator.polymer_density + eps_s * rho_l))
    m /= cross_section
    li = theoretical_capacity / 3.6 / p.anode.specific_capacity_mAh_g * 1e-3  # kg/m²
    return float(m + li)
