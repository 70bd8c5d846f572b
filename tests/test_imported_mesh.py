"""Imported cell meshes (fem_assb.mesh.imported) and exact-geometry cells made with gmsh
(fem_assb.mesh.gmsh_shapes): the cell model on a mesh made elsewhere."""

import meshio
import numpy as np
import pytest
from click.testing import CliRunner
from spm_reference import sphere_discharge_voltage

from fem_assb._dolfinx import MPI
from fem_assb.cli import main
from fem_assb.materials import default_parameters
from fem_assb.mesh import build_mesh, tags
from fem_assb.mesh.gmsh_shapes import particle_cell
from fem_assb.mesh.imported import MeshImportError, read_mesh
from fem_assb.physics.chemistry import chemistry
from fem_assb.protocol.control import StepControl
from fem_assb.simulation import Simulation
from fem_assb.structure import CAM

FAST = {"cam": {"diffusivity_solid": 1e-14, "conductivity": 1e2},
        "solid_electrolyte": {"conductivity": 1e2}}
CTL = StepControl(initial_fraction=1e-3, max_fraction=0.02, max_voltage_step=0.02,
                  max_relative=0.2)


@pytest.fixture(scope="module")
def particle_msh(tmp_path_factory):
    """A gmsh octant of a 7 µm sphere in a 10 µm box behind a 2 µm separator (µm)."""
    path = tmp_path_factory.mktemp("gmsh") / "particle.msh"
    if MPI.COMM_WORLD.rank == 0:
        particle_cell(path, radius_um=7.0, box_um=10.0, separator_um=2.0,
                      surface_size_um=0.5, bulk_size_um=2.0)
    return MPI.COMM_WORLD.bcast(path, root=0)


def _voxel_cell_as_vtu(structure, path):
    """The voxel mesh of a virtual cell written by meshio, phases as cell data."""
    cell = chemistry("solid").virtual_cell(structure, 3.0)
    vm = build_mesh(cell, comm=MPI.COMM_SELF)
    x = vm.mesh.geometry.x
    cells = vm.mesh.geometry.dofmaps[0]
    meshio.write(path, meshio.Mesh(x, [("tetra", cells)],
                                   cell_data={"phase": [vm.cell_tags.values]}))
    return cell


def test_gmsh_particle_has_the_sphere_area_and_volume(particle_msh):
    vm = read_mesh(particle_msh, comm=MPI.COMM_SELF, unit="um")
    r = 7e-6
    assert vm.lengths == pytest.approx((12e-6, 10e-6, 10e-6), rel=1e-12)
    assert vm.separator_thickness == pytest.approx(2e-6, rel=1e-12)
    assert vm.facet_area(tags.CAM_ELECTROLYTE) / (np.pi * r**2 / 2) == pytest.approx(1, abs=0.01)
    assert vm.phase_volume(CAM) / (np.pi * r**3 / 6) == pytest.approx(1, abs=0.01)
    assert vm.facet_area(tags.X1) == pytest.approx(1e-10, rel=1e-9)  # the collector face
    assert vm.min_cell_quality() > 0.1


def test_gmsh_particle_follows_the_single_particle_model(particle_msh):
    """The exact sphere (gmsh, no voxels), discharged at 1C to 85 %: the voltage of an
    independent 1D spherical-diffusion SPM with the sphere's own area, within 5 mV over
    2–85 % of the capacity; lithium conserved."""
    p = default_parameters().updated(FAST)
    sim = Simulation.from_mesh(particle_msh, "solid", p, comm=MPI.COMM_SELF, unit="um",
                               progress=False)
    q = sim.theoretical_capacity_mAh_cm2
    sol = sim.run([f"Discharge at 1C until {0.85 * q:.6f} mAh/cm2"], control=CTL,
                  progress=False)
    assert sol.lithium_balance_error < 1e-8
    c = sol.curve.as_dict()
    t, v = np.array(c["time_s"]), np.array(c["voltage_V"])
    frac = np.array(c["capacity_mAh_cm2"]) / q
    vm = sim.model.doms.vm
    r_eq = (6 * vm.phase_volume(CAM) / np.pi) ** (1 / 3)
    current = sim.theoretical_capacity / 3600.0
    ref = sphere_discharge_voltage(p, r_eq, 4 * np.pi * r_eq**2,
                                   8 * current * vm.lengths[1] * vm.lengths[2], current,
                                   vm.separator_thickness, t)
    keep = (frac >= 0.02) & (frac <= 0.85)
    assert keep.sum() > 20
    assert np.abs(v - ref)[keep].max() < 5e-3
    # the profile along x of an imported mesh: slices of the mean cell size
    x = np.array(sol.profiles.x_um)
    assert x[0] > 0 and x[-1] < 10.0


