"""Smoothed phase interfaces (fem_assb.mesh.smoothing): the area of a voxelised sphere,
element quality, partition independence, planes kept, conductivity of a sphere array
against Rayleigh's result, and the single-particle limit without any area correction."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from spm_reference import sphere_discharge_voltage

import fem_assb
from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity
from fem_assb.cli import main
from fem_assb.materials import default_parameters
from fem_assb.mesh import build_mesh, tags
from fem_assb.mesh.smoothing import MIN_QUALITY, refine_smooth, vertex_displacement
from fem_assb.physics.chemistry import chemistry
from fem_assb.protocol.control import StepControl
from fem_assb.simulation import discharge
from fem_assb.structure import (
    CAM,
    ELECTROLYTE,
    VoxelStructure,
    save_structure,
    voxelise_spheres,
)


def _ball(n: int, radius: float, centre=None) -> np.ndarray:
    """CAM voxels whose centres lie within ``radius`` (voxels) of ``centre``, SE around."""
    c = np.full(3, n / 2) if centre is None else np.asarray(centre, dtype=float)
    i = np.indices((n, n, n)) + 0.5
    r2 = sum((i[k] - c[k]) ** 2 for k in range(3))
    return np.where(r2 <= radius**2, CAM, ELECTROLYTE).astype(np.uint8)


def test_sphere_area_volume_and_quality():
    """A voxelised sphere of radius 8 voxels: the staircase has +55 % area; smoothed,
    within 5 % of 4πr², the voxels' CAM volume kept to 2 %, every tetrahedron positive."""
    r = 8.0
    labels = _ball(22, r)
    s = VoxelStructure(labels, 1e-6)
    sphere = 4 * np.pi * (r * 1e-6) ** 2
    vox = build_mesh(s, comm=MPI.COMM_SELF)
    assert vox.facet_area(tags.CAM_ELECTROLYTE) / sphere > 1.45
    sm = build_mesh(s, comm=MPI.COMM_SELF, interface="smooth")
    assert sm.interface == "smooth"
    assert sm.facet_area(tags.CAM_ELECTROLYTE) / sphere == pytest.approx(1.0, abs=0.05)
    v_vox = np.count_nonzero(labels == CAM) * 1e-18
    assert sm.phase_volume(CAM) == pytest.approx(v_vox, rel=0.02)
    assert sm.phase_volume(CAM) + sm.phase_volume(ELECTROLYTE) == pytest.approx(
        labels.size * 1e-18, rel=1e-12)  # the box is filled, nothing overlaps
    assert sm.min_cell_quality() >= MIN_QUALITY
    assert vox.min_cell_quality() == pytest.approx(0.7559526, abs=1e-6)  # Kuhn tetrahedra


