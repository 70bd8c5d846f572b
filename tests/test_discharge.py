"""ASSB discharge: conservation, limit cases against an independent 1D solution, film,
refinement, bad input, serial = parallel."""

import numpy as np
import pytest
from spm_reference import slab_voltage

from fem_assb._dolfinx import MPI
from fem_assb.errors import ConfigError
from fem_assb.materials import default_parameters, structure_capacity_mAh_cm2
from fem_assb.protocol.control import StepControl
from fem_assb.simulation import discharge
from fem_assb.structure import CAM, ELECTROLYTE, StructureError, VoxelStructure

FAST = {"cam": {"diffusivity_solid": 1e-14, "conductivity": 1e2},
        "solid_electrolyte": {"conductivity": 1e2}}


def _slab(thickness_um=4):
    return VoxelStructure(np.full((thickness_um, 1, 1), CAM, np.uint8), 1e-6)


def _slab_run(params, current_mA=2.0, refine=6, max_fraction=0.004, **kw):
    ctl = StepControl(initial_fraction=1e-3, max_fraction=max_fraction, max_voltage_step=0.02,
                      max_relative=0.2)  # resolves the √t start-up transient
    return discharge(_slab(), current_mA, params=params, separator_um=2.0, refine=refine,
                     control=ctl, progress=False, comm=MPI.COMM_SELF, **kw)


@pytest.fixture(scope="module")
def slab_result():
    return _slab_run(default_parameters().updated(FAST))


def test_slab_matches_1d_reference(slab_result):
    r = slab_result
    p = default_parameters().updated(FAST)
    t = np.array(r.curve.time_s)
    v = np.array(r.curve.voltage_V)
    t_ref, v_ref = slab_voltage(p, 4e-6, 20.0, 2e-6, t[-2], times=t[1:-1], n=800)
    err = np.abs(v[1:-1] - v_ref)
    # after the √t surface layer of the first 2 % (15 s), before the near-vertical drop
    # at surface saturation (where a time shift of 0.1 s is worth volts)
    keep = (v_ref > 3.45) & (t_ref > 0.02 * t[-1])
    assert keep.sum() > 30
    assert err[keep].max() < 5e-3
    assert err[0] < 1e-2  # 0.7 s after switching on: limited by the surface layer
    assert r.capacity_mAh_cm2 == pytest.approx(0.1447, rel=0.01)
    # conservation at every step
    assert r.max_charge_balance_error < 1e-8
    assert r.lithium_balance_error < 1e-8


def test_film_adds_ohmic_drop():
    p = default_parameters().updated({**FAST, "film": {"thickness_nm": 10.0,
                                                       "conductivity": 1e-5}})
    r, ref = _slab_run(p, refine=2), _slab_run(default_parameters().updated(FAST), refine=2)
    r_f = 10e-9 / 1e-5
    t0, v0 = np.array(ref.curve.time_s), np.array(ref.curve.voltage_V)
    t1, v1 = np.array(r.curve.time_s), np.array(r.curve.voltage_V)
    # after the reference's first step (no interpolation across the jump at t = 0)
    mid = (t1 >= t0[1]) & (t1 < 0.6 * t0[-1])
    drop = np.interp(t1[mid], t0, v0) - v1[mid]
    assert np.allclose(drop, 20.0 * r_f, atol=2e-3)  # i R_f = 20 A/m² · 1e-3 Ω m² = 20 mV


def test_low_rate_reaches_theoretical_capacity():
    p = default_parameters().updated({**FAST, "cam": {"diffusivity_solid": 3.5e-16,
                                                      "conductivity": 1e2}})
    q = structure_capacity_mAh_cm2(_slab(2), p)
    r = discharge(_slab(2), q / 50, params=p, separator_um=2.0, progress=False,
                  comm=MPI.COMM_SELF)
    assert r.capacity_mAh_cm2 >= 0.97 * r.theoretical_capacity_mAh_cm2
    assert r.lithium_balance_error < 1e-8


def test_time_step_halving_changes_capacity_little():
    p = default_parameters().updated(FAST)
    a = _slab_run(p, refine=2, max_fraction=0.02)
    b = _slab_run(p, refine=2, max_fraction=0.01)
    assert abs(a.capacity_mAh_cm2 / b.capacity_mAh_cm2 - 1) < 0.01


