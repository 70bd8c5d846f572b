"""The run layer's redesign changed no number: the curves of a small ASSB and LIB cell
through discharge, rest, charge and CV hold equal those of the code before it (commit
9c5a945, ``tests/data/golden_curves.json``) to 1e-10, with the same time steps and
Newton iterations. Under the one switch that keeps the voxel codes' discretisation
(``voxel_code``: staircase interfaces, plain elements), which the code before had."""

import json
from pathlib import Path

import numpy as np
import pytest

from fem_assb import Simulation, homogeneous, to_solid_electrolyte
from fem_assb._dolfinx import MPI

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_curves.json").read_text())


def _cell(name):
    if name == "lib":
        return homogeneous(size_um=(12, 6, 6), voxel_size_um=1.0, cam_fraction=0.65,
                           cbd_fraction=0.21, mean_diameter_um=4.0, diameter_std_um=1.0,
                           seed=3), "liquid"
    return to_solid_electrolyte(homogeneous(
        size_um=(12, 6, 6), voxel_size_um=1.0, cam_fraction=0.6, cbd_fraction=0.0,
        mean_diameter_um=4.0, diameter_std_um=1.0, seed=5)), "solid"


@pytest.mark.parametrize("name", ["assb", "lib"])
def test_curves_equal_those_before_the_redesign(name):
    structure, electrolyte = _cell(name)
    sim = Simulation(structure, electrolyte, separator_um=3.0, comm=MPI.COMM_SELF,
                     progress=False, voxel_code=True)
    sol = sim.run(GOLDEN["protocol"], progress=False)
    ref = GOLDEN[name]
    assert [s.stop_reason for s in sol.steps] == ref["stop_reasons"]
    assert sol.time_steps == ref["time_steps"]
    assert sol.rejected_steps == ref["rejected_steps"]
    assert sol.newton_iterations == ref["newton_iterations_total"]
    curve = sol.curve.as_dict()
    for key in ("time_s", "capacity_mAh_cm2", "voltage_V", "current_mA_cm2"):
        np.testing.assert_allclose(curve[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert curve["newton_iterations"] == ref["newton_iterations"]
    assert curve["step"] == ref["step"]
