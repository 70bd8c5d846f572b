"""One call from a cathode structure to a discharge result (the CLI's ``discharge``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fem_assb._dolfinx import MPI
from fem_assb.constants import MA_PER_CM2
from fem_assb.materials import Parameters, default_parameters
from fem_assb.materials.mass import areal_mass
from fem_assb.mesh import build_mesh
from fem_assb.physics import SolidCellModel, cell_domains
from fem_assb.solver.discharge import DischargeError, DischargeResult, StepControl, run_discharge
from fem_assb.structure import assemble_cell
from fem_assb.structure.voxels import VoxelStructure


def discharge(cathode: VoxelStructure, current_density_mA_cm2: float,
              electrolyte: str = "solid", params: Parameters | None = None,
              cutoff_V: float | None = None, separator_um: float | None = None,
              refine: int = 1, output: str | Path | None = None, comm=MPI.COMM_WORLD,
              control: StepControl | None = None, progress: bool = True,
              linear: str = "auto", fields_every: int | None = None) -> DischargeResult:
    """Galvanostatic discharge of a cathode structure in a virtual cell.

    Args:
        cathode: voxel structure of the cathode (x from separator to collector).
        current_density_mA_cm2: applied current density (mA/cm², > 0).
        electrolyte: 'solid' (ASSB); 'liquid' comes with the LIB model.
        params: parameter set (default: built-in).
        cutoff_V: lower cut-off voltage (default: ``params.operation.cutoff_voltage``).
        separator_um: separator thickness (default: ``params.separator.thickness_um``).
        refine: subdivide each voxel into refine³ voxels.
        output: directory for voltage.csv, summary.json and profiles.
        linear: 'direct' (MUMPS), 'iterative' (GMRES + field split, GAMG per field) or
            'auto' (direct up to ``DIRECT_DOF_LIMIT`` unknowns).
        fields_every: 3D fields every N steps (0: end state only; None: none).
    """
    p = params or default_parameters()
    if electrolyte != "solid":
        raise DischargeError("only --electrolyte solid is implemented so far")
    if not current_density_mA_cm2 > 0:
        raise DischargeError(
            f"current density must be > 0 mA/cm², got {current_density_mA_cm2}")
    cutoff = p.operation.cutoff_voltage if cutoff_V is None else float(cutoff_V)
    sep = p.separator.thickness_um if separator_um is None else float(separator_um)
    cell = assemble_cell(cathode, sep, electrolyte)
    q_theo = cathode.theoretical_capacity(p)
    vm = build_mesh(cell, comm=comm, refine=refine)
    doms = cell_domains(vm)
    model = SolidCellModel(doms, p, current_density_mA_cm2 * MA_PER_CM2)
    mass = areal_mass(cell, p, electrolyte, q_theo)
    res = run_discharge(model, q_theo, cutoff, mass, output=output, control=control,
                        progress=progress, linear=linear, fields_every=fields_every)
    res.curve["utilisation_x_um"], res.curve["utilisation"] = utilisation_profile(model, cell)
    if output is not None and comm.rank == 0:
        out = Path(output)
        (out / "profiles.json").write_text(json.dumps(
            {"x_um": res.curve["utilisation_x_um"], "cam_utilisation": res.curve["utilisation"]}))
    return res


def utilisation_profile(model: SolidCellModel, cell: VoxelStructure):
    """Mean CAM lithiation along x (per voxel plane of the cathode), as
    (x in µm from the separator, (x − x0)/(1 − x0)) — 0 at rest, 1 when fully lithiated."""
    from fem_assb._dolfinx import fem

    p = model.params
    vm = model.doms.vm
    Q = fem.functionspace(model.doms.cam, ("DG", 0))
    cbar = fem.Function(Q)
    cbar.interpolate(model.c)  # cell means of P1 (exact at the centroid)
    # parent cell of every owned CAM submesh cell, through the entity map (the submesh
    # numbering is the partition's business, so no ordering is assumed)
    n_owned = model.doms.cam.topology.index_map(3).size_local
    parent = model.doms.entity_maps[0].sub_topology_to_topology(
        np.arange(n_owned, dtype=np.int32), False)
    vals = cbar.x.array[Q.dofmap.list[:n_owned, 0]]
    planes = np.unravel_index(vm.cell_voxel[parent], vm.labels.shape)[0]
    nx = vm.labels.shape[0]
    s = np.bincount(planes, weights=vals, minlength=nx)
    n = np.bincount(planes, minlength=nx).astype(float)
    comm = vm.comm
    s, n = comm.allreduce(s, op=MPI.SUM), comm.allreduce(n, op=MPI.SUM)
    n_sep = int(round(cell.metadata.get("separator_voxels", 0) * vm.labels.shape[0]
                      / cell.shape[0]))
    x0 = p.operation.initial_stoichiometry
    with np.errstate(invalid="ignore", divide="ignore"):
        util = (s / n / p.cam.c_max - x0) / (1 - x0)
    xs = (np.arange(nx) + 0.5 - n_sep) * vm.voxel_size * 1e6
    keep = np.arange(nx) >= n_sep
    return xs[keep].tolist(), [None if not np.isfinite(u) else float(u) for u in util[keep]]
