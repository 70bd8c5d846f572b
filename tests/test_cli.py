"""The fem-assb command: generate, info, conductivity (JSON contract), errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fem_assb.cli import main

ROOT = Path(__file__).resolve().parents[1]
GEN = ["--size-um", "16", "10", "10", "--voxel-size-um", "1", "--mean-diameter-um", "5"]


def _run(args):
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r


def test_generate_info_conductivity(tmp_path):
    out = tmp_path / "p.npz"
    r = _run(["generate", "perforated", "--radius-um", "3", *GEN, "--electrolyte", "solid",
              "-o", str(out)])
    assert r.exit_code == 0, r.output
    info = json.loads(_run(["info", str(out), "--json"]).output)
    assert set(info["volume_fractions"]) == {"cam", "electrolyte"}
    assert info["theoretical_capacity_mAh_cm2"] > 0
    assert info["metadata"]["perforation"]["radius_um"] == 3.0
    r = _run(["conductivity", str(out), "--json"])
    res = json.loads(r.output)  # stdout is one JSON object, nothing else
    for key in ("relative_conductivity", "tortuosity_factor", "volume_fraction"):
        assert key in res
    assert 0 < res["relative_conductivity"] < res["volume_fraction"]
    assert res["tortuosity_factor"] == pytest.approx(
        res["volume_fraction"] / res["relative_conductivity"])
    assert res["method"] == "bracket"
    assert res["lower_bound"] < res["relative_conductivity"] < res["upper_bound"]
    # the tortuosity tensor's diagonal in one call; --method fv: TauFactor's convention
    every = json.loads(_run(["conductivity", str(out), "--axis", "all", "--method", "fv",
                             "--json"]).output)
    assert set(every) == {"x", "y", "z"}
    assert every["x"]["relative_conductivity"] == pytest.approx(res["lower_bound"], rel=1e-10)
    assert all(every[a]["axis"] == a and every[a]["upper_bound"] is None for a in every)


def test_generate_layered_and_homogeneous(tmp_path):
    r = _run(["generate", "layered", "--layer-fractions", "0.25,0.75", "--cam-fractions",
              "0.6,0.7", "--cbd-fraction", "0", *GEN, "-o", str(tmp_path / "l.npz")])
    assert r.exit_code == 0, r.output
    r = _run(["generate", "homogeneous", "--cam-fraction", "0.65", *GEN,
              "-o", str(tmp_path / "h.npz")])
    assert r.exit_code == 0 and "theoretical capacity" in r.output


def test_clear_errors(tmp_path):
    np.save(tmp_path / "bad.npy", np.full((3, 3, 3), 9, np.uint8))
    r = CliRunner().invoke(main, ["info", str(tmp_path / "bad.npy"), "--voxel-size", "1e-6"])
    assert r.exit_code == 2 and "bad.npy" in r.output and "unknown label" in r.output
    r = CliRunner().invoke(main, ["info", str(tmp_path / "bad.npy")])
    assert r.exit_code == 2 and "voxel size" in r.output
    wall = np.full((4, 3, 3), 2, np.uint8)
    wall[2] = 1
    np.save(tmp_path / "wall.npy", wall)
    r = CliRunner().invoke(main, ["conductivity", str(tmp_path / "wall.npy"),
                                  "--voxel-size", "1e-6"])
    assert r.exit_code == 3 and "do not percolate" in r.output


@pytest.mark.mpi
def test_cli_under_mpiexec(tmp_path):
    """`mpiexec -n 2 fem-assb conductivity --json` prints one JSON object equal to serial."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.size > 1:
        pytest.skip("starts its own mpiexec; run from the serial suite")
    out = tmp_path / "s.npz"
    assert _run(["generate", "homogeneous", "--cam-fraction", "0.6", "--cbd-fraction", "0",
                 *GEN, "-o", str(out)]).exit_code == 0
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "fem_assb.cli", "conductivity", str(out), "--json"]
    par = subprocess.run([str(mpiexec), "-n", "2", *cmd], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    ser = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    a, b = json.loads(par.stdout), json.loads(ser.stdout)
    assert a["relative_conductivity"] == pytest.approx(b["relative_conductivity"], rel=1e-10)


@pytest.fixture(scope="module")
def assb_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "a.npz"
    r = _run(["generate", "homogeneous", "--size-um", "8", "6", "6", "--voxel-size-um", "1",
              "--mean-diameter-um", "4", "--cam-fraction", "0.6", "--cbd-fraction", "0",
              "--electrolyte", "solid", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("args, message", [
    (["generate", "homogeneous", "--size-um", "0", "10", "10"], "box size"),
    (["generate", "homogeneous", "--size-um", "16", "10", "inf"], "box size"),
    (["generate", "homogeneous", "--voxel-size-um", "20"], "larger than the box"),
    (["generate", "homogeneous", "--voxel-size-um", "nan"], "voxel size"),
    (["generate", "homogeneous", "--voxel-size-um", "1e-4"], "exceeds"),
    (["generate", "perforated", "--radius-um", "40", "--layout", "single"],
     "removes all CAM"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8", "--cutoff", "-1"],
     "cutoff_voltage"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8", "--cutoff",
      "nan"], "finite"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "inf"], "finite"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--separator-um", "inf"], "thickness_um"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--transference-number", "0.4"], "liquid only"),
    (["discharge", "{f}", "--electrolyte", "liquid", "--current-density", "8",
      "--transference-number", "1.5"], "transference_number must be in (0, 1]"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--parameters", "{toml}"], "finite"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8", "--refine", "0"],
     "--refine"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--set", "solid_electrolyte.conductivty=1"], "unknown parameter "
     "'solid_electrolyte.conductivty'"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--set", "solid_electrolyte.conductivity=-1"], "'solid_electrolyte.conductivity'"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--set", "conductivity"], "expected SECTION.NAME=VALUE"),
    (["run", "{f}", "--electrolyte", "solid", "--experiment", "Rest for 1 s",
      "--set", "cam=1"], "'cam' must be a table"),
    (["discharge", "{f}", "--electrolyte", "solid", "--current-density", "8",
      "--voxel-code", "--interface", "smooth"], "--voxel-code sets the interface"),
    (["run", "{f}", "--electrolyte", "solid", "--experiment", "Rest for 1 s",
      "--voxel-code", "--set", "resolution.skin=true"], "--voxel-code sets the interface"),
    (["study", "perforated", "--quick", "--set", "cam.c_maxx=1", "-o", "{dir}"],
     "--set: unknown parameter 'cam.c_maxx'"),
    (["study", "perforated", "--quick", "--jobs", "0", "-o", "{dir}"], "--jobs"),
    (["study", "perforated", "--quick", "--max-cases", "-1", "-o", "{dir}"], "--max-cases"),
])
def test_nonsense_is_refused(assb_file, tmp_path, args, message):
    """Each refused input: exit code 2 and one message naming the problem, before any
    work (no file written, no traceback)."""
    (tmp_path / "p.toml").write_text("[cam]\nconductivity = inf\n")
    fill = {"f": str(assb_file), "toml": str(tmp_path / "p.toml"), "dir": str(tmp_path / "st")}
    args = [a.format(**fill) for a in args]
    if args[0] == "generate":
        args = args[:2] + [*GEN, *args[2:]] + ["-o", str(tmp_path / "x.npz")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "st").exists()


