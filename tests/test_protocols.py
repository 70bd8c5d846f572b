"""Protocols: step strings and data, step limits and control (no mesh); discharge → rest
→ charge → CV hold and GITT pulses in the single-particle limit (a CAM slab) against an
independent 1D solution and the OCV; the CLI's ``run``; serial = 2 ranks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from spm_reference import slab_protocol_voltage, sphere_surface_ocv

import fem_assb
from fem_assb._dolfinx import MPI
from fem_assb.constants import MA_PER_CM2, MAH_PER_CM2
from fem_assb.materials import default_parameters, make_function
from fem_assb.protocol.control import StepControl, StepController
from fem_assb.protocol.events import VoltageLimit, chord_crossing, step_limits
from fem_assb.protocol.experiment import Experiment, ExperimentError, Step, load_experiment
from fem_assb.structure import CAM, VoxelStructure

FAST = {"cam": {"diffusivity_solid": 1e-14, "conductivity": 1e2},
        "solid_electrolyte": {"conductivity": 1e2}}


# ------------------------------------------------------------------ no mesh
@pytest.mark.parametrize("text, expected", [
    ("Discharge at 8 mA/cm2 until 3.0 V",
     dict(kind="discharge", current_mA_cm2=8.0, until_voltage_V=3.0)),
    ("Discharge at C/20 for 30 minutes", dict(kind="discharge", c_rate=0.05, duration_s=1800.0)),
    ("charge at 1C until 4.3 V", dict(kind="charge", c_rate=1.0, until_voltage_V=4.3)),
    ("Hold at 4.3 V until C/50", dict(kind="hold", voltage_V=4.3, until_c_rate=0.02)),
    ("Hold at 4.3 V until 0.1 mA/cm²", dict(kind="hold", voltage_V=4.3,
                                           until_current_mA_cm2=0.1)),
    ("Hold at 4.2 V for 1 hour or until C/20", dict(kind="hold", voltage_V=4.2,
                                                    duration_s=3600.0, until_c_rate=0.05)),
    ("Rest for 2 hours", dict(kind="rest", duration_s=7200.0)),
    ("Rest for 600 s.", dict(kind="rest", duration_s=600.0)),
    ("Discharge at 20 A/m2 for 1 h or until 3.5 V",
     dict(kind="discharge", current_mA_cm2=2.0, duration_s=3600.0, until_voltage_V=3.5)),
    ("Discharge at 1C until 2 mAh/cm2",
     dict(kind="discharge", c_rate=1.0, until_capacity_mAh_cm2=2.0)),
])
def test_step_strings(text, expected):
    (step,) = Experiment([text]).steps
    assert {k: v for k, v in step.as_dict().items() if k != "text"} == pytest.approx(expected)
    assert step.text == " ".join(text.split())


@pytest.mark.parametrize("text, names", [
    ("Discharge until 3 V", "say what to discharge at"),
    ("Rest for ten minutes", "cannot read the duration 'ten minutes'"),
    ("Charge at 5 parsecs until 4.2 V", "cannot read the current '5 parsecs'"),
    ("Hold at 4.2 V", "the step has no end"),
    ("Discharge at 1C", "the step has no end"),
    ("Rest until 3 V", "a voltage limit ends constant-current steps only"),
    ("Jump at 3C until 3 V", "a step starts with Discharge, Charge, Hold or Rest"),
    ("Discharge at 1C until 3 Q", "cannot read the limit '3 Q'"),
    ("Discharge at 0 mA/cm2 until 3 V", "current_mA_cm2 must be > 0"),
    ("Charge at 1C until C/20", "a current limit ends holds only"),
    ("3 x ()", "the repeated cycle has no steps"),
])
def test_bad_steps_are_named_in_one_line(text, names):
    with pytest.raises(ExperimentError) as err:
        Experiment(["Rest for 1 s", text])
    msg = str(err.value)
    assert names in msg and "\n" not in msg
    assert msg.startswith("experiment item 2:")


def test_experiment_as_data_and_repeats(tmp_path):
    text = ["Discharge at C/20 for 30 minutes", "Rest for 1 hour"]
    by_string = Experiment(["3 x (Discharge at C/20 for 30 minutes; Rest for 1 hour)"])
    by_tuple = Experiment([tuple(text)] * 3)
    f = tmp_path / "gitt.toml"
    f.write_text('experiment = [{repeat = 3, steps = [\n'
                 '  {kind = "discharge", c_rate = 0.05, duration_s = 1800},\n'
                 '  "Rest for 1 hour"]}]\n')
    by_toml = load_experiment(f)
    for e in (by_tuple, by_toml):
        assert [s.as_dict() | {"text": ""} for s in e] == \
            [s.as_dict() | {"text": ""} for s in by_string]
    assert len(by_string) == 6 and by_string[4].kind == "discharge"
    f.write_text('experiment = [{kind = "discharge", amps = 3}]\n')
    with pytest.raises(ExperimentError, match=r"unknown step key\(s\) \['amps'\]"):
        load_experiment(f)
    with pytest.raises(ExperimentError, match="no 'experiment' list"):
        f.write_text("steps = []\n")
        load_experiment(f)


def test_step_limits_and_chord():
    q_theo = 7.0 * MAH_PER_CM2  # C/m²
    lims, t_end = step_limits(Step("charge", c_rate=1.0, until_voltage_V=4.2,
                                   until_capacity_mAh_cm2=3.5), q_theo)
    assert t_end == pytest.approx(1800.0)  # half the 1C capacity: half an hour
    (v,) = lims
    assert v.g(4.1, -70.0, 0.0) > 0 > v.g(4.3, -70.0, 0.0)  # V rises towards it
    d = VoltageLimit(3.0, sign=1)
    assert d.g(3.2, 10, 0) > 0 > d.g(2.9, 10, 0)
    lims, t_end = step_limits(Step("hold", voltage_V=4.2, until_c_rate=0.02,
                                   until_capacity_mAh_cm2=1.0), q_theo)
    assert t_end is None and [lim.reason for lim in lims] == ["current_limit",
                                                              "capacity_limit"]
    assert lims[0].value == pytest.approx(0.02 * q_theo / 3600)
    assert lims[0].g(0.0, -2 * lims[0].value, 0.0) > 0  # |I| above the limit
    assert Step("discharge", current_mA_cm2=2.0, duration_s=1.0).current_A_m2(q_theo) == \
        2.0 * MA_PER_CM2
    assert Step("charge", c_rate=0.5, duration_s=1.0).current_A_m2(q_theo) == \
        pytest.approx(-0.5 * q_theo / 3600)
    assert chord_crossing(0.0, 1.0, 2.0, -1.0) == 1.0


def test_step_controller_bounds():
    """Growth, shrink and rejection limits, the voltage-step cap and the floor."""
    s = StepControl(initial_fraction=0.01, max_fraction=0.1, min_dt=1e-2)
    ctl = StepController(s, t_nominal=1000.0)
    assert ctl.dt == 10.0
    assert ctl.judge(100.0, 2, 1e-8) and ctl.dt == 10.0 * s.grow  # tiny error: capped growth
    dt = ctl.dt
    assert ctl.judge(200.0, 2, 2.0) and ctl.dt == pytest.approx(dt * s.safety * 2 ** -0.5)
    dt = ctl.dt
    assert not ctl.judge(300.0, 2, 100.0)  # beyond reject_factor: redo with the shrink
    assert ctl.dt == pytest.approx(dt * s.shrink)
    for _ in range(40):
        ctl.judge(1e5, 2, 1e-8)
    assert ctl.dt == pytest.approx(s.max_fraction * 1000.0)  # dt_max
    # the voltage-step cap: the next step changes V by 0.7 max_voltage_step at this slope
    assert ctl.judge(1e5, 2, 0.1, dv=0.3)
    assert ctl.dt == pytest.approx(0.7 * s.max_voltage_step * 100.0 / 0.3)
    while ctl.failed():
        pass
    assert ctl.dt < s.min_dt


# ------------------------------------------------------------------ the slab
def _slab_sim(refine=6):
    s = VoxelStructure(np.full((4, 1, 1), CAM, np.uint8), 1e-6)
    p = default_parameters().updated(FAST)
    return fem_assb.Simulation(s, "solid", p, separator_um=2.0, refine=refine,
                               comm=MPI.COMM_SELF, progress=False), p


CTL = StepControl(initial_fraction=1e-3, max_fraction=0.02, max_voltage_step=0.02,
                  max_relative=0.2)


@pytest.fixture(scope="module")
def cycle():
    """Discharge → rest → charge back to the start voltage → CV hold there."""
    sim, p = _slab_sim()
    u0 = float(make_function(p.cam.ocv, "U")(np.array(p.operation.initial_stoichiometry)))
    exp = ["Discharge at 1C until 3.6 V", "Rest for 30 minutes",
           f"Charge at 1C until {u0:.9f} V", f"Hold at {u0:.9f} V until C/500"]
    sol = sim.run(exp, control=CTL, progress=False)
    return sol, p, u0


def _rows(sol, step):
    c = sol.curve
    sel = np.array(c.step) == step
    return {k: np.array(getattr(c, k), dtype=float)[sel] for k in ("time_s", "voltage_V",
                                                          "current_mA_cm2",
                                                          "capacity_mAh_cm2")}


def test_cycle_returns_the_lithium(cycle):
    sol, p, u0 = cycle
    dis, rest, chg, hold = sol.steps
    assert [s.stop_reason for s in sol.steps] == [
        "voltage_limit", "time_limit", "voltage_limit", "current_limit"]
    assert sol.complete and sol.stop_reason == "current_limit"  # the last step's end
    # conservation over the whole protocol (every time step's Li against ∫I dt)
    assert sol.lithium_balance_error < 1e-8
    assert sol.max_charge_balance_error < 1e-8
    # charged back to the start: what went in comes out (the hold's tail excepted)
    back = chg.capacity_mAh_cm2 + hold.capacity_mAh_cm2
    assert sol.charge_capacity_mAh_cm2 == pytest.approx(back)
    # (each step's end is located within its last time step: 1e-3 of slack)
    assert 0.95 * dis.capacity_mAh_cm2 < back < 1.001 * dis.capacity_mAh_cm2
    # the state's net charge: the steps' ends located within their last time step
    assert sol.state_capacity_mAh_cm2 == pytest.approx(
        dis.capacity_mAh_cm2 - back, abs=1e-2 * dis.capacity_mAh_cm2)
    t = np.array(sol.curve.time_s)
    assert np.all(np.diff(t) > 0)
    assert dis.end_voltage_V == 3.6 and chg.end_voltage_V == pytest.approx(u0)
    assert rest.capacity_mAh_cm2 == 0.0 and rest.duration_s == pytest.approx(1800.0)


def test_rest_relaxes_monotonically_as_the_1d_solution(cycle):
    sol, p, _ = cycle
    r = _rows(sol, 1)
    v = r["voltage_V"]
    assert np.all(np.diff(v) > -1e-9)  # rises towards the OCV after a discharge
    assert np.all(r["current_mA_cm2"] == 0.0)
    # towards the OCV of the mean lithiation, from below
    q_theo = sol.theoretical_capacity_mAh_cm2
    x0 = p.operation.initial_stoichiometry
    x_mean = x0 + (1 - x0) * r["capacity_mAh_cm2"][-1] / q_theo
    u_mean = float(make_function(p.cam.ocv, "U")(np.array(x_mean)))
    assert v[-1] < u_mean and u_mean - v[-1] < 5e-3
    # the independent 1D solution: the same charge, then the same rest
    # (the rest starts from the discharge's last state: its charge is the rest's)
    i = q_theo * MAH_PER_CM2 / 3600.0  # 1C, A/m²
    t_dis = r["capacity_mAh_cm2"][0] * MAH_PER_CM2 / i
    t = r["time_s"] - (r["time_s"][-1] - 1800.0)  # from the start of the rest
    ref = slab_protocol_voltage(p, 4e-6, 2e-6, [(t_dis, i), (1800.0, 0.0)], t + t_dis)
    keep = t > 5.0  # after the first seconds of the surface layer's collapse
    assert keep.sum() > 5
    assert np.abs(v - ref)[keep].max() < 2e-3


def test_rest_of_a_particle_relaxes_as_1d_spherical_diffusion():
    """The single-particle limit in a sphere: an octant of a voxelised sphere (radius 7
    voxels) at the collector corner, the box's symmetry planes no-flux, discharged at 1C
    for 10 minutes, then at rest: its voltage relaxes as the surface OCV of a 1D sphere
    of the same volume taking the same lithium (the voxel surface's extra area matters
    for the kinetics only, which a rest does not have) — within 2 mV. On the voxel codes'
    discretisation: with the resolved skin on the staircase the rest is within 7.1 mV
    (its columns carry no lithium along the surface, where the staircase's corners
    need it; on smooth surfaces the skin relaxes as the sphere: tests/test_skin.py)."""
    n, radius = 10, 7.0
    i, j, k = np.meshgrid(*[np.arange(n) + 0.5] * 3, indexing="ij")
    labels = np.where(np.sqrt((n - i) ** 2 + j**2 + k**2) < radius, CAM, 2).astype(np.uint8)
    p = default_parameters().updated(FAST)
    sim = fem_assb.Simulation(VoxelStructure(labels, 1e-6), "solid", p, separator_um=2.0,
                              voxel_code=True, comm=MPI.COMM_SELF, progress=False)
    sol = sim.run(["Discharge at 1C for 10 minutes", "Rest for 1 hour"], control=CTL,
                  progress=False)
    r = _rows(sol, 1)
    v = r["voltage_V"]
    assert np.all(np.diff(v) > -1e-9)
    t = r["time_s"] - (r["time_s"][-1] - 3600.0)
    # the equivalent sphere: the octant's volume, the lithium it took (the state's)
    r_eq = (6.0 * np.count_nonzero(labels == CAM) * 1e-18 / np.pi) ** (1 / 3)
    area = (n * 1e-6) ** 2
    i_1c = sim.theoretical_capacity * 1.0 / 3600.0  # A/m²
    t_dis = r["capacity_mAh_cm2"][0] * MAH_PER_CM2 / i_1c
    inflow = i_1c * area / 96485.33212 / (np.pi * r_eq**2 / 2)  # over the octant's surface
    ref = sphere_surface_ocv(p, r_eq, 1e-14, [(t_dis, inflow), (3600.0, 0.0)], t + t_dis)
    keep = t > 5.0
    assert keep.sum() > 10
    assert np.abs(v - ref)[keep].max() < 2e-3
    assert v[-1] == pytest.approx(ref[-1], abs=2e-4)  # relaxed: the mean lithiation's OCV


def test_cv_hold_current_decays_to_its_limit(cycle):
    sol, _, u0 = cycle
    r = _rows(sol, 3)
    i = r["current_mA_cm2"]
    assert np.all(i < 0)  # charging
    assert np.all(np.diff(np.abs(i)) < 0)  # decays monotonically
    assert np.abs(r["voltage_V"] - u0).max() < 1e-9  # held
    hold = sol.steps[3]
    assert hold.end_current_mA_cm2 == pytest.approx(
        -sol.theoretical_capacity_mAh_cm2 / 500, rel=1e-6)
    # the switch CC -> CV: no jump of the current (within the CC step's own level)
    chg = _rows(sol, 2)
    assert abs(i[0]) <= abs(chg["current_mA_cm2"][-1]) * 1.001


def test_gitt_relaxed_voltages_lie_on_the_ocv():
    sim, p = _slab_sim(refine=4)
    sol = sim.run(["4 x (Discharge at C/20 for 30 minutes; Rest for 1 hour)"], control=CTL,
                  progress=False)
    assert sol.complete and len(sol.steps) == 8
    U = make_function(p.cam.ocv, "U")
    x0 = p.operation.initial_stoichiometry
    q_theo = sol.theoretical_capacity_mAh_cm2
    errs = []
    for k in range(1, 8, 2):
        r = _rows(sol, k)
        x_mean = x0 + (1 - x0) * r["capacity_mAh_cm2"][-1] / q_theo
        errs.append(abs(r["voltage_V"][-1] - float(U(np.array(x_mean)))))
        assert sol.steps[k - 1].capacity_mAh_cm2 == pytest.approx(q_theo / 40)
    assert max(errs) < 5e-3
    assert sol.lithium_balance_error < 1e-8


def test_simulation_object_for_notebooks(cycle):
    sol, _, _ = cycle
    df = sol.to_dataframe()
    assert list(df.columns) == ["time_s", "capacity_mAh_cm2", "voltage_V", "newton_iterations",
                                "step", "current_mA_cm2"]  # voltage.csv's columns
    assert len(df) == len(sol.curve.time_s) and set(df["step"]) == {0, 1, 2, 3}
    assert list(sol.steps_dataframe()["stop_reason"])[-1] == "current_limit"
    from matplotlib.figure import Figure

    axes = Figure().subplots(1, 2)
    sol.plot(axes)
    assert len(axes[0].lines) == 4 and len(axes[1].lines) == 3  # the rest passes no charge
    d = sol.summary()
    assert [s["kind"] for s in d["steps"]] == ["discharge", "rest", "charge", "hold"]
    assert d["time_steps"] == sol.time_steps
    json.dumps(d, allow_nan=False)


# ------------------------------------------------------------------ CLI, MPI
def test_cli_run_json_and_bad_steps(tmp_path, small_assb):
    from fem_assb.structure import save_structure, to_solid_electrolyte

    f = tmp_path / "c.npz"
    save_structure(to_solid_electrolyte(small_assb), f)
    cmd = [sys.executable, "-m", "fem_assb.cli", "run", str(f), "--electrolyte", "solid",
           "--separator-um", "3", "-o", str(tmp_path / "out"), "--json",
           "--experiment", "Discharge at 1 mA/cm2 for 5 minutes",
           "--experiment", "Rest for 5 minutes"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [s["stop_reason"] for s in d["steps"]] == ["time_limit", "time_limit"]
    for key in ("kind", "capacity_mAh_cm2", "energy_mWh_cm2", "start_voltage_V",
                "end_voltage_V", "duration_s", "stop_reason"):
        assert key in d["steps"][0]
    assert d["steps"][0]["capacity_mAh_cm2"] == pytest.approx(1.0 * 300 / 3600, rel=1e-9)
    assert d["complete"] and d["lithium_balance_error"] < 1e-8
    head = (tmp_path / "out" / "voltage.csv").read_text().splitlines()[0].split(",")
    assert head[-2:] == ["step", "current_mA_cm2"]
    from fem_assb.viz.curves import plot_run

    (png, _) = plot_run(tmp_path / "out")
    assert png.stat().st_size > 10_000  # the protocol's curve, step by step
    bad = cmd[:-4] + ["--experiment", "Rest for a while"]
    r = subprocess.run(bad, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "'Rest for a while'" in r.stderr


@pytest.mark.mpi
def test_protocol_serial_equals_parallel(small_assb):
    from fem_assb.structure import to_solid_electrolyte

    exp = ["Discharge at 1 mA/cm2 for 5 minutes", "Rest for 5 minutes",
           "Charge at 0.5 mA/cm2 for 1 minute", "Hold at 4.15 V until 0.1 mA/cm2"]
    s = to_solid_electrolyte(small_assb)
    p = fem_assb.default_parameters().updated({"solver": {"newton_atol": 1e-11}})
    res = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        sim = fem_assb.Simulation(s, "solid", p, separator_um=3.0, comm=comm, progress=False)
        res.append(sim.run(exp, control=StepControl(max_fraction=0.05), progress=False))
    par, ser = res
    assert par.time_steps == ser.time_steps and par.complete
    for a, b in zip(par.steps, ser.steps, strict=True):
        assert a.stop_reason == b.stop_reason
        for key in ("capacity_mAh_cm2", "end_voltage_V", "duration_s", "energy_mWh_cm2"):
            # a step ended by the CAM emptying at its surface ends on a near-vertical
            # voltage (5 V at x_surf → 0): there the same charge gives 1e-5 of voltage
            # (and of the energy, whose last point is that voltage)
            steep = key in ("end_voltage_V", "energy_mWh_cm2") \
                and a.stop_reason == "cam_exhausted"
            rel = 1e-5 if steep else 1e-7
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=rel, abs=1e-10), \
                (key, a.text, a.stop_reason)
    assert par.lithium_balance_error < 1e-10


def test_protocol_resumes_from_its_checkpoint(tmp_path):
    """A protocol cut short mid-way (here: in its second step) continues from its
    checkpoint to the result of an uninterrupted run."""
    sim, _ = _slab_sim(refine=2)
    exp = ["Discharge at 1C for 10 minutes", "Rest for 10 minutes", "Charge at C/2 until 4.2 V"]
    full = sim.run(exp, control=CTL, progress=False)
    cut = sim.run(exp, control=CTL, progress=False, output=tmp_path, checkpoint_every=1,
                  max_steps=full.steps[0].time_steps + 5)
    assert cut.stop_reason == "max_steps" and not cut.complete
    rest = sim.run(exp, control=CTL, progress=False, output=tmp_path, checkpoint_every=1,
                   resume=True)
    assert rest.complete and rest.time_steps == full.time_steps
    for a, b in zip(rest.steps, full.steps, strict=True):
        for key in ("capacity_mAh_cm2", "end_voltage_V", "duration_s"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9), key
    rows = (tmp_path / "voltage.csv").read_text().splitlines()
    assert len(rows) == len(full.curve.time_s) + 1  # no row lost or doubled
