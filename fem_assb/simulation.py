"""A simulation: one object from a cathode structure to protocol results.

``Simulation`` owns the pipeline structure → virtual cell → mesh → cell model, then runs
protocols (``Experiment``) on it; each run starts from rest::

    sim = fem_assb.Simulation(structure, electrolyte="solid")
    sol = sim.run(["Discharge at 1C until 3.0 V", "Rest for 1 hour",
                   "Charge at C/3 until 4.2 V", "Hold at 4.2 V until C/50"])
    sol.plot()            # voltage vs capacity, per step (inline in Jupyter)
    sol.to_dataframe()    # the curve as a pandas DataFrame
    sol.summary()         # the whole run and ``steps_summary`` per step

``discharge()`` is the one-call galvanostatic discharge (the CLI's ``discharge``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from fem_assb import provenance
from fem_assb._dolfinx import MPI
from fem_assb.analysis.profiles import electrolyte_profile, utilisation_profile
from fem_assb.constants import MA_PER_CM2, MAH_PER_CM2
from fem_assb.locking import one_run_per_output
from fem_assb.materials import Parameters, default_parameters
from fem_assb.materials.mass import areal_mass, areal_mass_of_volumes, theoretical_capacity
from fem_assb.mesh import INTERFACES, build_mesh
from fem_assb.mesh.imported import ImportedMesh, read_mesh
from fem_assb.physics import LiquidCellModel, SolidCellModel, cell_domains
from fem_assb.solver.discharge import DischargeError, DischargeResult, StepControl, run_discharge
from fem_assb.solver.experiment import Experiment
from fem_assb.solver.resources import check_memory
from fem_assb.solver.timeloop import RunResult, run_experiment
from fem_assb.structure import assemble_cell
from fem_assb.structure.paths import conduction_paths
from fem_assb.structure.phases import CAM
from fem_assb.structure.voxels import VoxelStructure

MIN_SLAB_PLANES = 4  # thinner x-slabs: ghost layers dominate, use the graph partitioner

# files of a finished run, removed when a new run (not a resume) starts in the directory
STALE_OUTPUTS = ("summary.json", "profiles.json", "fields.png")


def mesh_partition(num_planes: int, ranks: int) -> str:
    """'slab' (x-slabs of equal meshed volume) while every rank gets at least
    ``MIN_SLAB_PLANES`` voxel planes, else 'graph' (DOLFINx's graph partitioner)."""
    return "slab" if num_planes >= MIN_SLAB_PLANES * ranks else "graph"


class Solution:
    """The result of ``Simulation.run``: the run's summary (``result``, a
    ``RunResult``: its fields are reachable here too), the curve and the profiles."""

    def __init__(self, result: RunResult):
        self.result = result

    def __getattr__(self, name):
        return getattr(self.result, name)

    def __repr__(self) -> str:
        r = self.result
        return (f"Solution({len(r.steps_summary)} steps, {r.stop_reason}, discharged "
                f"{r.capacity_mAh_cm2:.4g} mAh/cm², charged {r.charge_capacity_mAh_cm2:.4g} "
                f"mAh/cm²)")

    def summary(self) -> dict:
        return self.result.summary()

    def to_dataframe(self):
        """The curve (time_s, capacity_mAh_cm2, voltage_V, current_mA_cm2, step,
        newton_iterations) as a pandas DataFrame, one row per time step."""
        import pandas as pd

        keys = ("time_s", "capacity_mAh_cm2", "voltage_V", "current_mA_cm2", "step",
                "newton_iterations")
        return pd.DataFrame({k: self.result.curve[k] for k in keys})

    def steps_dataframe(self):
        """One row per protocol step (kind, capacity, energy, voltages, duration, stop)."""
        import pandas as pd

        return pd.DataFrame(self.result.steps_summary)

    def plot(self, axes=None):
        """Cell voltage vs time, and vs the charge passed in each step, one colour per
        step (two matplotlib axes; a new pyplot figure without ``axes``, shown inline
        in Jupyter). Returns the axes."""
        from fem_assb.viz.curves import plot_protocol

        return plot_protocol(self.result, axes=axes)


def _checked(parameters: Parameters | None, electrolyte: str) -> Parameters:
    """The parameter set (default: built-in), checked against the electrolyte."""
    p = parameters or default_parameters()
    if electrolyte not in ("solid", "liquid"):
        raise DischargeError(f"electrolyte must be 'solid' or 'liquid', got '{electrolyte}'")
    if electrolyte == "liquid" and p.anode.kinetics == "ideal":
        raise DischargeError("anode.kinetics = 'ideal' is only available for the solid "
                             "electrolyte; the LIB anode uses Butler–Volmer kinetics")
    return p


class Simulation:
    """A cathode structure in its virtual cell, meshed, with its cell model.

    Args:
        structure: the cathode's voxel structure (x from separator to collector).
        electrolyte: 'solid' (ASSB) or 'liquid' (LIB).
        parameters: parameter set (default: the built-in one).
        separator_um: separator thickness (default: the parameter set's).
        refine: subdivide each voxel into refine³ voxels.
        interface: 'voxel' (staircase interfaces) or 'smooth' (interface vertices moved
            onto smooth surfaces: about 2/3 of the staircase's interface area; the
            theoretical capacity is then that of the meshed CAM volume).
        comm: MPI communicator (all ranks take part).
        progress: report the set-up (memory estimate) on rank 0.
    """

    def __init__(self, structure: VoxelStructure, electrolyte: str = "solid",
                 parameters: Parameters | None = None, separator_um: float | None = None,
                 refine: int = 1, comm=MPI.COMM_WORLD, progress: bool = True,
                 interface: str = "voxel"):
        p = _checked(parameters, electrolyte)
        if separator_um is not None:
            p = p.updated({"separator": {"thickness_um": separator_um}},
                          "separator thickness (µm)")
        if not (isinstance(refine, int | np.integer) and refine >= 1):
            raise DischargeError(f"refine must be an integer >= 1, got {refine}")
        if interface not in INTERFACES:
            raise DischargeError(f"interface must be one of {', '.join(INTERFACES)}, "
                                 f"got '{interface}'")
        self.structure, self.electrolyte, self.params = structure, electrolyte, p
        self.refine, self.comm, self.interface = int(refine), comm, interface
        cell = self.cell = assemble_cell(structure, p.separator.thickness_um, electrolyte)
        paths = conduction_paths(cell, electrolyte)
        if paths.active_cam == 0:
            raise DischargeError(
                "no CAM has both an electronic path to the current collector (x = Lx) and "
                f"an ionic path to the anode (x = 0): {paths.cam_to_collector} of "
                f"{paths.cam} CAM voxels reach the collector, {paths.ion_to_anode} of "
                f"{paths.ion_conductor} electrolyte voxels the anode ({paths.void} void "
                "voxels); nothing can discharge")
        if comm.rank == 0:
            for line in paths.warnings():
                warnings.warn(line, stacklevel=2)
        self.theoretical_capacity = structure.theoretical_capacity(p)  # C/m²
        need = check_memory(int(np.count_nonzero(cell.labels)) * self.refine**3,
                            electrolyte, comm)
        if progress and comm.rank == 0:
            print(f"fem-assb: {need.describe()}", file=sys.stderr, flush=True)
        Model = SolidCellModel if electrolyte == "solid" else LiquidCellModel
        vm = build_mesh(cell, comm=comm, refine=self.refine, phase_weights=Model.phase_weights,
                        partition=mesh_partition(cell.shape[0] * self.refine, comm.size),
                        interface=interface)
        if interface == "smooth":  # the CAM the model holds
            self.theoretical_capacity = theoretical_capacity(
                vm.phase_volume(CAM), cell.cross_section_area, p)
        self.model = Model(cell_domains(vm), p, 0.0)
        self.mass_per_area = areal_mass(cell, p, electrolyte, self.theoretical_capacity)

    @classmethod
    def from_mesh(cls, mesh: ImportedMesh | str | Path, electrolyte: str = "solid",
                  parameters: Parameters | None = None, comm=MPI.COMM_WORLD,
                  unit: str = "m", progress: bool = True) -> Simulation:
        """A cell meshed elsewhere: a tetrahedral mesh with phase tags (a file, read by
        ``fem_assb.mesh.read_mesh`` in ``unit``, or an ``ImportedMesh``), separator
        included if the cell has one; the same cell models run on it. The theoretical
        capacity and the areal mass come from the meshed phase volumes."""
        p = _checked(parameters, electrolyte)
        vm = mesh if isinstance(mesh, ImportedMesh) else read_mesh(mesh, comm, unit)
        self = cls.__new__(cls)
        self.structure, self.cell, self.electrolyte, self.params = None, None, electrolyte, p
        self.refine, self.comm, self.interface = 1, vm.comm, vm.interface
        self.source = vm.source
        volumes = [vm.phase_volume(k) for k in range(5)]
        area = vm.lengths[1] * vm.lengths[2]
        self.theoretical_capacity = theoretical_capacity(volumes[CAM], area, p)
        if progress and vm.comm.rank == 0:
            print(f"fem-assb: {vm.source}: {vm.num_cells_global():,} tetrahedra, box "
                  f"{' x '.join(f'{v * 1e6:.4g}' for v in vm.lengths)} µm", file=sys.stderr,
                  flush=True)
        Model = SolidCellModel if electrolyte == "solid" else LiquidCellModel
        self.model = Model(cell_domains(vm), p, 0.0)
        self.mass_per_area = areal_mass_of_volumes(volumes, area, p, electrolyte,
                                                   self.theoretical_capacity)
        return self

    @property
    def theoretical_capacity_mAh_cm2(self) -> float:
        return self.theoretical_capacity / MAH_PER_CM2

    def _prepare(self, output, resume: bool) -> None:
        if output is not None and self.comm.rank == 0:
            out = Path(output)
            out.mkdir(parents=True, exist_ok=True)
            if not resume:  # an earlier run's results must not pass for this run's
                for name in STALE_OUTPUTS:
                    (out / name).unlink(missing_ok=True)
            (out / "parameters.json").write_text(self.params.model_dump_json(indent=2))

    def _observers(self, output, fields_every):
        if fields_every is None or output is None:
            return []
        from fem_assb.viz.fields import FieldObserver

        return [FieldObserver(self.model, Path(output) / "fields", fields_every)]

    def _finish(self, res, output, render: bool):
        model = self.model
        res.curve["utilisation_x_um"], res.curve["utilisation"] = \
            utilisation_profile(model)
        profiles = {"x_um": res.curve["utilisation_x_um"],
                    "cam_utilisation": res.curve["utilisation"]}
        if self.electrolyte == "liquid":
            xs, ce = electrolyte_profile(model)
            res.curve["electrolyte_x_um"], res.curve["electrolyte_concentration"] = xs, ce
            profiles.update({"electrolyte_x_um": xs, "electrolyte_concentration_mol_m3": ce})
        if output is not None and self.comm.rank == 0:
            (Path(output) / "profiles.json").write_text(json.dumps(profiles))
        if render and output is not None:
            from fem_assb.viz.fields import render_fields

            render_fields(model, Path(output) / "fields.png")
        return res

    def run(self, experiment, output: str | Path | None = None,
            control: StepControl | None = None, progress: bool = True,
            linear: str = "auto", fields_every: int | None = None, render: bool = False,
            checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
            resume: bool = False, max_steps: int = 2000) -> Solution:
        """Run a protocol from rest.

        Args:
            experiment: an ``Experiment``, or what makes one (step strings, dicts, ...).
            output: directory for voltage.csv (with ``step`` and ``current_mA_cm2``),
                summary.json (``steps_summary`` per step), profiles.json.
            fields_every: 3D fields every N steps (0: end state only; None: none).
            render: draw the end state to ``output/fields.png`` (serial runs).
            checkpoint_every, checkpoint_minutes, resume: see ``run_experiment``.
        """
        exp = experiment if isinstance(experiment, Experiment) else Experiment(experiment)
        return Solution(self._run(lambda obs: run_experiment(
            self.model, exp, self.theoretical_capacity, self.mass_per_area, output=output,
            control=control, linear=linear, progress=progress, max_steps=max_steps,
            observers=obs, checkpoint_every=checkpoint_every,
            checkpoint_minutes=checkpoint_minutes, resume=resume,
            provenance=self._provenance()),
            output, resume, fields_every, render))

    def _provenance(self) -> dict:
        out = {**provenance.record(self.params, self.structure, self.comm.size),
               "refine": self.refine, "interface": self.interface}
        if self.structure is None:
            out["mesh"] = self.source
        return out

    def _run(self, go, output, resume, fields_every, render):
        self._prepare(output, resume)
        return self._finish(go(self._observers(output, fields_every)), output, render)

    def discharge(self, current_density_mA_cm2: float, cutoff_V: float | None = None,
                  output=None, control=None, progress: bool = True, linear: str = "auto",
                  fields_every=None, max_time_s=None, render: bool = False,
                  checkpoint_every=None, checkpoint_minutes=None, resume: bool = False,
                  max_steps: int = 2000) -> DischargeResult:
        """A galvanostatic discharge from rest to ``cutoff_V`` (default: the parameter
        set's), in the discharge's vocabulary (``DischargeResult``)."""
        if not (np.isfinite(current_density_mA_cm2) and current_density_mA_cm2 > 0):
            raise DischargeError("current density must be a finite value > 0 mA/cm², "
                                 f"got {current_density_mA_cm2}")
        cutoff = self.params.operation.cutoff_voltage if cutoff_V is None else cutoff_V
        if cutoff_V is not None:  # passes the parameter set's validation (range, finite)
            self.params.updated({"operation": {"cutoff_voltage": cutoff_V}},
                                "cut-off voltage (V)")
        self.model.set_current(current_density_mA_cm2 * MA_PER_CM2)
        return self._run(lambda obs: run_discharge(
            self.model, self.theoretical_capacity, cutoff, self.mass_per_area,
            output=output, control=control, progress=progress, linear=linear,
            max_time=max_time_s, observers=obs, checkpoint_every=checkpoint_every,
            checkpoint_minutes=checkpoint_minutes, resume=resume, max_steps=max_steps,
            provenance=self._provenance()),
            output, resume, fields_every, render)


def _simulation(cathode, electrolyte, params, separator_um, refine, comm, progress,
                interface) -> Simulation:
    """A Simulation of a voxel structure, or of an imported mesh (``ImportedMesh``)."""
    if isinstance(cathode, ImportedMesh):
        if separator_um is not None or refine != 1 or interface != "voxel":
            raise DischargeError("an imported mesh is used as it is: no separator, "
                                 "refinement or interface option applies to it")
        return Simulation.from_mesh(cathode, electrolyte, params, comm, progress=progress)
    return Simulation(cathode, electrolyte, params, separator_um=separator_um, refine=refine,
                      comm=comm, progress=progress, interface=interface)


@one_run_per_output
def discharge(cathode: VoxelStructure, current_density_mA_cm2: float,
              electrolyte: str = "solid", params: Parameters | None = None,
              cutoff_V: float | None = None, separator_um: float | None = None,
              refine: int = 1, output: str | Path | None = None, comm=MPI.COMM_WORLD,
              control: StepControl | None = None, progress: bool = True,
              linear: str = "auto", fields_every: int | None = None,
              max_time_s: float | None = None, render: bool = False,
              checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
              resume: bool = False, max_steps: int = 2000,
              interface: str = "voxel") -> DischargeResult:
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
        interface: 'voxel' or 'smooth' (see ``Simulation``).
    """
    p = params or default_parameters()
    if not (np.isfinite(current_density_mA_cm2) and current_density_mA_cm2 > 0):
        raise DischargeError(
            f"current density must be a finite value > 0 mA/cm², got {current_density_mA_cm2}")
    if cutoff_V is not None:  # the cut-off passes the parameter set's validation
        p = p.updated({"operation": {"cutoff_voltage": cutoff_V}}, "cut-off voltage (V)")
    sim = _simulation(cathode, electrolyte, p, separator_um, refine, comm, progress,
                      interface)
    return sim.discharge(current_density_mA_cm2, None, output=output, control=control,
                         progress=progress, linear=linear, fields_every=fields_every,
                         max_time_s=max_time_s, render=render,
                         checkpoint_every=checkpoint_every,
                         checkpoint_minutes=checkpoint_minutes, resume=resume,
                         max_steps=max_steps)


@one_run_per_output
def run(cathode: VoxelStructure, experiment, electrolyte: str = "solid",
        params: Parameters | None = None, separator_um: float | None = None,
        refine: int = 1, output: str | Path | None = None, comm=MPI.COMM_WORLD,
        control: StepControl | None = None, progress: bool = True, linear: str = "auto",
        fields_every: int | None = None, render: bool = False,
        checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
        resume: bool = False, max_steps: int = 2000, interface: str = "voxel") -> Solution:
    """Run a protocol on a cathode structure in a virtual cell (the CLI's ``run``); the
    arguments as ``discharge``'s and ``Simulation.run``'s."""
    sim = _simulation(cathode, electrolyte, params, separator_um, refine, comm, progress,
                      interface)
    return sim.run(experiment, output=output, control=control, progress=progress,
                   linear=linear, fields_every=fields_every, render=render,
                   checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes,
                   resume=resume, max_steps=max_steps)
