"""The example structures shipped in meshes/ load and match their description."""

from pathlib import Path

import pytest

from fem_assb.structure import load_structure

MESHES = Path(__file__).resolve().parents[1] / "meshes"


@pytest.mark.parametrize("path", sorted(MESHES.glob("*.npz")), ids=lambda p: p.stem)
def test_example_structures(path):
    s = load_structure(path)
    fr = s.volume_fractions()
    assert s.shape == (30, 20, 20) and s.voxel_size == pytest.approx(1e-6)
    assert ("cbd" in fr) == path.name.startswith("lib_")
    if "homogeneous" in path.name:
        assert fr["cam"] == pytest.approx(0.65, abs=0.01)