def test_bad_input_is_named():
    p = default_parameters()
    with pytest.raises(ConfigError, match="linear solver"):
        discharge(_slab(), 1.0, params=p, linear="cholesky", progress=False,
                  comm=MPI.COMM_SELF)
    with pytest.raises(ConfigError, match="rest voltage"):
        discharge(_slab(), 1.0, params=p, cutoff_V=4.4, progress=False, comm=MPI.COMM_SELF)
    with pytest.raises(ConfigError, match="current density"):
        discharge(_slab(), 0.0, params=p, progress=False, comm=MPI.COMM_SELF)
    cut = np.full((4, 2, 2), ELECTROLYTE, np.uint8)
    cut[0] = CAM  # CAM far from the collector
    with pytest.raises(StructureError, match="collector"):
        discharge(VoxelStructure(cut, 1e-6), 1.0, progress=False, comm=MPI.COMM_SELF)
    gap = np.full((4, 2, 2), CAM, np.uint8)
    gap[0] = 0  # a void plane between separator and CAM: no CAM|SE contact
    with pytest.raises(ConfigError, match="no CAM has both an electronic path"):
        discharge(VoxelStructure(gap, 1e-6), 1.0, progress=False, comm=MPI.COMM_SELF)


@pytest.mark.mpi
@pytest.mark.parametrize("partition", ["slab", "graph"])
def test_serial_equals_parallel(small_assb, partition, monkeypatch):
    """Same discharge on 1 and N ranks, with x-slabs and with the graph partitioner
    (what thin slabs on many ranks switch to)."""
    import fem_assb.simulation as sim

    if partition == "graph":  # as if the slabs were thinner than MIN_SLAB_PLANES
        monkeypatch.setattr(sim, "MIN_SLAB_PLANES", 10**6)
    assert sim.mesh_partition(small_assb.shape[0], 2) == partition
    ctl = StepControl(max_fraction=0.05)
    # cut-off at 3.6 V: the steep end of the curve adds cost, not coverage
    kw = dict(params=default_parameters(), separator_um=3.0, control=ctl, progress=False,
              cutoff_V=3.6)
    par = discharge(small_assb, 8.0, comm=MPI.COMM_WORLD, **kw)
    ser = discharge(small_assb, 8.0, comm=MPI.COMM_SELF, **kw)
    assert par.time_steps == ser.time_steps
    assert par.capacity_mAh_cm2 == pytest.approx(ser.capacity_mAh_cm2, rel=1e-8)
    assert par.energy_mWh_cm2 == pytest.approx(ser.energy_mWh_cm2, rel=1e-8)
    assert par.max_charge_balance_error < 1e-8 and par.lithium_balance_error < 1e-8
    # the utilisation profile (a per-plane reduction over ranks) is the same too
    prof = [np.array(r.profiles.cam_utilisation, dtype=float) for r in (par, ser)]
    np.testing.assert_allclose(prof[0], prof[1], rtol=1e-7)


def test_mesh_refinement_converges():
    p = default_parameters().updated(FAST)
    caps = [_slab_run(p, refine=k, max_fraction=0.01).capacity_mAh_cm2 for k in (1, 2, 4)]
    d1, d2 = abs(caps[1] - caps[0]), abs(caps[2] - caps[1])
    assert d2 < 0.6 * d1 and d2 / caps[2] < 0.01