def test_imported_voxel_mesh_discharges_as_the_voxel_cell(tmp_path, small_assb):
    """A voxel cell written by meshio (.vtu, phases as cell data) and read back gives the
    discharge of the voxel cell itself (another numbering, partition and code path)."""
    path = tmp_path / "cell.vtu"
    _voxel_cell_as_vtu(small_assb, path)
    p = default_parameters()
    kw = dict(control=StepControl(max_fraction=0.05), progress=False)
    imp = Simulation.from_mesh(path, "solid", p, comm=MPI.COMM_SELF, progress=False)
    vox = Simulation(small_assb, "solid", p, separator_um=3.0, interface="voxel",
                     comm=MPI.COMM_SELF, progress=False)  # the staircase it was written as
    assert imp.theoretical_capacity == pytest.approx(vox.theoretical_capacity, rel=1e-12)
    assert imp.mass_per_area == pytest.approx(vox.mass_per_area, rel=1e-12)
    a = imp.discharge(2.0, cutoff_V=3.6, **kw)
    b = vox.discharge(2.0, cutoff_V=3.6, **kw)
    assert a.time_steps == b.time_steps
    assert a.capacity_mAh_cm2 == pytest.approx(b.capacity_mAh_cm2, rel=1e-8)
    assert a.energy_mWh_cm2 == pytest.approx(b.energy_mWh_cm2, rel=1e-8)


@pytest.mark.mpi
def test_imported_mesh_serial_equals_parallel(particle_msh):
    p = default_parameters().updated(FAST)
    out = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        sim = Simulation.from_mesh(particle_msh, "solid", p, comm=comm, unit="um",
                                   progress=False)
        sol = sim.run(["Discharge at 2C for 4 minutes", "Rest for 4 minutes"],
                      control=CTL, progress=False)
        out.append(sol)
    par, ser = out
    assert par.time_steps == ser.time_steps
    for a, b in zip(par.steps, ser.steps, strict=True):
        assert a.end_voltage_V == pytest.approx(b.end_voltage_V, abs=1e-7)
        assert a.capacity_mAh_cm2 == pytest.approx(b.capacity_mAh_cm2, rel=1e-7)


def _write(path, points, cells, data=None, field_data=None):
    m = meshio.Mesh(points, [("tetra", cells)],
                    cell_data={"phase": [data]} if data is not None else {})
    if field_data:
        m.field_data = field_data
    meshio.write(path, m)
    return path


def test_bad_meshes_get_one_line_errors(tmp_path, small_assb):
    good = tmp_path / "good.vtu"
    _voxel_cell_as_vtu(small_assb, good)
    m = meshio.read(good)
    pts, cells, ph = m.points, m.cells[0].data, m.cell_data["phase"][0]
    cases = {
        "no cell tags": _write(tmp_path / "a.vtu", pts, cells),
        "not a phase": _write(tmp_path / "b.vtu", pts, cells, np.where(ph == 2, 9, ph)),
        "do not fill their bounding box": _write(tmp_path / "c.vtu", pts, cells[6:], ph[6:]),
        "degenerate": _write(tmp_path / "d.vtu", pts,
                             np.vstack([cells, cells[:1, [0, 1, 2, 2]]]),
                             np.append(ph, ph[0])),
        "no cell of phase 'cam'": _write(tmp_path / "e.vtu", pts, cells,
                                         np.where(ph == CAM, 2, ph)),
        "are its coordinates in": _write(tmp_path / "f.vtu", pts * 1e6, cells, ph),
        "no such file": tmp_path / "missing.msh",
    }
    # an interior vertex pushed through its neighbours: tangled (inverted) cells overlap
    moved = pts.copy()
    inner = np.flatnonzero(np.all((pts > 1.5e-6) & (pts < pts.max(axis=0) - 1.5e-6), axis=1))
    moved[inner[0], 0] += 2.5e-6
    cases["inverted or overlapping"] = _write(tmp_path / "g.vtu", moved, cells, ph)
    for text, path in cases.items():
        with pytest.raises(MeshImportError, match=text):
            read_mesh(path, comm=MPI.COMM_SELF)
        res = CliRunner().invoke(main, ["discharge", str(path), "--electrolyte", "solid",
                                        "--current-density", "1"])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert res.output.strip().splitlines()[-1].startswith("Error:"), res.output
    with pytest.raises(MeshImportError, match="mesh unit must be one of"):
        read_mesh(good, comm=MPI.COMM_SELF, unit="inch")
    # options that do not apply to an imported mesh are refused, not ignored
    res = CliRunner().invoke(main, ["discharge", str(good), "--electrolyte", "solid",
                                    "--current-density", "1", "--refine", "2"])
    assert res.exit_code != 0 and "imported mesh is used as it is" in res.output
