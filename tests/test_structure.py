"""Voxel structures: generator targets, capacity, perforation, layering, cells."""

import numpy as np
import pytest

from fem_assb.constants import FARADAY
from fem_assb.materials import default_parameters, structure_capacity, structure_capacity_mAh_cm2
from fem_assb.physics.chemistry import chemistry
from fem_assb.structure import (
    CAM,
    CBD,
    ELECTROLYTE,
    SEPARATOR,
    StructureError,
    VoxelStructure,
    assemble_cell,
    homogeneous,
    layered,
    perforate,
    stack_layers,
    to_solid_electrolyte,
)
from fem_assb.structure.modify import layer_thicknesses


@pytest.mark.parametrize("cam, cbd", [(0.65, 0.21), (0.60, 0.0), (0.70, 0.0)])
def test_generator_meets_volume_fractions(cam, cbd):
    s = homogeneous(size_um=(40, 30, 30), voxel_size_um=1.0, cam_fraction=cam,
                    cbd_fraction=cbd, mean_diameter_um=6.0, seed=3)
    fr = s.volume_fractions()
    assert abs(fr["cam"] - cam) < 0.01
    assert abs(fr.get("cbd", 0.0) - cbd) < 0.01
    assert abs(fr["electrolyte"] - (1 - cam - cbd)) < 0.01


def test_generator_uniform_along_x_and_deterministic():
    kw = dict(size_um=(60, 20, 20), voxel_size_um=1.0, cam_fraction=0.65, cbd_fraction=0.21,
              mean_diameter_um=6.0, seed=4)
    a, b = homogeneous(**kw), homogeneous(**kw)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = homogeneous(**{**kw, "seed": 5})
    assert np.count_nonzero(a.labels != c.labels) > 0.2 * a.labels.size
    # no depletion/enrichment at the faces: 6 µm end slabs within 8 % of the mean
    prof = (a.labels == CAM).mean(axis=(1, 2))
    assert abs(prof[:6].mean() - 0.65) < 0.08 and abs(prof[-6:].mean() - 0.65) < 0.08


def test_generator_rejects_bad_fractions():
    with pytest.raises(StructureError, match="exceeds 1"):
        homogeneous(size_um=(10, 10, 10), cam_fraction=0.7, cbd_fraction=0.4)
    with pytest.raises(StructureError, match="cam_fraction"):
        homogeneous(size_um=(10, 10, 10), cam_fraction=-0.1)


def test_theoretical_capacity_by_hand():
    labels = np.full((10, 4, 5), ELECTROLYTE, np.uint8)
    labels[:, :2, :] = CAM  # 50 % CAM
    h = 2e-6
    s = VoxelStructure(labels, h)
    p = default_parameters()
    x0, cmax = p.operation.initial_stoichiometry, p.cam.c_max
    q = 0.5 * 10 * h * cmax * (1 - x0) * FARADAY  # C/m²
    assert structure_capacity(s) == pytest.approx(q, rel=1e-12)
    assert structure_capacity_mAh_cm2(s) == pytest.approx(q / 3.6 * 1e-4, rel=1e-12)


def test_study_capacity_about_7_mAh_cm2():
    s = homogeneous(size_um=(106, 20, 20), voxel_size_um=1.0, cam_fraction=0.65,
                    cbd_fraction=0.21, seed=1)
    assert structure_capacity_mAh_cm2(s) == pytest.approx(6.97, abs=0.1)


def _all_cam(n_yz=120, h=0.5e-6):
    return VoxelStructure(np.full((2, n_yz, n_yz), CAM, np.uint8), h)


@pytest.mark.parametrize("layout, radius_um, quarters", [("corners", 12.0, 4), ("single", 30.0, 1)])
def test_perforation_removes_quarter_circles(layout, radius_um, quarters):
    s = _all_cam()
    p = perforate(s, radius_um, layout=layout)
    removed = 1 - p.fraction("cam")
    expected = quarters * 0.25 * np.pi * radius_um**2 / (60.0 * 60.0)
    assert removed == pytest.approx(expected, rel=0.01)
    assert set(np.unique(p.labels)) == {CAM, ELECTROLYTE}