def test_cli_discharge_json(tmp_path):
    import json

    from click.testing import CliRunner

    from fem_assb.cli import main

    np.save(tmp_path / "slab.npy", np.full((3, 1, 1), CAM, np.uint8))
    args = ["discharge", str(tmp_path / "slab.npy"), "--voxel-size", "1e-6", "--electrolyte",
            "solid", "--current-density", "1", "--separator-um", "2", "-o",
            str(tmp_path / "out"), "--fields-every", "0", "--json"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    for key in ("capacity_mAh_cm2", "theoretical_capacity_mAh_cm2", "energy_mWh_cm2",
                "energy_density_Wh_kg", "mean_voltage_V", "end_voltage_V", "steps",
                "newton_iterations", "wall_time_s"):
        assert key in res
    assert 0 < res["capacity_mAh_cm2"] <= res["theoretical_capacity_mAh_cm2"]
    # CAM utilisation profile: its CAM-weighted mean is the delivered share of the
    # theoretical capacity (Li balance; every plane of the slab holds the same CAM)
    prof = json.loads((tmp_path / "out" / "profiles.json").read_text())
    assert len(prof["x_um"]) == 3 * 1  # one value per voxel plane of the cathode
    assert np.mean(prof["cam_utilisation"]) == pytest.approx(
        res["state_capacity_mAh_cm2"] / res["theoretical_capacity_mAh_cm2"], rel=1e-8)
    assert prof["cam_utilisation"][0] > prof["cam_utilisation"][-1]  # separator side first
    rows = (tmp_path / "out" / "voltage.csv").read_text().splitlines()
    assert rows[0].startswith("time_s,capacity_mAh_cm2,voltage_V") and len(rows) > 10
    assert any((tmp_path / "out" / "fields" / "cam.bp").iterdir())
    bad = CliRunner().invoke(main, args[:-1] + ["--cutoff", "4.5"])
    assert bad.exit_code == 2 and "rest voltage" in bad.output
    (tmp_path / "p.toml").write_text("[cam]\nc_mx = 1\n")
    bad = CliRunner().invoke(main, args + ["--parameters", str(tmp_path / "p.toml")])
    assert bad.exit_code == 2 and "cam.c_mx" in bad.output


def test_conductivity_scale_does_not_change_convergence():
    """A single particle in its electrolyte with σ_s = σ_e = 1 or 1e4 S/m: both reach the
    cut-off with the same steps and Newton iterations within 10 % (every equation is a
    current in amperes and the potentials are deviations from the cell voltage, so a
    stiff conductor does not scale the residual; σ = 1e3 once never converged)."""
    n = 10
    z, y, x = np.meshgrid(*(np.arange(n) + 0.5,) * 3, indexing="ij")
    labels = np.full((n, n, n), ELECTROLYTE, np.uint8)
    labels[(x - n / 2) ** 2 + (y - n / 2) ** 2 + (z - n / 2) ** 2 < (0.45 * n) ** 2] = CAM
    labels[-1] = CAM  # contact to the collector
    s = VoxelStructure(labels, 1e-6)
    runs = []
    for sigma in (1.0, 1e4):
        p = default_parameters().updated({"cam": {"conductivity": sigma},
                                          "solid_electrolyte": {"conductivity": sigma}})
        # (the voxel code's discretisation: with the resolved skin this particle's
        # surface saturates within the first step at 8 mA/cm²)
        runs.append(discharge(s, 8.0, params=p, separator_um=3.0, progress=False,
                              comm=MPI.COMM_SELF, voxel_code=True))
    low, high = runs
    assert low.stop_reason == high.stop_reason == "voltage_limit"
    assert abs(high.newton_iterations - low.newton_iterations) <= 0.1 * low.newton_iterations
    assert high.time_steps == low.time_steps
    # at 8 mA/cm² this particle is limited by solid diffusion, not by conduction
    assert high.capacity_mAh_cm2 == pytest.approx(low.capacity_mAh_cm2, rel=1e-2)


def test_disconnected_structures_are_named():
    """A void plane that cuts every CAM path: a clear error with the counts, before any
    meshing; a CAM island without a path to the collector: a warning with its share,
    and the run goes on."""
    from fem_assb.structure import homogeneous, to_solid_electrolyte

    s = to_solid_electrolyte(homogeneous(size_um=(10, 8, 8), mean_diameter_um=4,
                                         cam_fraction=0.6, cbd_fraction=0.0))
    cut = s.labels.copy()
    cut[5] = 0
    with pytest.raises(ConfigError, match="no CAM has both an electronic path"):
        discharge(VoxelStructure(cut, 1e-6), 8.0, separator_um=3.0, progress=False,
                  comm=MPI.COMM_SELF)
    island = s.labels.copy()
    island[2:4] = ELECTROLYTE
    island[0:2, 0:2, 0:2] = CAM
    with pytest.warns(UserWarning, match=r"CAM voxels \([0-9.e-]+ % of the CAM\) have no "
                                         "electronic path"):
        res = discharge(VoxelStructure(island, 1e-6), 8.0, separator_um=3.0,
                        progress=False, comm=MPI.COMM_SELF)
    assert res.stop_reason == "voltage_limit"
