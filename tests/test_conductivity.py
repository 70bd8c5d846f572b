"""Effective conductivity: exact layered media, convergence, percolation, MPI."""

import numpy as np
import pytest

from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity
from fem_assb.analysis.percolation import PercolationError
from fem_assb.structure import CAM, CBD, ELECTROLYTE, StructureError, VoxelStructure


def _layers(axis_of_layers: int):
    labels = np.full((12, 6, 6), ELECTROLYTE, np.uint8)
    sl = [slice(None)] * 3
    sl[axis_of_layers] = slice(2, 5)  # 3 of ... CBD layers
    labels[tuple(sl)] = CBD
    return VoxelStructure(labels, 1e-6)


@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_series_layers_harmonic_mean(solver):
    s = _layers(0)  # CBD layer normal to x: series
    f = 3 / 12
    exact = 1 / ((1 - f) / 1.0 + f / 0.12)
    r = effective_conductivity(s, ["electrolyte", "cbd"], solver=solver)
    assert r.relative_conductivity == pytest.approx(exact, rel=1e-8)
    assert r.tortuosity_factor == pytest.approx(1.0 / exact, rel=1e-8)


@pytest.mark.parametrize("axis", ["x", "y"])
def test_parallel_layers_arithmetic_mean(axis):
    s = _layers(2)  # CBD layer normal to z: parallel for x and y
    f = 3 / 6
    r = effective_conductivity(s, ["electrolyte", "cbd"], axis=axis,
                               factors={"cbd": 0.3})
    assert r.relative_conductivity == pytest.approx((1 - f) + f * 0.3, rel=1e-8)


def test_dead_ends_and_islands_carry_no_current():
    labels = np.full((8, 4, 4), CAM, np.uint8)
    labels[:, :2, :2] = ELECTROLYTE  # a straight channel: 4/16 of the section
    labels[:4, 3, 3] = ELECTROLYTE  # dead end from x = 0
    labels[5, 3, 0] = ELECTROLYTE  # floating island
    r = effective_conductivity(VoxelStructure(labels, 1e-6), "electrolyte")
    assert r.relative_conductivity == pytest.approx(4 / 16, rel=1e-10)
    assert r.percolating_fraction == pytest.approx(32 / 37)


def test_refinement_converges(small_assb):
    vals = [effective_conductivity(small_assb, "electrolyte", refine=k).relative_conductivity
            for k in (1, 2, 3)]
    d1, d2 = abs(vals[1] - vals[0]), abs(vals[2] - vals[1])
    assert d2 < 0.75 * d1  # differences shrink under subdivision
    assert d2 / vals[2] < 0.05


def test_non_percolating_phase_is_a_clear_error():
    labels = np.full((6, 4, 4), ELECTROLYTE, np.uint8)
    labels[3] = CAM  # a CAM wall cuts every path
    s = VoxelStructure(labels, 1e-6, {"source": "wall.npz"})
    with pytest.raises(PercolationError, match=r"wall\.npz.*electrolyte.*do not percolate"):
        effective_conductivity(s, "electrolyte")
    assert effective_conductivity(s, "electrolyte", axis="y").relative_conductivity == (
        pytest.approx(5 / 6, rel=1e-10))


def test_edge_contact_does_not_percolate():
    # a staircase of electrolyte voxels joined only along edges
    labels = np.full((4, 4, 1), CAM, np.uint8)
    for i in range(4):
        labels[i, i, 0] = ELECTROLYTE
    with pytest.raises(PercolationError):
        effective_conductivity(VoxelStructure(labels, 1e-6), "electrolyte")


def test_bad_arguments():
    s = _layers(0)
    with pytest.raises(StructureError, match="absent"):
        effective_conductivity(s, "cam")
    with pytest.raises(ValueError, match="unknown phase"):
        effective_conductivity(s, "electrolite")
    with pytest.raises(StructureError, match="axis"):
        effective_conductivity(s, "electrolyte", axis="w")
    with pytest.raises(StructureError, match="factor"):
        effective_conductivity(s, ["electrolyte", "cbd"], factors={"cbd": -1})


@pytest.mark.mpi
@pytest.mark.parametrize("phases", [["electrolyte", "cbd"], ["electrolyte"]])
def test_serial_equals_parallel(small_lib, phases):
    from fem_assb.structure import to_solid_electrolyte

    s = small_lib if "cbd" in phases else to_solid_electrolyte(small_lib)
    par = effective_conductivity(s, phases, comm=MPI.COMM_WORLD)
    ser = effective_conductivity(s, phases, comm=MPI.COMM_SELF)
    assert par.relative_conductivity == pytest.approx(ser.relative_conductivity, rel=1e-10)
    it = effective_conductivity(s, phases, comm=MPI.COMM_WORLD, solver="iterative")
    assert it.relative_conductivity == pytest.approx(ser.relative_conductivity, rel=1e-10)
