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