def test_study_perforation_28_percent_less_cam():
    # the study: r = 36 µm removes 28 % of the CAM (one quarter hole in a 60 µm cell)
    p = perforate(_all_cam(), 36.0, layout="single")
    assert 1 - p.fraction("cam") == pytest.approx(0.28, abs=0.01)


def test_perforation_turns_cbd_not_cam_elsewhere(small_lib):
    p = perforate(small_lib, 3.0)
    changed = p.labels != small_lib.labels
    assert np.all(np.isin(small_lib.labels[changed], (CAM, CBD)))
    assert np.all(p.labels[changed] == ELECTROLYTE)
    assert p.metadata["perforation"]["radius_um"] == 3.0


def test_layer_thicknesses():
    assert layer_thicknesses(100, [0.2, 0.8]) == [20, 80]
    assert layer_thicknesses(10, [1 / 3, 1 / 3, 1 / 3]) == [3, 4, 3]
    assert layer_thicknesses(10, [0.0, 1.0]) == [0, 10]
    with pytest.raises(StructureError, match="sum to 1"):
        layer_thicknesses(10, [0.5, 0.6])


def test_stack_layers_and_reverse():
    a = VoxelStructure(np.full((10, 3, 3), CAM, np.uint8), 1e-6)
    b = VoxelStructure(np.full((10, 3, 3), ELECTROLYTE, np.uint8), 1e-6)
    s = stack_layers([a, b], [0.3, 0.7])
    assert np.all(s.labels[:3] == CAM) and np.all(s.labels[3:] == ELECTROLYTE)
    r = stack_layers([a, b], [0.3, 0.7], reverse=True)
    assert np.all(r.labels[:7] == ELECTROLYTE) and np.all(r.labels[7:] == CAM)


def test_layered_limits_are_homogeneous():
    kw = dict(size_um=(20, 10, 10), voxel_size_um=1.0, cbd_fraction=0.0, mean_diameter_um=4.0)
    f0 = layered(fractions=[0.0, 1.0], cam_fractions=[0.6, 0.7], seed=2, **kw)
    f1 = layered(fractions=[1.0, 0.0], cam_fractions=[0.6, 0.7], seed=2, **kw)
    assert f0.fraction("cam") == pytest.approx(0.7, abs=0.01)
    assert f1.fraction("cam") == pytest.approx(0.6, abs=0.01)
    half = layered(fractions=[0.5, 0.5], cam_fractions=[0.6, 0.7], seed=2, **kw)
    assert (half.labels[:10] == CAM).mean() < (half.labels[10:] == CAM).mean()


def test_to_solid_and_cell_assembly(small_lib):
    solid = to_solid_electrolyte(small_lib)
    assert not np.any(solid.labels == CBD)
    assert solid.fraction("electrolyte") == pytest.approx(
        small_lib.fraction("electrolyte") + small_lib.fraction("cbd"))
    cell = chemistry("solid").virtual_cell(small_lib, 5.0)
    assert cell.metadata["separator_voxels"] == 5
    assert np.all(cell.labels[:5] == SEPARATOR) and not np.any(cell.labels[5:] == SEPARATOR)
    assert cell.shape[0] == small_lib.shape[0] + 5
    liquid = chemistry("liquid").virtual_cell(small_lib, 5.0)
    assert np.any(liquid.labels == CBD)


def test_cell_needs_cam_at_collector():
    labels = np.full((6, 3, 3), CAM, np.uint8)
    labels[-1] = ELECTROLYTE
    with pytest.raises(StructureError, match="current collector"):
        assemble_cell(VoxelStructure(labels, 1e-6), 2.0)


def test_voxelise_spheres():
    from fem_assb.structure import CAM, StructureError, voxelise_spheres

    s = voxelise_spheres([[10.0, 10.0, 10.0], [0.0, 0.0, 0.0]], [5.0, 3.0], (20, 20, 20), 0.25)
    assert s.shape == (80, 80, 80) and s.voxel_size == pytest.approx(0.25e-6)
    vol = np.count_nonzero(s.labels == CAM) * 0.25**3  # µm³: a whole ball and an octant
    assert vol == pytest.approx(4 / 3 * np.pi * (5**3 + 3**3 / 8), rel=0.01)
    with pytest.raises(StructureError, match="radii > 0"):
        voxelise_spheres([[1, 2, 3]], [-1.0], (5, 5, 5))
