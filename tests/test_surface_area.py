"""The smoothed interfaces' true area (fem_assb.mesh.surface_area): marching tetrahedra
against a sphere's area, the corrected area of a particle packing the same at 1 µm and
with every voxel split into 8 (the facets' own areas are not), and the factor's
independence of the planes it is computed on (what makes serial = parallel)."""

import numpy as np
import pytest

from fem_assb._dolfinx import MPI
from fem_assb.mesh import build_mesh, tags
from fem_assb.mesh.smoothing import refine_smooth
from fem_assb.mesh.surface_area import _contour_area, area_correction
from fem_assb.physics.chemistry import chemistry
from fem_assb.structure import homogeneous


def test_marching_tetrahedra_give_a_spheres_area():
    """The zero set of R − |x − c| sampled at voxel centres: 4πR² to 1 %, summed over
    the voxels it is deposited in (and in chunks of planes: the same sum)."""
    n, r = 16, 5.3
    c = np.array([8.2, 7.9, 8.4])
    i = np.indices((n, n, n)) + 0.5
    psi = r - np.sqrt(sum((i[k] - c[k]) ** 2 for k in range(3)))
    whole = _contour_area(psi, None, 0, n)
    assert whole.shape == (n, n, n)
    assert whole.sum() == pytest.approx(4 * np.pi * r**2, rel=0.01)
    parts = np.concatenate([_contour_area(psi, None, a, b) for a, b in ((0, 5), (5, 16))])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def packing():
    s = homogeneous(size_um=(16, 12, 12), voxel_size_um=1.0, cam_fraction=0.65,
                    cbd_fraction=0.0, mean_diameter_um=5.0, diameter_std_um=1.0, seed=2)
    return chemistry("solid").virtual_cell(s, 3.0)


def test_corrected_area_converges_under_refinement(packing):
    """A packing of CAM particles in SE: the smoothed facets at 1 µm hold > 6 % more area
    than with every voxel split into 8; the surfaces they stand for agree to 1 %."""
    raw, true = {}, {}
    for refine in (1, 2):
        vm = build_mesh(packing, comm=MPI.COMM_SELF, refine=refine, interface="smooth")
        raw[refine] = vm.facet_area(tags.CAM_ELECTROLYTE)
        true[refine] = vm.surface_area(tags.CAM_ELECTROLYTE)
    assert raw[1] > 1.06 * raw[2]
    assert true[1] == pytest.approx(true[2], rel=0.01)
    assert true[2] == pytest.approx(raw[2], rel=0.02)  # split: the facets are the surface
    staircase = build_mesh(packing, comm=MPI.COMM_SELF)
    assert staircase.surface_area(tags.CAM_ELECTROLYTE) == pytest.approx(
        staircase.facet_area(tags.CAM_ELECTROLYTE), rel=1e-12)


def test_area_factor_does_not_depend_on_the_planes_asked_for(packing):
    labels = packing.labels
    nx = labels.shape[0]
    for factor in (1, 2):
        fine = labels if factor == 1 else refine_smooth(labels, factor)
        whole = area_correction(labels, fine, factor, (0, nx), 1e-6)
        parts = [area_correction(labels, fine, factor, r, 1e-6) for r in ((0, 7), (7, nx))]
        assert whole.fields.keys() == {2}
        np.testing.assert_allclose(np.concatenate([p.fields[2] for p in parts]),
                                   whole.fields[2], rtol=1e-12)
        kappa = whole.fields[2]
        assert 0.2 < kappa.min() and kappa.max() < 2.0
