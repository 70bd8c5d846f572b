"""Voxel meshes: volumes, tags, interface areas (serial and MPI), face connectivity."""

import numpy as np
import pytest
import ufl

from fem_assb._dolfinx import MPI, fem
from fem_assb.mesh import build_mesh, tags
from fem_assb.physics.chemistry import chemistry
from fem_assb.structure import CAM, ELECTROLYTE, SEPARATOR, VoxelStructure


def _volume(vm, tag=None):
    dx = ufl.Measure("dx", domain=vm.mesh, subdomain_data=vm.cell_tags)
    form = fem.Constant(vm.mesh, 1.0) * (dx if tag is None else dx(tag))
    return vm.comm.allreduce(fem.assemble_scalar(fem.form(form)), op=MPI.SUM)


@pytest.mark.mpi
def test_cell_mesh_volumes_tags_and_interface_areas(small_assb, face_count):
    cell = chemistry("solid").virtual_cell(small_assb, 3.0)
    vm = build_mesh(cell)
    h3 = cell.voxel_size**3
    assert vm.num_cells_global() == 6 * cell.labels.size
    assert _volume(vm) == pytest.approx(cell.labels.size * h3, rel=1e-12)
    for pid in (CAM, ELECTROLYTE, SEPARATOR):
        n = np.count_nonzero(cell.labels == pid)
        assert _volume(vm, pid) == pytest.approx(n * h3, rel=1e-12)
    h2 = cell.voxel_size**2
    # the check that catches interface facets lost on partition boundaries
    assert vm.facet_area(tags.CAM_ELECTROLYTE) == pytest.approx(
        face_count(cell.labels, CAM, ELECTROLYTE) * h2, rel=1e-12)
    assert vm.facet_area(tags.CAM_SEPARATOR) == pytest.approx(
        face_count(cell.labels, CAM, SEPARATOR) * h2, rel=1e-12)
    ly, lz = cell.lengths[1:]
    assert vm.facet_area(tags.X0) == pytest.approx(ly * lz, rel=1e-12)
    assert vm.facet_area(tags.X1) == pytest.approx(ly * lz, rel=1e-12)
    assert vm.facet_area(tags.Y0) == pytest.approx(cell.lengths[0] * lz, rel=1e-12)


@pytest.mark.mpi
@pytest.mark.parametrize("partition", ["slab", "graph"])
def test_partitions_keep_every_cell_once(small_assb, partition):
    vm = build_mesh(small_assb, partition=partition)
    imap = vm.mesh.topology.index_map(3)
    assert imap.size_global == 6 * small_assb.labels.size
    owned = vm.cell_voxel[: imap.size_local]
    counts = np.bincount(np.concatenate(vm.comm.allgather(owned)),
                         minlength=small_assb.labels.size)
    assert np.all(counts == 6)


def test_subset_mesh_and_refinement(small_lib):
    vm = build_mesh(small_lib, phases=["electrolyte", "cbd"], refine=2)
    n = np.count_nonzero(np.isin(small_lib.labels, (2, 3)))
    assert vm.num_cells_global() == 6 * 8 * n
    assert _volume(vm) == pytest.approx(n * small_lib.voxel_size**3, rel=1e-12)


def _edge_pair():
    """Two phase-2 voxels that share only an edge (along z), phase-1 voxels beside."""
    labels = np.full((2, 2, 1), CAM, np.uint8)
    labels[0, 0, 0] = labels[1, 1, 0] = ELECTROLYTE
    return VoxelStructure(labels, 1e-6)


def test_face_connectivity_splits_edge_contacts():
    s = _edge_pair()
    face = build_mesh(s, phases="electrolyte", connectivity="face")
    vert = build_mesh(s, phases="electrolyte", connectivity="vertex")
    nv = lambda vm: vm.mesh.topology.index_map(0).size_global  # noqa: E731
    assert nv(face) == 16  # two separate cubes
    assert nv(vert) == 14  # the shared edge's two vertices are merged
    # the whole (conforming) two-phase mesh never splits: phases touch through faces
    assert build_mesh(s, connectivity="face").mesh.topology.index_map(0).size_global == 18


def test_checkerboard_columns_are_exact():
    # a y/z checkerboard of columns along x: every column touches its diagonal
    # neighbours only along edges. Split or not, the field is linear in x.
    from fem_assb.analysis.conductivity import effective_conductivity

    j, k = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    labels = np.where((j + k) % 2 == 0, ELECTROLYTE, CAM).astype(np.uint8)
    s = VoxelStructure(np.repeat(labels[None], 5, axis=0), 1e-6)
    for conn in ("face", "vertex"):
        r = effective_conductivity(s, "electrolyte", connectivity=conn)
        assert r.relative_conductivity == pytest.approx(0.5, rel=1e-10)


def test_xdmf_export(tmp_path, small_assb):
    vm = build_mesh(small_assb)
    vm.write_xdmf(tmp_path / "m.xdmf")
    assert (tmp_path / "m.xdmf").stat().st_size > 0 and (tmp_path / "m.h5").stat().st_size > 0
