"""Structure files: round trips and clear errors for bad input."""

import numpy as np
import pytest
import tifffile

from fem_assb.structure import StructureError, VoxelStructure, load_structure, save_structure


@pytest.fixture
def s():
    rng = np.random.default_rng(0)
    return VoxelStructure(rng.integers(1, 4, (5, 4, 3)).astype(np.uint8), 0.5e-6,
                          {"generator": "test"})


def test_npz_round_trip(tmp_path, s):
    path = save_structure(s, tmp_path / "a.npz")
    t = load_structure(path)
    np.testing.assert_array_equal(t.labels, s.labels)
    assert t.voxel_size == s.voxel_size and t.metadata["generator"] == "test"


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".raw", ".vti"])
def test_other_formats_round_trip(tmp_path, s, suffix):
    path = save_structure(s, tmp_path / f"a{suffix}")
    kw = {"shape": s.shape} if suffix == ".raw" else {}
    t = load_structure(path, voxel_size=s.voxel_size, **kw)
    np.testing.assert_array_equal(t.labels, s.labels)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".raw"])
def test_voxel_size_required(tmp_path, s, suffix):
    path = save_structure(s, tmp_path / f"a{suffix}")
    path.with_name(path.name + ".json").unlink(missing_ok=True)  # a raw file's sidecar
    with pytest.raises(StructureError, match=r"a\.(npy|tif|raw).*voxel size"):
        load_structure(path, shape=s.shape)


def test_unknown_labels_named(tmp_path):
    np.save(tmp_path / "bad.npy", np.full((3, 3, 3), 7, np.int32))
    with pytest.raises(StructureError, match=r"bad\.npy.*unknown label\(s\) \[7\]"):
        load_structure(tmp_path / "bad.npy", voxel_size=1e-6)


def test_wrong_shape_and_dtype(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones((4, 4), np.uint8))
    with pytest.raises(StructureError, match=r"flat\.npy.*3D"):
        load_structure(tmp_path / "flat.npy", voxel_size=1e-6)
    np.save(tmp_path / "float.npy", np.full((2, 2, 2), 1.5))
    with pytest.raises(StructureError, match=r"float\.npy.*integers"):
        load_structure(tmp_path / "float.npy", voxel_size=1e-6)
    tifffile.imwrite(tmp_path / "bool.tif", np.ones((2, 2, 2), np.float32) * 0.5)
    with pytest.raises(StructureError, match=r"bool\.tif.*integers"):
        load_structure(tmp_path / "bool.tif", voxel_size=1e-6)


def test_raw_size_mismatch_and_missing_files(tmp_path, s):
    path = save_structure(s, tmp_path / "a.raw")
    with pytest.raises(StructureError, match="holds 60 values"):
        load_structure(path, voxel_size=1e-6, shape=(5, 5, 5))
    with pytest.raises(StructureError, match="not found"):
        load_structure(tmp_path / "missing.npz")
    (tmp_path / "x.vtk").write_text("nope")
    with pytest.raises(StructureError, match="unsupported file type"):
        load_structure(tmp_path / "x.vtk")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(StructureError, match=r"junk\.npz"):
        load_structure(tmp_path / "junk.npz")


def test_voxel_size_units_checked():
    with pytest.raises(StructureError, match="metres"):
        VoxelStructure(np.ones((2, 2, 2), np.uint8), 1.0)  # 1 m: surely µm meant
    with pytest.raises(StructureError, match="positive"):
        VoxelStructure(np.ones((2, 2, 2), np.uint8), -1e-6)


def test_missing_phase_named(s):
    with pytest.raises(StructureError, match="separator.*absent"):
        s.require_phases("cam", "separator")


def test_raw_file_reads_back_through_its_sidecar(tmp_path, s):
    """A .raw written by fem_assb reads back with no arguments (shape, dtype and voxel
    size from FILE.raw.json)."""
    path = save_structure(s, tmp_path / "a.raw")
    t = load_structure(path)
    np.testing.assert_array_equal(t.labels, s.labels)
    assert t.voxel_size == s.voxel_size


def test_vti_keeps_the_voxel_size(tmp_path, s):
    """A VTK image (.vti, for ParaView/GeoDict) reads back with its voxel size."""
    t = load_structure(save_structure(s, tmp_path / "a.vti"))
    np.testing.assert_array_equal(t.labels, s.labels)
    assert t.voxel_size == pytest.approx(s.voxel_size, rel=1e-12)