def test_displacement_does_not_depend_on_the_planes_asked_for():
    """What makes ghost vertices move as their owners: any range of vertex planes gives
    the same displacements (three materials, a separator)."""
    from fem_assb.structure import homogeneous

    s = homogeneous(size_um=(30, 12, 12), voxel_size_um=1.0, cam_fraction=0.6,
                    cbd_fraction=0.15, mean_diameter_um=5.0, diameter_std_um=1.0, seed=3)
    cell = chemistry("liquid").virtual_cell(s, 4.0)
    nx = cell.labels.shape[0]
    whole = vertex_displacement(cell.labels, (0, nx + 1))
    assert np.abs(whole).max() > 0.1 and np.abs(whole).max() <= 0.5
    parts = [vertex_displacement(cell.labels, (a, b))
             for a, b in ((0, 5), (5, 17), (17, 18), (18, nx + 1))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # box faces and the separator's plane stay planes
    assert np.all(whole[0, ..., 0] == 0) and np.all(whole[-1, ..., 0] == 0)
    assert np.all(whole[:, 0, :, 1] == 0) and np.all(whole[:, :, -1, 2] == 0)
    assert np.all(whole[4, ..., 0] == 0)  # the separator | cathode plane (4 µm)


@pytest.mark.mpi
def test_smoothed_cell_mesh_serial_equals_parallel(small_assb):
    """The same smoothed mesh on 1 and N ranks: areas (the facets' and the surface's they
    stand for), volumes, quality; the tags and the box faces are those of the voxel mesh."""
    cell = chemistry("solid").virtual_cell(small_assb, 3.0)
    out = {}
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        vm = build_mesh(cell, comm=comm, interface="smooth")
        out[comm.size] = [vm.facet_area(t) for t in (tags.CAM_ELECTROLYTE, tags.CAM_SEPARATOR,
                                                     tags.X0, tags.X1, tags.Y0, tags.Z1)] \
            + [vm.surface_area(tags.CAM_ELECTROLYTE), vm.surface_area(tags.CAM_SEPARATOR)] \
            + [vm.phase_volume(CAM), vm.min_cell_quality(), vm.num_cells_global()]
    np.testing.assert_allclose(out[MPI.COMM_WORLD.size], out[1], rtol=1e-12)
    ly, lz = cell.lengths[1:]
    area = out[1][:6]
    assert area[2] == pytest.approx(ly * lz, rel=1e-12)  # x = 0: a plane still
    assert area[3] == pytest.approx(ly * lz, rel=1e-12)
    assert area[4] == pytest.approx(cell.lengths[0] * lz, rel=1e-12)
    vox = build_mesh(cell, comm=MPI.COMM_SELF)
    assert area[0] < 0.8 * vox.facet_area(tags.CAM_ELECTROLYTE)
    assert out[1][-1] == vox.num_cells_global()
    # conduction and a discharge on it: the same on 1 and N ranks
    sig = [effective_conductivity(small_assb, "electrolyte", method="fem", interface="smooth",
                                  comm=comm).relative_conductivity
           for comm in (MPI.COMM_WORLD, MPI.COMM_SELF)]
    assert sig[0] == pytest.approx(sig[1], rel=1e-8)
    kw = dict(params=default_parameters(), separator_um=3.0, progress=False, cutoff_V=3.6,
              control=StepControl(max_fraction=0.05), interface="smooth")
    par, ser = (discharge(small_assb, 8.0, comm=comm, **kw)
                for comm in (MPI.COMM_WORLD, MPI.COMM_SELF))
    assert par.time_steps == ser.time_steps
    assert par.capacity_mAh_cm2 == pytest.approx(ser.capacity_mAh_cm2, rel=1e-8)
    assert par.theoretical_capacity_mAh_cm2 == pytest.approx(ser.theoretical_capacity_mAh_cm2,
                                                             rel=1e-12)
    assert par.lithium_balance_error < 1e-8


def test_sphere_array_conductivity_matches_rayleigh():
    """A simple cubic array of CAM spheres (one per 20³ cell, radius 7 voxels): on the
    smoothed mesh the SE's σ_eff is the array's (Rayleigh/Maxwell, 1 − 3φ/(2 + φ), exact
    to O(φ^10/3) ≈ 0.1 % here) for the volume fraction the mesh holds, within 0.3 %; the
    voxel finite volumes (TauFactor's convention) are 3 % lower."""
    labels = _ball(20, 7.0)
    s = VoxelStructure(labels, 1e-6)
    sm = effective_conductivity(s, "electrolyte", method="fem", interface="smooth",
                                comm=MPI.COMM_SELF)
    assert sm.interface == "smooth" and sm.method == "fem"
    phi = build_mesh(s, comm=MPI.COMM_SELF, interface="smooth").phase_volume(CAM) / 8e-15
    rayleigh = 1 - 3 * phi / (2 + phi)
    assert sm.relative_conductivity == pytest.approx(rayleigh, rel=3e-3)
    fv = effective_conductivity(s, "electrolyte", method="fv", comm=MPI.COMM_SELF)
    phi_v = np.count_nonzero(labels == CAM) / labels.size
    assert fv.relative_conductivity < 0.98 * (1 - 3 * phi_v / (2 + phi_v))
    with pytest.raises(Exception, match="needs method 'fem'"):
        effective_conductivity(s, "electrolyte", method="bracket", interface="smooth")


def _packing(seed, box, radii, count):
    rng = np.random.default_rng(seed)
    cent, rad = [], []
    while len(cent) < count:
        c, r = rng.random(3) * np.asarray(box), rng.uniform(*radii)
        if all(np.linalg.norm(c - c2) > 0.75 * (r + r2)
               for c2, r2 in zip(cent, rad, strict=True)):
            cent.append(c)
            rad.append(r)
    return np.array(cent), np.array(rad)


def test_sphere_packing_conductivity_closer_to_the_spheres_than_the_staircase():
    """Random packings of ten overlapping spheres (radius 4–5.5 voxels, the study's
    particles at 1 µm), pore phase along x. The spheres' own value: the same spheres
    voxelised at 1/2 and 1/3 of the voxel, extrapolated (FEM as second order, FV as
    first: the two agree to 1 %). At the voxel size itself the staircase FEM is biased
    low (measured −4.2, −1.5, −2.7 %), the smoothed mesh is not (−1.4, +2.7, +1.3 %) and
    is closer on average; the voxel FV is 13–15 % low."""
    box = (20.0, 16.0, 16.0)
    err = {"fv": [], "fem": [], "smooth": []}
    for seed in range(3):
        cent, rad = _packing(seed, box, (4.0, 5.5), 10)
        val = {}
        for n in (1, 2, 3):
            s = voxelise_spheres(cent, rad, box, 1.0 / n)
            for m in ("fv", "fem"):
                val[m, n] = effective_conductivity(s, "electrolyte", method=m,
                                                   solver="iterative",
                                                   comm=MPI.COMM_SELF).relative_conductivity
        fem_ext = val["fem", 3] + (val["fem", 3] - val["fem", 2]) * (1 / 9) / (1 / 4 - 1 / 9)
        fv_ext = val["fv", 3] + 2.0 * (val["fv", 3] - val["fv", 2])
        assert fem_ext == pytest.approx(fv_ext, rel=0.01)
        ref = 0.5 * (fem_ext + fv_ext)
        smooth = effective_conductivity(voxelise_spheres(cent, rad, box, 1.0),
                                        "electrolyte", method="fem", interface="smooth",
                                        comm=MPI.COMM_SELF).relative_conductivity
        for key, v in (("fv", val["fv", 1]), ("fem", val["fem", 1]), ("smooth", smooth)):
            err[key].append(v / ref - 1)
    mean = {k: np.mean(v) for k, v in err.items()}
    mean_abs = {k: np.mean(np.abs(v)) for k, v in err.items()}
    assert mean["fem"] < -0.015 and mean["fv"] < -0.1  # the staircase's bias
    assert abs(mean["smooth"]) < 0.015
    assert mean_abs["smooth"] < mean_abs["fem"]


def test_refine_smooth_follows_the_smooth_surface():
    """Sub-voxels of a refined smooth mesh follow the sphere, not the coarse staircase:
    their staircase area stays that of a voxelised sphere, and the smoothed refined mesh
    keeps the sphere's area (the refined staircase alone would keep the coarse one)."""
    r = 6.0
    labels = _ball(16, r)
    fine = refine_smooth(labels, 2)
    assert fine.shape == (32, 32, 32)
    # the sub-voxels of a sphere of 12 (fine) voxels, to a few per cent of its volume
    assert np.count_nonzero(fine == CAM) / 8 == pytest.approx(4 / 3 * np.pi * r**3, rel=0.04)
    sm = build_mesh(VoxelStructure(labels, 1e-6), comm=MPI.COMM_SELF, refine=2,
                    interface="smooth")
    assert sm.facet_area(tags.CAM_ELECTROLYTE) / (4 * np.pi * (r * 1e-6) ** 2) == \
        pytest.approx(1.0, abs=0.05)


FAST = {"cam": {"diffusivity_solid": 1e-14, "conductivity": 1e2},
        "solid_electrolyte": {"conductivity": 1e2}}


def test_single_particle_limit_without_area_correction():
    """An octant of a voxelised 7 µm sphere (radius 12 voxels) at the collector corner,
    discharged at 1C to 85 %: with smoothed interfaces the voltage follows an independent
    1D spherical-diffusion SPM of the sphere of the mesh's volume, with the sphere's own
    area and no correction, within 5 mV over 2–85 % of the capacity. The staircase (50 %
    more area, so a lower kinetic overpotential) is > 15 mV off the same reference."""
    n, radius = 15, 12.0
    h = 7e-6 / radius
    labels = _ball(n, radius, centre=(n, 0, 0))
    p = default_parameters().updated(FAST)
    ctl = StepControl(initial_fraction=1e-3, max_fraction=0.02, max_voltage_step=0.02,
                      max_relative=0.2)
    err = {}
    for interface in ("smooth", "voxel"):
        sim = fem_assb.Simulation(VoxelStructure(labels, h), "solid", p, separator_um=2.0,
                                  comm=MPI.COMM_SELF, progress=False, interface=interface)
        q = sim.theoretical_capacity_mAh_cm2
        sol = sim.run([f"Discharge at 1C until {0.85 * q:.6f} mAh/cm2"], control=ctl,
                      progress=False)
        c = sol.curve.as_dict()
        assert c["capacity_mAh_cm2"][-1] == pytest.approx(0.85 * q, rel=1e-5)
        t, v = np.array(c["time_s"]), np.array(c["voltage_V"])
        frac = np.array(c["capacity_mAh_cm2"]) / q
        radius_eq = (6 * sim.model.doms.vm.phase_volume(CAM) / np.pi) ** (1 / 3)
        current = sim.theoretical_capacity / 3600.0  # 1C, A/m²
        ref = sphere_discharge_voltage(p, radius_eq, 4 * np.pi * radius_eq**2,
                                       8 * current * (n * h) ** 2, current,
                                       sim.cell.lengths[0] - n * h, t)
        keep = (frac >= 0.02) & (frac <= 0.85)
        assert keep.sum() > 20
        err[interface] = np.abs(v - ref)[keep].max()
    assert err["smooth"] < 5e-3
    assert err["voxel"] > 15e-3


def test_cli_mesh_json(tmp_path, small_assb):
    path = tmp_path / "s.npz"
    save_structure(small_assb, path)
    out = {}
    for interface in ("voxel", "smooth"):
        png = tmp_path / f"{interface}.png"
        res = CliRunner().invoke(main, ["mesh", str(path), "--interface", interface, "-o",
                                        str(tmp_path / f"{interface}.xdmf"), "--json",
                                        "--png", str(png)])
        assert res.exit_code == 0, res.output
        out[interface] = json.loads(res.output)
        assert (tmp_path / f"{interface}.xdmf").is_file()
        assert png.stat().st_size > 10_000 and out[interface]["png"] == str(png)
    for key in ("num_cells", "num_vertices", "interface_area_m2", "min_cell_quality"):
        assert key in out["smooth"]
    assert out["smooth"]["num_cells"] == out["voxel"]["num_cells"] == 6 * small_assb.labels.size
    assert out["smooth"]["interface_area_m2"] < 0.8 * out["voxel"]["interface_area_m2"]
    assert out["smooth"]["min_cell_quality"] >= MIN_QUALITY
    bad = CliRunner().invoke(main, ["mesh", str(path), "--interface", "round", "-o", "x.xdmf"])
    assert bad.exit_code == 2 and "round" in bad.output