def test_set_overrides_a_parameter_as_a_file_would(assb_file, tmp_path):
    """--set KEY=VALUE is the --parameters file's entry: the same discharge as with the
    file, a different one from the built-in set (the SE's conductivity ÷ 10 costs
    voltage), and it wins over the file."""
    def summary(*extra):
        r = _run(["discharge", str(assb_file), "--electrolyte", "solid", "--current-density",
                  "1", "--cutoff", "3.9", "--json", *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    (tmp_path / "low.toml").write_text("[solid_electrolyte]\nconductivity = 0.007\n")
    (tmp_path / "high.toml").write_text("[solid_electrolyte]\nconductivity = 7.0\n")
    by_set = summary("--set", "solid_electrolyte.conductivity=0.007")
    by_file = summary("--parameters", str(tmp_path / "low.toml"))
    over_file = summary("--parameters", str(tmp_path / "high.toml"),
                        "--set", "solid_electrolyte.conductivity = 7e-3")
    default = summary()
    for other in (by_file, over_file):
        assert other["capacity_mAh_cm2"] == pytest.approx(by_set["capacity_mAh_cm2"],
                                                          rel=1e-9)
    assert by_set["capacity_mAh_cm2"] < 0.9 * default["capacity_mAh_cm2"]
    assert by_set["provenance"]["parameters_sha256"] == \
        by_file["provenance"]["parameters_sha256"] != default["provenance"]["parameters_sha256"]


def test_set_values_are_toml():
    """Numbers, booleans, arrays, quoted and bare strings; dotted keys nest."""
    from fem_assb.materials import load_parameters, parse_assignments

    sets = parse_assignments(["cam.ocv=nmc811_table", "anode.kinetics='ideal'",
                              "cam.alpha=0.4", "solver.petsc_options.ksp_rtol=1e-8",
                              "cam.conductivity={x = [0.2, 1.0], y = [1.0, 2.0]}"])
    assert sets["cam"]["ocv"] == "nmc811_table" and sets["anode"]["kinetics"] == "ideal"
    assert sets["cam"]["alpha"] == 0.4 and sets["cam"]["conductivity"]["y"] == [1.0, 2.0]
    p = load_parameters(overrides=sets)
    assert p.cam.alpha == 0.4 and p.anode.kinetics == "ideal"
    assert p.solver.petsc_options["ksp_rtol"] == 1e-8


def test_failed_discharge_exits_nonzero_with_strict_json(assb_file, tmp_path):
    """A discharge the solver cannot finish (Newton limited to one iteration): exit code
    4, strict JSON (null, not NaN) with "complete": false, and summary.json says the
    same."""
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["discharge", str(assb_file), "--electrolyte", "solid",
                                  "--current-density", "8", "--petsc-option", "snes_max_it=1",
                                  "--json", "-o", str(out)])
    assert r.exit_code == 4, r.output

    def no_constants(name):
        raise ValueError(f"not JSON: {name}")

    res = json.loads(r.stdout, parse_constant=no_constants)
    assert res["stop_reason"] == "solver_failed" and res["complete"] is False
    saved = json.loads((out / "summary.json").read_text(), parse_constant=no_constants)
    assert saved["complete"] is False


def test_only_rank_zero_writes(tmp_path):
    """A command started by an MPI launcher on rank 1 (without importing MPI) neither
    writes nor prints; rank 0 does."""
    for rank in (1, 0):
        out = tmp_path / f"r{rank}.npz"
        env = {**os.environ, "PMI_RANK": str(rank)}
        r = subprocess.run([sys.executable, "-m", "fem_assb.cli", "generate", "homogeneous",
                            *GEN, "-o", str(out)], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert out.exists() == (rank == 0)
        assert ("wrote" in r.stdout) == (rank == 0)


def test_study_with_failed_cases_exits_nonzero_and_retries(tmp_path):
    """Cases whose discharge does not finish are not results: they go to failed.csv, the
    sweep exits 4, and the next run tries them again."""
    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "f"\nfamily = "perforated"\nradii_um = [0]\nlayout = "single"\n'
                   'electrolytes = ["solid"]\ncurrent_densities_mA_cm2 = [8]\n'
                   'separator_um = 4\nconductivity = false\n'
                   '[geometry]\nsize_um = [8, 6, 6]\nvoxel_size_um = 2.0\n'
                   'cam_fraction = 0.6\ncbd_fraction = 0.0\nmean_diameter_um = 5.0\n'
                   '[parameters.solver.petsc_options]\nsnes_max_it = 1\n')
    out = tmp_path / "st"
    for attempt in (1, 2):
        r = CliRunner().invoke(main, ["study", "--config", str(cfg), "-o", str(out),
                                      "--no-plot"])
        assert r.exit_code == 4, r.output
        assert "1 of 1 cases did not finish" in r.output
        failed = (out / "failed.csv").read_text().splitlines()  # one row per case
        assert len(failed) == 2 and "solver_failed" in failed[1]
        assert failed[1].endswith(f",{attempt}")
        assert not (out / "results.csv").exists()


def test_summary_carries_provenance(assb_file, tmp_path):
    """summary.json names the version, commit, command, ranks and the checksums of the
    resolved parameter set (written beside it) and of the structure."""
    from fem_assb.provenance import digest, structure_digest
    from fem_assb.structure import load_structure

    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["discharge", str(assb_file), "--electrolyte", "solid",
                                  "--current-density", "8", "--json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    prov = json.loads(r.stdout)["provenance"]
    for key in ("fem_assb_version", "git_commit", "dolfinx_version", "petsc_version",
                "command", "ranks", "created_utc", "seed"):
        assert key in prov
    assert prov["ranks"] == 1
    assert json.loads((out / "summary.json").read_text())["provenance"] == prov
    params = json.loads((out / "parameters.json").read_text())
    assert prov["parameters_sha256"] == digest(params)
    assert prov["structure_sha256"] == structure_digest(load_structure(assb_file))


def test_broken_files_and_unwritable_outputs_are_one_line_errors(assb_file, tmp_path):
    """Empty and truncated structure files, and an output path that cannot be written:
    exit code 2, one line naming the file, no traceback."""
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "empty.npy").write_bytes(b"")
    data = assb_file.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    for name in ("empty.npz", "empty.npy", "cut.npz"):
        r = CliRunner().invoke(main, ["info", str(tmp_path / name), "--voxel-size", "1e-6"])
        assert r.exit_code == 2 and name in r.output and "not a readable" in r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    r = CliRunner().invoke(main, ["generate", "homogeneous", *GEN,
                                  "-o", str(blocker / "s.npz")])
    assert r.exit_code == 2 and "a_file" in r.output and "Traceback" not in r.output


def test_killed_parallel_study_leaves_no_worker(tmp_path):
    """SIGKILL to `study --jobs 2`: its worker processes end with it."""
    import signal
    import time

    cfg = tmp_path / "s.toml"
    cfg.write_text('name = "k"\nfamily = "perforated"\nradii_um = [0, 2, 4, 6]\n'
                   'layout = "single"\nelectrolytes = ["solid"]\n'
                   'current_densities_mA_cm2 = [1, 2]\nseparator_um = 4\nconductivity = false\n'
                   '[geometry]\nsize_um = [12, 8, 8]\nvoxel_size_um = 1.0\n'
                   'cam_fraction = 0.6\ncbd_fraction = 0.0\nmean_diameter_um = 5.0\n')
    proc = subprocess.Popen([sys.executable, "-m", "fem_assb.cli", "study", "--config",
                             str(cfg), "--jobs", "2", "-o", str(tmp_path / "st"),
                             "--no-plot"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def children():
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = children()
    assert len(workers) >= 2, "the workers did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]]
    assert not alive, f"workers {alive} outlived the study"


def test_second_run_on_a_busy_output_directory_is_refused(assb_file, tmp_path):
    """While a run holds DIR, a discharge or study given -o DIR stops with one line; an
    earlier run's summary in DIR is removed when a new run starts there."""
    from fem_assb.locking import locked_output

    out = tmp_path / "busy"
    with locked_output(out):
        for args in (["discharge", str(assb_file), "--electrolyte", "solid",
                      "--current-density", "8"], ["study", "perforated", "--quick"]):
            r = CliRunner().invoke(main, [*args, "-o", str(out)])
            assert r.exit_code == 2 and "in use by another run" in r.output, r.output
    (out / "summary.json").write_text('{"capacity_mAh_cm2": 99}')
    # a run that stops before its end (cut-off above the rest voltage) leaves no summary
    r = CliRunner().invoke(main, ["discharge", str(assb_file), "--electrolyte", "solid",
                                  "--current-density", "8", "--cutoff", "4.9", "-o", str(out)])
    assert r.exit_code == 2 and "rest voltage" in r.output
    assert not (out / "summary.json").exists()


@pytest.mark.mpi
def test_error_on_rank_zero_alone_ends_all_ranks(assb_file, tmp_path):
    """Under `mpiexec -n 2`, an error on rank 0 only (it alone removes an earlier run's
    summary.json, here a directory it cannot remove) ends both ranks within seconds,
    with the message printed once."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.size > 1:
        pytest.skip("starts its own mpiexec; run from the serial suite")
    out = tmp_path / "run"
    (out / "summary.json").mkdir(parents=True)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec), "-n", "2", sys.executable, "-m", "fem_assb.cli", "discharge",
           str(assb_file), "--electrolyte", "solid", "--current-density", "8", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode != 0
    assert r.stderr.count("summary.json") == 1, r.stderr


def test_top_level_entry_points():
    """`import fem_assb` reaches the main entry points, importing DOLFINx only when a
    solver entry point is used."""
    code = ("import sys, fem_assb; s = fem_assb.homogeneous(size_um=(8, 6, 6), "
            "mean_diameter_um=4); assert 'dolfinx' not in sys.modules; "
            "assert all(getattr(fem_assb, n) is not None for n in fem_assb.__all__[1:]); "
            "assert 'dolfinx' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def test_progress_lines_when_not_a_terminal(assb_file):
    """Without a terminal (batch jobs, pipes) a discharge reports plain progress lines
    with time, voltage, capacity and the time left."""
    r = subprocess.run([sys.executable, "-m", "fem_assb.cli", "discharge", str(assb_file),
                        "--electrolyte", "solid", "--current-density", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "% of theoretical" in ln]
    assert len(lines) >= 2 and all("V = " in ln and "left" in ln for ln in lines)


def test_unwritable_summary_loses_no_result(assb_file, tmp_path, monkeypatch):
    """summary.json cannot be written at the end: the result is still printed, then the
    error names the file (exit code 2)."""
    real = Path.write_text

    def failing(self, *args, **kwargs):
        if self.name == "summary.json":
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    r = CliRunner().invoke(main, ["discharge", str(assb_file), "--electrolyte", "solid",
                                  "--current-density", "8", "--json", "-o",
                                  str(tmp_path / "run")])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["stop_reason"] == "voltage_limit"
    assert "summary.json" in r.stderr and "No space left" in r.stderr


def test_plot_of_a_single_discharge(assb_file, tmp_path):
    """`fem-assb plot DIR` on a discharge directory: voltage curve and utilisation."""
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["discharge", str(assb_file), "--electrolyte", "solid",
                                     "--current-density", "8", "-o", str(out)]).exit_code == 0
    r = CliRunner().invoke(main, ["plot", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "figures" / "discharge.png").stat().st_size > 20_000
    r = CliRunner().invoke(main, ["plot", str(tmp_path)])  # neither study nor discharge
    assert r.exit_code == 2 and "voltage.csv" in r.output


@pytest.mark.mpi
def test_info_json_once_under_mpiexec(assb_file):
    """`mpiexec -n 2 fem-assb info --json`: one JSON object on stdout, not two."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.size > 1:
        pytest.skip("starts its own mpiexec; run from the serial suite")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    r = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-m", "fem_assb.cli", "info",
                        str(assb_file), "--json"], capture_output=True, text=True, timeout=120,
                       check=True)
    assert json.loads(r.stdout)["theoretical_capacity_mAh_cm2"] > 0


def test_tiny_voxels_and_non_finite_study_values_are_refused(tmp_path):
    from fem_assb.materials import ParameterError
    from fem_assb.structure import StructureError, VoxelStructure
    from fem_assb.studies import load_config

    with pytest.raises(StructureError, match="below 1 nm"):
        VoxelStructure(np.ones((2, 2, 2), np.uint8), 1e-300)
    with pytest.raises(ParameterError, match="finite"):
        load_config("perforated", overrides={"separator_um": float("nan")})
