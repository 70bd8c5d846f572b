"""Trust, round two: no silent mixes, no endless steps, clean ends (each a defect that
was reproduced on the code before; each test failed there)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fem_assb
from fem_assb._dolfinx import MPI
from fem_assb.errors import CheckpointError, ConfigError
from fem_assb.materials import default_parameters
from fem_assb.protocol.experiment import Experiment, ExperimentError
from fem_assb.structure import CAM, ELECTROLYTE, VoxelStructure, save_structure

FAST = {"cam": {"diffusivity_solid": 1e-14, "conductivity": 1e2},
        "solid_electrolyte": {"conductivity": 1e2}}
CLI = [sys.executable, "-m", "fem_assb.cli"]


def _slab(p=None, mirrored=False, refine=2):
    labels = np.full((4, 2, 1), CAM, np.uint8)
    labels[1 if mirrored else 2, 1 if mirrored else 0, 0] = ELECTROLYTE
    s = VoxelStructure(labels, 1e-6)
    return fem_assb.Simulation(s, "solid", p or default_parameters().updated(FAST),
                               separator_um=2.0, refine=refine, comm=MPI.COMM_SELF,
                               progress=False)


# ---------------------------------------------------------------- silent wrong answers
def test_resume_refuses_another_run_before_touching_a_file(tmp_path):
    exp = ["Discharge at 1C until 3.4 V"]
    _slab().run(exp, output=tmp_path, checkpoint_every=1, max_steps=3, progress=False)
    params_json = (tmp_path / "parameters.json").read_text()
    other = default_parameters().updated({**FAST, "solid_electrolyte": {"conductivity": 1.0}})
    with pytest.raises(CheckpointError, match="parameters_sha256"):
        _slab(other).run(exp, output=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="structure_sha256"):  # same voxel counts
        _slab(mirrored=True).run(exp, output=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="experiment"):
        _slab().run(["Discharge at 2C until 3.4 V"], output=tmp_path, resume=True,
                    progress=False)
    with pytest.raises(CheckpointError, match="control"):
        _slab().run(exp, output=tmp_path, resume=True, progress=False,
                    control=fem_assb.StepControl(max_fraction=0.05))
    assert (tmp_path / "parameters.json").read_text() == params_json  # untouched
    sol = _slab().run(exp, output=tmp_path, resume=True, progress=False)  # the same run
    assert sol.complete and sol.stop_reason == "voltage_limit"


def test_an_old_checkpoint_is_refused_in_one_line(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.json").write_text(json.dumps({"ranks": 1}))
    with pytest.raises(CheckpointError, match="older fem_assb"):
        _slab().run(["Discharge at 1C until 3.4 V"], output=tmp_path, resume=True,
                    progress=False)


def test_a_hold_outside_the_ocv_range_is_refused_before_it_starts():
    with pytest.raises(ConfigError, match="outside the CAM's open-circuit range"):
        _slab().run(["Hold at 10 V until C/50"], progress=False)


def test_a_charge_ends_when_the_cam_is_empty():
    """'Charge at 1C for 2 hours' from x0 = 0.23: the CAM holds ~0.3 of the theoretical
    capacity to give; the step ends by an event, never with more charge than that."""
    sim = _slab()
    p = default_parameters()
    x0 = p.operation.initial_stoichiometry
    removable = x0 / (1 - x0) * sim.theoretical_capacity_mAh_cm2
    sol = sim.run(["Charge at 1C for 2 hours"], progress=False, max_steps=400)
    assert sol.complete and sol.stop_reason == "cam_exhausted"
    assert 0.5 * removable < sol.charge_capacity_mAh_cm2 <= removable
    assert -sol.state_capacity_mAh_cm2 <= removable
    assert sol.time_steps < 200


def test_a_current_the_cell_cannot_take_passes_no_charge():
    sim = _slab()
    with pytest.warns(UserWarning, match="cannot take this current"):
        sol = sim.discharge(1e6, progress=False)
    assert sol.stop_reason == "no_usable_step"
    assert sol.capacity_mAh_cm2 == 0.0 and sol.state_capacity_mAh_cm2 == 0.0


def test_non_finite_and_endless_experiments_are_refused_at_once():
    with pytest.raises(ExperimentError, match="finite"):
        Experiment([{"kind": "discharge", "current_mA_cm2": float("inf"),
                     "until_voltage_V": 3.0}])
    t = time.perf_counter()
    with pytest.raises(ExperimentError, match="100,000,000 repeats"):
        Experiment(["100000000 x (Rest for 1 s)"])
    assert time.perf_counter() - t < 1.0


# ---------------------------------------------------------------- clean ends, one schema
@pytest.fixture(scope="module")
def cell_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("cell") / "slab.npz"
    labels = np.full((6, 3, 3), CAM, np.uint8)
    labels[:, 1, 1] = ELECTROLYTE
    save_structure(VoxelStructure(labels, 1e-6), f)
    return f


def test_discharge_json_and_summary_json_are_one_schema(tmp_path, cell_file):
    out = tmp_path / "d"
    r = subprocess.run([*CLI, "discharge", str(cell_file), "--electrolyte", "solid",
                        "--current-density", "2", "--separator-um", "2", "-o", str(out),
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    written = json.loads((out / "summary.json").read_text())
    assert printed.keys() == written.keys()
    assert printed["stop_reason"] == written["stop_reason"] == "voltage_limit"
    assert isinstance(printed["steps"], list) and printed["time_steps"] > 0
    assert printed["steps"][0]["newton_iterations"] > 0
    assert "rejected_steps" in printed["steps"][0]
    assert "fem-assb:" in r.stderr  # progress (memory estimate, lines) stays on stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_ends_in_one_line(tmp_path, cell_file, sig, code):
    out = tmp_path / "run"
    p = subprocess.Popen([*CLI, "run", str(cell_file), "--electrolyte", "solid",
                          "--experiment", "Discharge at C/50 until 3.0 V",
                          "--separator-um", "2", "-o", str(out), "--checkpoint-every", "1",
                          "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint" / "state.json").is_file():  # running its steps
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.2)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "t = " in lines[0] and "--resume" in lines[0], err


@pytest.mark.parametrize("args, names", [
    (["--petsc-option", "ksp_type=doesnotexist"], "ksp_type=doesnotexist"),
])
def test_bad_solver_options_end_in_one_line(cell_file, args, names):
    r = subprocess.run([*CLI, "discharge", str(cell_file), "--electrolyte", "solid",
                        "--current-density", "2", "--separator-um", "2", "--quiet", *args],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2
    assert names in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2


def test_raw_sidecar_faults_name_the_file(tmp_path):
    raw = tmp_path / "a.raw"
    np.full((2, 2, 2), CAM, np.uint8).tofile(raw)
    for sidecar in ('{"shape": [2, 2, 2], "dtype": "foo", "voxel_size_m": 1e-6}',
                    '{"shape": [2, -2, 2], "voxel_size_m": 1e-6}', "{not json"):
        (tmp_path / "a.raw.json").write_text(sidecar)
        r = subprocess.run([*CLI, "info", str(raw)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "a.raw" in r.stderr


def test_conductivity_refuses_a_non_finite_factor(cell_file):
    r = subprocess.run([*CLI, "conductivity", str(cell_file), "--phase", "electrolyte,cbd",
                        "--cbd-factor", "inf"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_a_closed_pipe_is_no_error(cell_file):
    p = subprocess.Popen([*CLI, "info", str(cell_file)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()  # `| head -1`
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Error" not in err and p.returncode in (0, -signal.SIGPIPE)


def test_warnings_are_one_line_in_the_tools_voice(tmp_path):
    labels = np.full((6, 3, 3), CAM, np.uint8)
    labels[2:4, 0, 0] = ELECTROLYTE  # an electrolyte pocket without a path to the anode
    labels[:, 1, 1] = ELECTROLYTE
    f = tmp_path / "pocket.npz"
    save_structure(VoxelStructure(labels, 1e-6), f)
    r = subprocess.run([*CLI, "discharge", str(f), "--electrolyte", "solid",
                        "--current-density", "2", "--separator-um", "2", "--quiet"],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONWARNINGS": "default"})
    assert r.returncode == 0, r.stderr
    warns = [ln for ln in r.stderr.splitlines() if "warning" in ln.lower()]
    assert warns and all(ln.startswith("fem-assb: warning: ") for ln in warns), r.stderr
    assert ".py:" not in r.stderr


# ---------------------------------------------------------------- inputs named, no mixes
def test_the_generator_warns_with_the_realised_fractions_and_refuses_huge_particles():
    from fem_assb.structure import StructureError, homogeneous

    with pytest.warns(UserWarning, match="realised CAM"):
        homogeneous(size_um=(12, 8, 6), cam_fraction=0.65, seed=0)
    t = time.perf_counter()
    with pytest.raises(StructureError, match="mean_diameter_um"):
        homogeneous(mean_diameter_um=1000)
    assert time.perf_counter() - t < 1.0


def test_a_study_config_is_checked_at_load_against_the_users_file(tmp_path):
    from fem_assb.materials.parameters import ParameterError

    f = tmp_path / "mine.toml"
    f.write_text("cutoff_V = 4.3\n")
    r = subprocess.run([*CLI, "study", "perforated", "--config", str(f), "-o",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "mine.toml" in r.stderr and "rest voltage" in r.stderr
    assert "Value error" not in r.stderr and not (tmp_path / "out" / "results.csv").exists()
    from fem_assb.studies import load_config

    with pytest.raises(ParameterError, match="radii_um must be >= 0"):
        load_config("perforated", overrides={"radii_um": [-1]})


def test_the_trend_table_refuses_studies_of_different_boxes(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import trend_table

    for name, size in (("a", [100, 80, 80]), ("b", [100, 20, 20])):
        d = tmp_path / name
        d.mkdir()
        (d / "study.json").write_text(json.dumps({
            "family": "layered", "electrolytes": ["solid"], "refine": 1,
            "geometry": {"size_um": size, "voxel_size_um": 1.0}}))
        (d / "results.csv").write_text("case\n")
    with pytest.raises(trend_table.MixedStudies, match="different boxes"):
        trend_table.load([tmp_path])


@pytest.mark.parametrize("content, suffix, names", [
    (b"\x86\x00\xffgarbage", ".toml", "not valid TOML"),
    (b"garbage", ".vtu", "cannot be read as a mesh"),
])
def test_unreadable_inputs_are_named_with_exit_2(tmp_path, cell_file, content, suffix,
                                                  names):
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content)
    args = ([str(cell_file), "--parameters", str(bad)] if suffix == ".toml"
            else [str(bad)])
    r = subprocess.run([*CLI, "discharge", *args, "--electrolyte", "solid",
                        "--current-density", "2", "--quiet"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and names in r.stderr and str(bad.name) in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
