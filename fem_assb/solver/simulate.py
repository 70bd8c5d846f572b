"""One call from a cathode structure to a discharge result (the CLI's ``discharge``)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from fem_assb import provenance
from fem_assb._dolfinx import MPI
from fem_assb.constants import MA_PER_CM2
from fem_assb.locking import one_run_per_output
from fem_assb.materials import Parameters, default_parameters
from fem_assb.materials.mass import areal_mass
from fem_assb.mesh import build_mesh
from fem_assb.physics import CellModel, LiquidCellModel, SolidCellModel, cell_domains
from fem_assb.solver.discharge import DischargeError, DischargeResult, StepControl, run_discharge
from fem_assb.solver.resources import check_memory
from fem_assb.structure import assemble_cell
from fem_assb.structure.paths import conduction_paths
from fem_assb.structure.voxels import VoxelStructure


@one_run_per_output
def discharge(cathode: VoxelStructure, current_density_mA_cm2: float,
              electrolyte: str = "solid", params: Parameters | None = None,
              cutoff_V: float | None = None, separator_um: float | None = None,
              refine: int = 1, output: str | Path | None = None, comm=MPI.COMM_WORLD,
              control: StepControl | None = None, progress: bool = True,
              linear: str = "auto", fields_every: int | None = None,
              max_time_s: float | None = None, render: bool = False,
              checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
              resume: bool = False, max_steps: int = 2000) -> DischargeResult:
    """Galvanostatic discharge of a cathode structure in a virtual cell.

    Args:
        cathode: voxel structure of the cathode (x from separator to collector).
        current_density_mA_cm2: applied current density (mA/cm², > 0).
        electrolyte: 'solid' (ASSB: CBD becomes SE, dense SE separator) or 'liquid'
            (LIB: porous CBD and separator, concentrated-solution electrolyte).
        params: parameter set (default: built-in).
        cutoff_V: lower cut-off voltage (default: ``params.operation.cutoff_voltage``).
        separator_um: separator thickness (default: ``params.separator.thickness_um``).
        refine: subdivide each voxel into refine³ voxels.
        output: directory for voltage.csv, summary.json and profiles.
        linear: 'direct' (MUMPS), 'iterative' (GMRES + field split, GAMG per field) or
            'auto' (the parameter set's ``[solver] linear``: by default direct up to
            ``direct_dof_limit`` unknowns).
        fields_every: 3D fields every N steps (0: end state only; None: none).
        max_time_s: stop after this time (s) even above the cut-off.
        render: draw the end state (lithiation, Φ_e, |i_e|) to ``output/fields.png``
            (serial runs; under MPI use the VTX fields).
        checkpoint_every, checkpoint_minutes: save the state to ``output/checkpoint``
            every N steps / M minutes; ``resume`` continues from it.
        max_steps: stop after this many accepted steps (``stop_reason = 'max_steps'``).
    """
    p = params or default_parameters()
    if electrolyte not in ("solid", "liquid"):
        raise DischargeError(f"electrolyte must be 'solid' or 'liquid', got '{electrolyte}'")
    if electrolyte == "liquid" and p.anode.kinetics == "ideal":
        raise DischargeError("anode.kinetics = 'ideal' is only available for the solid "
                             "electrolyte; the LIB anode uses Butler–Volmer kinetics")
    if not (np.isfinite(current_density_mA_cm2) and current_density_mA_cm2 > 0):
        raise DischargeError(
            f"current density must be a finite value > 0 mA/cm², got {current_density_mA_cm2}")
    # the cut-off and the separator pass the parameter set's validation (range, finite)
    overrides = {}
    if cutoff_V is not None:
        overrides["operation"] = {"cutoff_voltage": cutoff_V}
    if separator_um is not None:
        overrides["separator"] = {"thickness_um": separator_um}
    if overrides:
        p = p.updated(overrides, "cut-off voltage (V) / separator thickness (µm)")
    cutoff, sep = p.operation.cutoff_voltage, p.separator.thickness_um
    if not (isinstance(refine, int | np.integer) and refine >= 1):
        raise DischargeError(f"refine must be an integer >= 1, got {refine}")
    cell = assemble_cell(cathode, sep, electrolyte)
    paths = conduction_paths(cell, electrolyte)
    if paths.active_cam == 0:
        raise DischargeError(
            "no CAM has both an electronic path to the current collector (x = Lx) and an "
            f"ionic path to the anode (x = 0): {paths.cam_to_collector} of {paths.cam} CAM "
            f"voxels reach the collector, {paths.ion_to_anode} of {paths.ion_conductor} "
            f"electrolyte voxels the anode ({paths.void} void voxels); nothing can discharge")
    if comm.rank == 0:
        for line in paths.warnings():
            warnings.warn(line, stacklevel=3)
    q_theo = cathode.theoretical_capacity(p)
    need = check_memory(int(np.count_nonzero(cell.labels)) * refine**3, electrolyte, comm)
    if progress and comm.rank == 0:
        print(f"fem-assb: {need.describe()}", file=sys.stderr, flush=True)
    Model = SolidCellModel if electrolyte == "solid" else LiquidCellModel
    vm = build_mesh(cell, comm=comm, refine=refine, phase_weights=Model.phase_weights,
                    partition=mesh_partition(cell.shape[0] * refine, comm.size))
    doms = cell_domains(vm)
    model = Model(doms, p, current_density_mA_cm2 * MA_PER_CM2)
    mass = areal_mass(cell, p, electrolyte, q_theo)
    origin = provenance.record(p, cathode, comm.size)
    if output is not None and comm.rank == 0:
        if not resume:  # an earlier run's results must not pass for this run's
            for name in STALE_OUTPUTS:
                (Path(output) / name).unlink(missing_ok=True)
        # the resolved parameter set of the run
        (Path(output) / "parameters.json").write_text(p.model_dump_json(indent=2))
    res = run_discharge(model, q_theo, cutoff, mass, output=output, control=control,
                        progress=progress, linear=linear, fields_every=fields_every,
                        max_time=max_time_s, checkpoint_every=checkpoint_every,
                        checkpoint_minutes=checkpoint_minutes, resume=resume,
                        max_steps=max_steps, provenance=origin)
    res.curve["utilisation_x_um"], res.curve["utilisation"] = utilisation_profile(model, cell)
    profiles = {"x_um": res.curve["utilisation_x_um"],
                "cam_utilisation": res.curve["utilisation"]}
    if electrolyte == "liquid":
        xs, ce = electrolyte_profile(model, cell)
        res.curve["electrolyte_x_um"], res.curve["electrolyte_concentration"] = xs, ce
        profiles.update({"electrolyte_x_um": xs, "electrolyte_concentration_mol_m3": ce})
    if output is not None and comm.rank == 0:
        (Path(output) / "profiles.json").write_text(json.dumps(profiles))
    if render and output is not None:
        from fem_assb.viz.fields import render_fields

        render_fields(model, Path(output) / "fields.png")
    return res


# files of a finished run, removed when a new run (not a resume) starts in the directory
STALE_OUTPUTS = ("summary.json", "profiles.json", "fields.png")

MIN_SLAB_PLANES = 4  # thinner x-slabs: ghost layers dominate, use the graph partitioner


def mesh_partition(num_planes: int, ranks: int) -> str:
    """'slab' (x-slabs of equal meshed volume) while every rank gets at least
    ``MIN_SLAB_PLANES`` voxel planes, else 'graph' (DOLFINx's graph partitioner)."""
    return "slab" if num_planes >= MIN_SLAB_PLANES * ranks else "graph"


def _plane_means(model: CellModel, func, submesh_index: int, weight_of_label: dict,
                 cell: VoxelStructure):
    """Weighted mean of a P1 function per voxel plane x (its cell means at the centroids,
    weights by the parent cell's label). Returns (x in µm from the separator face, or
    from the anode face when the separator is included; values; n_sep)."""
    from fem_assb._dolfinx import fem

    vm = model.doms.vm
    submesh = func.function_space.mesh
    Q = fem.functionspace(submesh, ("DG", 0))
    cbar = fem.Function(Q)
    cbar.interpolate(func)  # cell means of P1 (exact at the centroid)
    # parent cell of every owned submesh cell, through the entity map (the submesh
    # numbering is the partition's business, so no ordering is assumed)
    n_owned = submesh.topology.index_map(3).size_local
    parent = model.doms.entity_maps[submesh_index].sub_topology_to_topology(
        np.arange(n_owned, dtype=np.int32), False)
    vals = cbar.x.array[Q.dofmap.list[:n_owned, 0]]
    w = np.zeros(256)
    for label, weight in weight_of_label.items():
        w[label] = weight
    wc = w[vm.cell_tags.values[parent]]
    planes = np.unravel_index(vm.cell_voxel[parent], vm.labels.shape)[0]
    nx = vm.labels.shape[0]
    s = np.bincount(planes, weights=wc * vals, minlength=nx)
    n = np.bincount(planes, weights=wc, minlength=nx)
    comm = vm.comm
    s, n = comm.allreduce(s, op=MPI.SUM), comm.allreduce(n, op=MPI.SUM)
    n_sep = int(round(cell.metadata.get("separator_voxels", 0) * nx / cell.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
    xs = (np.arange(nx) + 0.5 - n_sep) * vm.voxel_size * 1e6
    return xs, mean, n_sep


def _listed(values) -> list:
    return [None if not np.isfinite(u) else float(u) for u in values]


def electrolyte_profile(model: LiquidCellModel, cell: VoxelStructure):
    """Mean electrolyte concentration c_e (mol/m³) per voxel plane along x, averaged
    over the pore volume (porosity-weighted), separator included; x in µm from the
    separator|cathode face (negative in the separator)."""
    weights = {label: eps for label, (eps, _) in model.regions.items()}
    xs, mean, _ = _plane_means(model, model.c_e, 1, weights, cell)
    return xs.tolist(), _listed(mean)


def utilisation_profile(model: CellModel, cell: VoxelStructure):
    """Mean CAM lithiation along x (per voxel plane of the cathode), as
    (x in µm from the separator, (x − x0)/(1 − x0)) — 0 at rest, 1 when fully lithiated."""
    from fem_assb.structure.phases import CAM

    p = model.params
    xs, mean, n_sep = _plane_means(model, model.c, 0, {CAM: 1.0}, cell)
    x0 = p.operation.initial_stoichiometry
    util = (mean / p.cam.c_max - x0) / (1 - x0)
    keep = np.arange(xs.size) >= n_sep
    return xs[keep].tolist(), _listed(util[keep])
