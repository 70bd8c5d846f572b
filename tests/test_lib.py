"""LIB discharge: salt/charge/Li conservation, the t+ = 1 limit (= the SE model), the
steady electrolyte profile of a planar cell against an independent 1D solution, rate
dependence, bad input, serial = parallel."""

import numpy as np
import pytest
from electrolyte_reference import steady_profile

from fem_assb._dolfinx import MPI
from fem_assb.errors import ConfigError
from fem_assb.materials import default_parameters
from fem_assb.materials.electrolyte import electrolyte_function
from fem_assb.protocol.control import StepControl
from fem_assb.simulation import discharge
from fem_assb.structure import CAM, ELECTROLYTE, VoxelStructure, homogeneous


@pytest.fixture(scope="module")
def tiny_lib():
    """65/14/21 vol% cathode, 8 × 5 × 5 µm at 1 µm voxels."""
    return homogeneous(size_um=(8, 5, 5), voxel_size_um=1.0, cam_fraction=0.65,
                       cbd_fraction=0.21, mean_diameter_um=4.0, diameter_std_um=1.0, seed=3)


def _run(structure, current, **kw):
    kw.setdefault("separator_um", 4.0)
    kw.setdefault("comm", MPI.COMM_SELF)
    return discharge(structure, current, electrolyte="liquid", progress=False, **kw)


@pytest.fixture(scope="module")
def lib_runs(tiny_lib):
    return {i: _run(tiny_lib, i) for i in (1.0, 8.0)}


def test_conservation_and_rate(lib_runs):
    for r in lib_runs.values():
        assert r.stop_reason == "voltage_limit"
        assert r.salt_balance_error < 1e-8  # anions stay in the electrolyte
        assert r.lithium_balance_error < 1e-8
        assert r.max_charge_balance_error < 1e-8
        assert 0 < r.capacity_mAh_cm2 < r.theoretical_capacity_mAh_cm2
    slow, fast = lib_runs[1.0], lib_runs[8.0]
    assert fast.capacity_mAh_cm2 < slow.capacity_mAh_cm2
    assert fast.mean_voltage_V < slow.mean_voltage_V
    # Li⁺ is consumed at the cathode and released at the anode: c_e falls along x
    ce = np.array(fast.profiles.electrolyte_concentration_mol_m3, dtype=float)
    assert ce[0] > 1000.0 > ce[-1] >= fast.min_electrolyte_concentration_mol_m3


def _planar(n_ele=3, n_cam=3):
    """Electrolyte layer then a CAM slab (1 µm voxels, 1 × 1 cross-section)."""
    labels = np.full((n_ele + n_cam, 1, 1), CAM, np.uint8)
    labels[:n_ele] = ELECTROLYTE
    return VoxelStructure(labels, 1e-6)


def test_steady_electrolyte_profile_matches_1d_solution():
    p = default_parameters().updated({"cam": {"diffusivity_liquid": 1e-13,
                                              "conductivity": 1e2}})
    current = 8.0  # mA/cm²
    r = _run(_planar(), current, params=p, separator_um=10.0, refine=4, max_time_s=30.0,
             control=StepControl(max_fraction=0.005))
    assert r.stop_reason == "time_limit"
    le, T = p.liquid_electrolyte, p.operation.temperature
    D = electrolyte_function(le.diffusivity, "liquid_electrolyte.diffusivity", T)
    tp = electrolyte_function(le.transference_number, "liquid_electrolyte.transference_number",
                              T)
    x = np.array(r.profiles.electrolyte_x_um) * 1e-6 + 10e-6  # from the anode
    ce = np.array(r.profiles.electrolyte_concentration_mol_m3, dtype=float)
    ele = np.isfinite(ce)  # planes holding electrolyte (separator + layer)
    layers = [(10e-6, 0.5, 0.5), (3e-6, 1.0, 1.0)]
    ref = steady_profile(layers, current * 10, lambda c: float(D(np.array(c))),
                         lambda c: float(tp(np.array(c))), le.initial_concentration, x[ele])
    drop = ref[0] - ref[-1]
    assert drop > 40  # a real gradient: 51 mol/m³ (5 % of c_e0) across 13 µm
    assert np.max(np.abs(ce[ele] - ref)) < 0.01 * drop


