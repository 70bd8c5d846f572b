import numpy as np
import pytest


@pytest.fixture(scope="session")
def small_lib():
    """A small LIB-like cathode (65/14/21 vol%), 1 µm voxels."""
    from fem_assb.structure import homogeneous

    return homogeneous(size_um=(24, 14, 14), voxel_size_um=1.0, cam_fraction=0.65,
                       cbd_fraction=0.21, mean_diameter_um=6.0, diameter_std_um=1.5, seed=11)


@pytest.fixture(scope="session")
def small_assb():
    """A small binder-free ASSB cathode (60/40 vol%), 1 µm voxels."""
    from fem_assb.structure import homogeneous

    return homogeneous(size_um=(16, 10, 10), voxel_size_um=1.0, cam_fraction=0.6,
                       cbd_fraction=0.0, mean_diameter_um=5.0, diameter_std_um=1.0, seed=5)


@pytest.fixture(scope="session")
def face_count():
    return _face_count


def _face_count(labels, a, b):
    """Number of voxel faces between phases a and b (both orders, all axes)."""
    n = 0
    for ax in range(3):
        lo = np.take(labels, np.arange(labels.shape[ax] - 1), axis=ax)
        hi = np.take(labels, np.arange(1, labels.shape[ax]), axis=ax)
        n += np.count_nonzero((lo == a) & (hi == b)) + np.count_nonzero((lo == b) & (hi == a))
    return n
