"""A simulation: one object from a cathode structure to protocol results.

``Simulation`` owns the pipeline structure → virtual cell → mesh → cell model, then runs
protocols (``Experiment``) on it; each run starts from rest::

    sim = fem_assb.Simulation(structure, electrolyte="solid")
    sol = sim.run(["Discharge at 1C until 3.0 V", "Rest for 1 hour",
                   "Charge at C/3 until 4.2 V", "Hold at 4.2 V until C/50"])
    sol.plot()            # voltage vs capacity, per step (inline in Jupyter)
    sol.to_dataframe()    # the curve as a pandas DataFrame
    sol.summary()         # the whole run and ``steps`` per step

``discharge()`` is the one-step protocol "Discharge at I until the cut-off"; it returns
the same ``Solution``. How a run is carried out (output, checkpoints, progress, solver)
is a ``RunOptions``, given whole (``options=``) or by its fields as keywords.
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
from fem_assb.constants import MAH_PER_CM2
from fem_assb.errors import ConfigError
from fem_assb.locking import locked_output
from fem_assb.materials import Parameters, default_parameters
from fem_assb.materials.mass import structure_capacity, theoretical_capacity
from fem_assb.mesh import INTERFACES, build_mesh
from fem_assb.mesh.imported import ImportedMesh, read_mesh
from fem_assb.physics import cell_domains
from fem_assb.physics.chemistry import Chemistry, chemistry
from fem_assb.protocol.experiment import Experiment, Step
from fem_assb.protocol.loop import RunInputs, run_protocol, verify_resume
from fem_assb.protocol.resources import check_memory
from fem_assb.protocol.result import Profiles
from fem_assb.protocol.run_options import RunOptions
from fem_assb.solution import Solution
from fem_assb.structure.phases import CAM
from fem_assb.structure.voxels import VoxelStructure

MIN_SLAB_PLANES = 4  # thinner x-slabs: ghost layers dominate, use the graph partitioner

# files of a finished run, removed when a new run (not a resume) starts in the directory
STALE_OUTPUTS = ("summary.json", "profiles.json", "fields.png")


def mesh_partition(num_planes: int, ranks: int) -> str:
    """'slab' (x-slabs of equal meshed volume) while every rank gets at least
    ``MIN_SLAB_PLANES`` voxel planes, else 'graph' (DOLFINx's graph partitioner)."""
    return "slab" if num_planes >= MIN_SLAB_PLANES * ranks else "graph"


def run_options(options: RunOptions | None, overrides: dict) -> RunOptions:
    """``options`` (default ``RunOptions()``) with some fields given as keywords."""
    base = options or RunOptions()
    unknown = set(overrides) - set(RunOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown run option(s) {sorted(unknown)}; the options are the "
                        f"fields of RunOptions: {sorted(RunOptions.__dataclass_fields__)}")
    return base.with_(**overrides) if overrides else base


class Simulation:
    """A cathode structure in its virtual cell, meshed, with its cell model.

    Parameters
    ----------
    structure : VoxelStructure
        The cathode's voxel structure (x from separator to collector).
    electrolyte : str or Chemistry
        'solid' (ASSB: CBD becomes SE, dense SE separator) or 'liquid' (LIB: porous CBD
        and separator, concentrated-solution electrolyte), or a ``Chemistry``.
    parameters : Parameters, optional
        The parameter set (default: the built-in one).
    separator_um : float, optional
        Separator thickness in µm (default: the parameter set's).
    refine : int
        Subdivide each voxel into refine³ voxels.
    interface : str, optional
        'smooth' (the default: interface vertices moved onto smooth surfaces; the
        theoretical capacity is then that of the meshed CAM volume) or 'voxel'
        (staircase interfaces).
    voxel_code : bool
        The voxel codes' discretisation (the study's): staircase interfaces and plain
        1 µm elements (``resolution.skin`` off), for like-with-like comparisons. The
        default is the continuum answer: smoothed interfaces and the resolved CAM skin.
    comm : MPI communicator
        All its ranks take part.
    progress : bool
        Report the set-up (memory estimate) on rank 0.

    Raises
    ------
    ConfigError
        An input that does not fit (named in the message), or a cell in which no CAM
        can discharge.
    """

    def __init__(self, structure: VoxelStructure, electrolyte: str | Chemistry = "solid",
                 parameters: Parameters | None = None, separator_um: float | None = None,
                 refine: int = 1, interface: str | None = None,
                 comm: MPI.Comm = MPI.COMM_WORLD, progress: bool = True,
                 voxel_code: bool = False):
        chem = self.chemistry = chemistry(electrolyte)
        p, interface = discretisation(parameters or default_parameters(), interface,
                                      voxel_code)
        chem.check(p)
        if separator_um is not None:
            p = p.updated({"separator": {"thickness_um": separator_um}},
                          "separator thickness (µm)")
        if not (isinstance(refine, int | np.integer) and refine >= 1):
            raise ConfigError(f"refine must be an integer >= 1, got {refine}")
        if interface not in INTERFACES:
            raise ConfigError(f"interface must be one of {', '.join(INTERFACES)}, "
                              f"got '{interface}'")
        self.structure, self.params = structure, p
        self.refine, self.comm, self.interface = int(refine), comm, interface
        cell = self.cell = chem.virtual_cell(structure, p.separator.thickness_um)
        self._check_paths(cell)
        self.theoretical_capacity = structure_capacity(structure, p)  # C/m²
        need = check_memory(int(np.count_nonzero(cell.labels)) * self.refine**3, chem, comm)
        if progress and comm.rank == 0:
            print(f"fem-assb: {need.describe()}", file=sys.stderr, flush=True)
        vm = build_mesh(cell, comm=comm, refine=self.refine,
                        phase_weights=chem.model.phase_weights,
                        partition=mesh_partition(cell.shape[0] * self.refine, comm.size),
                        interface=interface)
        if interface == "smooth":  # the CAM the model holds
            self.theoretical_capacity = theoretical_capacity(
                vm.phase_volume(CAM), cell.cross_section_area, p)
        self.model = chem.model(cell_domains(vm), p, 0.0)
        self.mass_per_area = chem.mass_per_area(cell, p, self.theoretical_capacity)
        self.source = None

    def _check_paths(self, cell) -> None:
        paths = self.chemistry.paths(cell)
        if paths.active_cam == 0:
            raise ConfigError(
                "no CAM has both an electronic path to the current collector (x = Lx) and "
                f"an ionic path to the anode (x = 0): {paths.cam_to_collector} of "
                f"{paths.cam} CAM voxels reach the collector, {paths.ion_to_anode} of "
                f"{paths.ion_conductor} electrolyte voxels the anode ({paths.void} void "
                "voxels); nothing can discharge")
        if self.comm.rank == 0:
            for line in paths.warnings():
                warnings.warn(line, stacklevel=3)

    @classmethod
    def from_mesh(cls, mesh: ImportedMesh | str | Path, electrolyte: str | Chemistry = "solid",
                  parameters: Parameters | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
                  unit: str = "m", progress: bool = True,
                  voxel_code: bool = False) -> Simulation:
        """A cell meshed elsewhere: a tetrahedral mesh with phase tags (a file, read by
        ``fem_assb.mesh.read_mesh`` in ``unit``, or an ``ImportedMesh``), separator
        included if the cell has one; the same cell models run on it. The theoretical
        capacity and the areal mass come from the meshed phase volumes. ``voxel_code``:
        plain elements (``resolution.skin`` off)."""
        chem = chemistry(electrolyte)
        p = discretisation(parameters or default_parameters(), None, voxel_code)[0]
        chem.check(p)
        vm = mesh if isinstance(mesh, ImportedMesh) else read_mesh(mesh, comm, unit)
        self = cls.__new__(cls)
        self.structure, self.cell, self.chemistry, self.params = None, None, chem, p
        self.refine, self.comm, self.interface = 1, vm.comm, vm.interface
        self.source = vm.source
        volumes = [vm.phase_volume(k) for k in range(5)]
        area = vm.lengths[1] * vm.lengths[2]
        self.theoretical_capacity = theoretical_capacity(volumes[CAM], area, p)
        if progress and vm.comm.rank == 0:
            print(f"fem-assb: {vm.source}: {vm.num_cells_global():,} tetrahedra, box "
                  f"{' x '.join(f'{v * 1e6:.4g}' for v in vm.lengths)} µm", file=sys.stderr,
                  flush=True)
        self.model = chem.model(cell_domains(vm), p, 0.0)
        self.mass_per_area = chem.mass_per_area_of_volumes(volumes, area, p,
                                                           self.theoretical_capacity)
        return self

    @property
    def electrolyte(self) -> str:
        return self.chemistry.electrolyte

    @property
    def theoretical_capacity_mAh_cm2(self) -> float:
        return self.theoretical_capacity / MAH_PER_CM2

    # -- runs -----------------------------------------------------------------------
    def run(self, experiment: Experiment | list, options: RunOptions | None = None,
            **option_fields) -> Solution:
        """Run a protocol from rest.

        Parameters
        ----------
        experiment : Experiment, or what makes one
            Step strings, dicts, ``Step``s (see ``fem_assb.Experiment``).
        options : RunOptions, optional
            How the run is carried out; keywords (``output=``, ``progress=``, ...) set
            single fields of it.

        Returns
        -------
        Solution
            The run's numbers, curve and profiles (also written to ``options.output``:
            voltage.csv as it goes, summary.json, profiles.json, parameters.json).

        Raises
        ------
        ConfigError
            A protocol, option or checkpoint that does not fit this run.
        """
        opts = run_options(options, option_fields)
        exp = experiment if isinstance(experiment, Experiment) else Experiment(experiment)
        inputs = RunInputs(self.model, exp, self.theoretical_capacity, self.mass_per_area,
                           opts, self.identity(), self._observers(opts),
                           self._provenance())
        with locked_output(opts.output, self.comm):
            if opts.resume:  # before any file is touched
                verify_resume(inputs)
            self._prepare(opts)
            res = run_protocol(inputs)
            return Solution.of(res, self._profiles(opts))

    def discharge(self, current_density_mA_cm2: float, cutoff_V: float | None = None,
                  max_time_s: float | None = None, options: RunOptions | None = None,
                  **option_fields) -> Solution:
        """A galvanostatic discharge from rest to ``cutoff_V`` (default: the parameter
        set's), or for ``max_time_s``: the one-step protocol.

        Returns
        -------
        Solution
            As ``run``'s; ``stop_reason`` 'voltage_limit' at the cut-off.
        """
        return self.run(Experiment([self.discharge_step(current_density_mA_cm2, cutoff_V,
                                                        max_time_s)]),
                        options, **option_fields)

    def discharge_step(self, current_density_mA_cm2: float, cutoff_V: float | None = None,
                       max_time_s: float | None = None) -> Step:
        """The step "Discharge at I mA/cm² until the cut-off [or for max_time_s]"."""
        if not (np.isfinite(current_density_mA_cm2) and current_density_mA_cm2 > 0):
            raise ConfigError("current density must be a finite value > 0 mA/cm², "
                              f"got {current_density_mA_cm2}")
        if cutoff_V is not None:  # passes the parameter set's validation (range, finite)
            self.params.updated({"operation": {"cutoff_voltage": cutoff_V}},
                                "cut-off voltage (V)")
        cutoff = self.params.operation.cutoff_voltage if cutoff_V is None else cutoff_V
        return Step("discharge", current_mA_cm2=float(current_density_mA_cm2),
                    until_voltage_V=float(cutoff), duration_s=max_time_s)

    def identity(self) -> dict:
        """What a checkpoint of this simulation must match: structure and parameter
        hashes, chemistry, discretisation and code version."""
        soft = provenance.software()
        out = {"structure_sha256": provenance.structure_digest(self.structure)
               if self.structure is not None else None, "mesh": self.source,
               "parameters_sha256": provenance.digest(self.params.model_dump(mode="json")),
               "chemistry": self.chemistry.name, "refine": self.refine,
               "interface": self.interface, "fem_assb_version": soft["fem_assb_version"],
               "git_commit": soft["git_commit"]}
        return out

    def _provenance(self) -> dict:
        out = {**provenance.record(self.params, self.structure, self.comm.size),
               "refine": self.refine, "interface": self.interface,
               "chemistry": self.chemistry.name}
        if self.structure is None:
            out["mesh"] = self.source
        return out

    def _prepare(self, opts: RunOptions) -> None:
        if opts.output is not None and self.comm.rank == 0:
            out = opts.output
            out.mkdir(parents=True, exist_ok=True)
            if not opts.resume:  # an earlier run's results must not pass for this run's
                for name in STALE_OUTPUTS:
                    (out / name).unlink(missing_ok=True)
            (out / "parameters.json").write_text(self.params.model_dump_json(indent=2))

    def _observers(self, opts: RunOptions) -> list:
        if opts.fields_every is None or opts.output is None:
            return []
        from fem_assb.viz.fields import FieldObserver

        return [FieldObserver(self.model, opts.output / "fields", opts.fields_every)]

    def _profiles(self, opts: RunOptions) -> Profiles:
        """The end state's profiles along x (written to profiles.json), the render."""
        xs, util = utilisation_profile(self.model)
        prof = Profiles(x_um=xs, cam_utilisation=util)
        if not self.chemistry.solid_electrolyte:
            prof.electrolyte_x_um, prof.electrolyte_concentration_mol_m3 = \
                electrolyte_profile(self.model)
        if opts.output is not None and self.comm.rank == 0:
            doc = {k: v for k, v in vars(prof).items() if v is not None}
            (opts.output / "profiles.json").write_text(json.dumps(doc))
        if opts.render and opts.output is not None:
            from fem_assb.viz.fields import render_fields

            render_fields(self.model, opts.output / "fields.png")
        return prof


def discretisation(params: Parameters, interface: str | None,
                   voxel_code: bool) -> tuple[Parameters, str]:
    """The parameters and interface of a voxel-structure run: by default smoothed
    interfaces and the resolved CAM skin (the continuum answer); with ``voxel_code``
    the staircase and plain elements (``resolution.skin`` off), as voxel codes."""
    if not voxel_code:
        return params, "smooth" if interface is None else interface
    if interface not in (None, "voxel"):
        raise ConfigError(f"voxel_code means staircase interfaces: interface='{interface}' "
                          "contradicts it")
    return params.updated({"resolution": {"skin": False}}, "voxel code"), "voxel"


def simulation(cathode, electrolyte: str | Chemistry = "solid",
               params: Parameters | None = None, separator_um: float | None = None,
               refine: int = 1, interface: str | None = None,
               comm: MPI.Comm = MPI.COMM_WORLD, progress: bool = True,
               voxel_code: bool = False) -> Simulation:
    """A ``Simulation`` of a voxel structure, or of an imported mesh (``ImportedMesh``:
    used as it is, with no separator, refinement or interface option)."""
    if isinstance(cathode, ImportedMesh):
        if separator_um is not None or refine != 1 or interface is not None:
            raise ConfigError("an imported mesh is used as it is: no separator, "
                              "refinement or interface option applies to it")
        return Simulation.from_mesh(cathode, electrolyte, params, comm, progress=progress,
                                    voxel_code=voxel_code)
    return Simulation(cathode, electrolyte, params, separator_um=separator_um, refine=refine,
                      interface=interface, comm=comm, progress=progress,
                      voxel_code=voxel_code)


def discharge(cathode: VoxelStructure, current_density_mA_cm2: float,
              electrolyte: str | Chemistry = "solid", params: Parameters | None = None,
              cutoff_V: float | None = None, max_time_s: float | None = None,
              separator_um: float | None = None, refine: int = 1,
              interface: str | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
              options: RunOptions | None = None, voxel_code: bool = False,
              **option_fields) -> Solution:
    """Galvanostatic discharge of a cathode structure in a virtual cell.

    Parameters
    ----------
    cathode : VoxelStructure or ImportedMesh
        The cathode (x from separator to collector).
    current_density_mA_cm2 : float
        Applied current density (mA/cm², > 0).
    electrolyte, params, separator_um, refine, interface, comm, voxel_code
        As ``Simulation``'s.
    cutoff_V : float, optional
        Cut-off voltage (default: ``params.operation.cutoff_voltage``).
    max_time_s : float, optional
        Stop after this time (s) even above the cut-off.
    options : RunOptions, optional
        How the run is carried out; keywords set single fields.

    Returns
    -------
    Solution

    Raises
    ------
    ConfigError
        An input that does not fit (named in the message).
    """
    p = params or default_parameters()
    if cutoff_V is not None:  # the cut-off passes the parameter set's validation
        p = p.updated({"operation": {"cutoff_voltage": cutoff_V}}, "cut-off voltage (V)")
    opts = run_options(options, option_fields)
    sim = simulation(cathode, electrolyte, p, separator_um, refine, interface, comm,
                     opts.progress, voxel_code)
    return sim.discharge(current_density_mA_cm2, None, max_time_s, opts)


def run(cathode: VoxelStructure, experiment: Experiment | list,
        electrolyte: str | Chemistry = "solid",
        params: Parameters | None = None, separator_um: float | None = None,
        refine: int = 1, interface: str | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
        options: RunOptions | None = None, voxel_code: bool = False,
        **option_fields) -> Solution:
    """Run a protocol on a cathode structure in a virtual cell (the CLI's ``run``).

    Parameters
    ----------
    experiment : Experiment, or what makes one
        The protocol steps.
    electrolyte, params, separator_um, refine, interface, comm, options, voxel_code
        As ``discharge``'s.

    Returns
    -------
    Solution
    """
    opts = run_options(options, option_fields)
    sim = simulation(cathode, electrolyte, params, separator_um, refine, interface, comm,
                     opts.progress, voxel_code)
    return sim.run(experiment, opts)