def test_unit_transference_is_the_solid_electrolyte_model():
    """t+ = 1 and equal properties: the LIB model must give the SE model's answers."""
    cathode = homogeneous(size_um=(8, 5, 5), voxel_size_um=1.0, cam_fraction=0.6,
                          cbd_fraction=0.0, mean_diameter_um=3.0, diameter_std_um=0.5, seed=5)
    p0 = default_parameters()
    se = p0.solid_electrolyte
    same = {"cam": {"k_liquid": p0.cam.k_solid * np.sqrt(se.li_concentration / 1000.0),
                    "diffusivity_liquid": p0.cam.diffusivity_solid.model_dump()},
            "liquid_electrolyte": {"transference_number": 1.0,
                                   "conductivity": se.conductivity},
            "separator": {"porosity": 1.0, "ionic_factor": 1.0},
            "anode": {"exchange_current_liquid": p0.anode.exchange_current_solid}}
    p = p0.updated(same)
    kw = dict(params=p, separator_um=3.0, comm=MPI.COMM_SELF, progress=False, cutoff_V=3.5,
              control=StepControl(max_fraction=0.05))
    solid = discharge(cathode, 4.0, electrolyte="solid", **kw)
    liquid = discharge(cathode, 4.0, electrolyte="liquid", **kw)
    assert liquid.time_steps == solid.time_steps
    np.testing.assert_allclose(liquid.curve.voltage_V, solid.curve.voltage_V, atol=1e-9)
    assert liquid.capacity_mAh_cm2 == pytest.approx(solid.capacity_mAh_cm2, rel=1e-6)
    assert liquid.min_electrolyte_concentration_mol_m3 == pytest.approx(1000.0, rel=1e-10)


def test_bad_input_is_named(tiny_lib):
    p = default_parameters().updated({"anode": {"kinetics": "ideal"}})
    with pytest.raises(ConfigError, match="ideal"):
        _run(tiny_lib, 1.0, params=p)
    with pytest.raises(ConfigError, match="electrolyte must be"):
        discharge(tiny_lib, 1.0, electrolyte="gel", progress=False, comm=MPI.COMM_SELF)


@pytest.mark.mpi
def test_lib_serial_equals_parallel(tiny_lib):
    kw = dict(control=StepControl(max_fraction=0.05), cutoff_V=3.6)
    par = _run(tiny_lib, 8.0, comm=MPI.COMM_WORLD, **kw)
    ser = _run(tiny_lib, 8.0, comm=MPI.COMM_SELF, **kw)
    assert par.time_steps == ser.time_steps
    assert par.capacity_mAh_cm2 == pytest.approx(ser.capacity_mAh_cm2, rel=1e-8)
    assert par.energy_mWh_cm2 == pytest.approx(ser.energy_mWh_cm2, rel=1e-8)
    assert par.salt_balance_error < 1e-8 and par.max_charge_balance_error < 1e-8
    for key in ("electrolyte_concentration_mol_m3", "cam_utilisation"):
        a, b = (np.array(getattr(r.profiles, key), dtype=float) for r in (par, ser))
        np.testing.assert_allclose(a, b, rtol=1e-7)


def test_cli_liquid_discharge(tmp_path):
    import json

    from click.testing import CliRunner

    from fem_assb.cli import main

    np.save(tmp_path / "planar.npy", _planar().labels)
    args = ["discharge", str(tmp_path / "planar.npy"), "--voxel-size", "1e-6", "--electrolyte",
            "liquid", "--current-density", "8", "--separator-um", "5", "--transference-number",
            "0.4", "-o", str(tmp_path / "out"), "--json"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["salt_balance_error"] < 1e-8
    assert 0 < res["min_electrolyte_concentration_mol_m3"] < 1000.0
    prof = json.loads((tmp_path / "out" / "profiles.json").read_text())
    # c_e per voxel plane from the anode side: 5 separator planes, 3 electrolyte planes,
    # then CAM planes without electrolyte
    ce = prof["electrolyte_concentration_mol_m3"]
    assert prof["electrolyte_x_um"][0] == pytest.approx(-4.5) and len(ce) == 11
    assert all(v is not None for v in ce[:8]) and all(v is None for v in ce[8:])
    assert ce[0] > 1000.0 > ce[7]


def test_depleting_electrolyte_stops_with_a_warning():
    # 15 mol/m³ of salt cannot carry 8 mA/cm² through 20 µm of separator (limiting
    # current 2 F b D c0 / ((1 − t+) L) ≈ 6 mA/cm² with D(15 mM) ≈ 5.3e-10 m²/s)
    p = default_parameters().updated({"liquid_electrolyte": {"initial_concentration": 15.0},
                                      "cam": {"diffusivity_liquid": 1e-13}})
    with pytest.warns(UserWarning, match="depleted"):
        r = _run(_planar(), 8.0, params=p, separator_um=20.0)
    assert r.stop_reason == "electrolyte_depleted"
    assert r.min_electrolyte_concentration_mol_m3 < 0.5
    assert r.salt_balance_error < 1e-8
