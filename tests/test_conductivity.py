"""Effective conductivity: exact layered media (FV and FEM), FV against an independent
TPFA, the FV/FEM bracket and its limit, convergence, percolation, MPI."""

import numpy as np
import pytest

from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity, extrapolated_limit
from fem_assb.analysis.percolation import PercolationError
from fem_assb.structure import CAM, CBD, ELECTROLYTE, SEPARATOR, StructureError, VoxelStructure


def _layers(axis_of_layers: int):
    labels = np.full((12, 6, 6), ELECTROLYTE, np.uint8)
    sl = [slice(None)] * 3
    sl[axis_of_layers] = slice(2, 5)  # 3 of ... CBD layers
    labels[tuple(sl)] = CBD
    return VoxelStructure(labels, 1e-6)


@pytest.mark.parametrize("method, solver", [("fem", "direct"), ("fem", "iterative"),
                                            ("fv", "auto"), ("bracket", "auto")])
def test_series_layers_harmonic_mean(method, solver):
    s = _layers(0)  # CBD layer normal to x: series
    f = 3 / 12
    exact = 1 / ((1 - f) / 1.0 + f / 0.12)
    r = effective_conductivity(s, ["electrolyte", "cbd"], solver=solver, method=method)
    tol = 1e-10 if method == "fv" else 1e-8
    assert r.relative_conductivity == pytest.approx(exact, rel=tol)
    assert r.tortuosity_factor == pytest.approx(1.0 / exact, rel=tol)
    assert r.method == method


@pytest.mark.parametrize("method", ["fem", "fv"])
@pytest.mark.parametrize("axis", ["x", "y"])
def test_parallel_layers_arithmetic_mean(axis, method):
    s = _layers(2)  # CBD layer normal to z: parallel for x and y
    f = 3 / 6
    r = effective_conductivity(s, ["electrolyte", "cbd"], axis=axis,
                               factors={"cbd": 0.3}, method=method)
    assert r.relative_conductivity == pytest.approx((1 - f) + f * 0.3,
                                                    rel=1e-10 if method == "fv" else 1e-8)


@pytest.mark.parametrize("method", ["fem", "fv"])
def test_checkerboard_of_columns(method):
    """Columns along x in a (y, z) checkerboard touch only along edges: each conducts on
    its own (face connectivity), half the section."""
    labels = np.full((7, 6, 6), CAM, np.uint8)
    j, k = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    labels[:, (j + k) % 2 == 0] = ELECTROLYTE
    r = effective_conductivity(VoxelStructure(labels, 1e-6), "electrolyte", method=method)
    assert r.relative_conductivity == pytest.approx(0.5, rel=1e-10)


def _tpfa_reference(sigma: np.ndarray) -> float:
    """Two-point flux finite volumes written plainly (loops, scipy): σ_eff/σ along axis 0
    on the voxels face-connected to both end faces (scipy.ndimage labelling)."""
    from scipy import ndimage, sparse
    from scipy.sparse.linalg import spsolve

    lab, _ = ndimage.label(sigma > 0)  # face connectivity (the default structure)
    through = np.intersect1d(lab[0][lab[0] > 0], lab[-1][lab[-1] > 0])
    sig = np.where(np.isin(lab, through), sigma, 0.0)
    nx, ny, nz = sig.shape
    index = -np.ones(sig.shape, dtype=int)
    cells = list(zip(*np.nonzero(sig > 0), strict=True))
    for n, c in enumerate(cells):
        index[c] = n
    A = sparse.lil_matrix((len(cells), len(cells)))
    b = np.zeros(len(cells))
    for n, (i, j, k) in enumerate(cells):
        s0 = sig[i, j, k]
        for di, dj, dk in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
            ii, jj, kk = i + di, j + dj, k + dk
            if 0 <= ii < nx and 0 <= jj < ny and 0 <= kk < nz and sig[ii, jj, kk] > 0:
                s1 = sig[ii, jj, kk]
                g = 2 * s0 * s1 / (s0 + s1)
                A[n, n] += g
                A[n, index[ii, jj, kk]] -= g
        if i == 0:
            A[n, n] += 2 * s0
            b[n] += 2 * s0
        if i == nx - 1:
            A[n, n] += 2 * s0
    u = spsolve(A.tocsr(), b)
    inlet = [n for n, c in enumerate(cells) if c[0] == 0]
    current = sum(2 * sig[cells[n]] * (1 - u[n]) for n in inlet)
    return current * nx / (ny * nz)


@pytest.mark.mpi
def test_fv_equals_independent_tpfa():
    rng = np.random.default_rng(7)
    labels = rng.choice(np.array([ELECTROLYTE, CBD, SEPARATOR, CAM], np.uint8), size=(20,) * 3,
                        p=[0.45, 0.15, 0.2, 0.2])
    s = VoxelStructure(labels, 1e-6)
    phases = ["electrolyte", "cbd", "separator"]
    r = effective_conductivity(s, phases, method="fv", comm=MPI.COMM_WORLD)
    lut = np.zeros(256)
    lut[[ELECTROLYTE, CBD, SEPARATOR]] = [1.0, 0.12, 0.5]
    assert r.relative_conductivity == pytest.approx(_tpfa_reference(lut[labels]), rel=1e-8)


@pytest.mark.mpi
@pytest.mark.parametrize("weights", ["even", "last", "first"])
def test_slab_percolation_equals_whole_array(weights):
    """Each rank labels its own slab; clusters joined across slab boundaries (and across
    empty slabs) give the whole array's through-going set, and the FV value of the
    slabs equals the independent TPFA's."""
    from fem_assb.analysis.finite_volume import fv_relative_conductivity
    from fem_assb.analysis.percolation import percolating_mask, percolating_slab
    from fem_assb.mesh.voxel_mesh import slab_bounds

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(11)
    for shape, p in (((30, 12, 12), 0.6), ((40, 9, 9), 0.45), ((2, 5, 5), 0.7)):
        mask = rng.random(shape) < p
        w = {"even": np.ones(shape[0]), "last": np.eye(shape[0])[-1],
             "first": np.eye(shape[0])[0]}[weights]
        bounds = slab_bounds(None, comm.size, w)
        x0, x1 = int(bounds[comm.rank]), int(bounds[comm.rank + 1])
        whole = percolating_mask(mask)
        assert np.array_equal(percolating_slab(mask[x0:x1], comm), whole[x0:x1])
        labels = np.where(whole, ELECTROLYTE, CAM).astype(np.uint8)
        lut = np.zeros(256)
        lut[ELECTROLYTE] = 1.0
        rel, n = fv_relative_conductivity(labels[x0:x1], x0, shape[0], lut, comm)
        assert n == whole.sum()
        assert rel == pytest.approx(_tpfa_reference(lut[labels]), rel=1e-9)


@pytest.mark.mpi
def test_fv_multigrid_equals_independent_tpfa():
    """Above a few ten thousand unknowns fv's CG is preconditioned by voxel-block
    multigrid (levels of 2 × 2 × 2 aggregates, slabs aligned to the blocks): the same
    answer as the independent TPFA, serial and on 2 ranks."""
    from fem_assb.analysis import finite_volume

    rng = np.random.default_rng(5)
    labels = rng.choice(np.array([ELECTROLYTE, CBD, CAM], np.uint8), size=(48, 30, 30),
                        p=[0.55, 0.15, 0.3])
    assert np.count_nonzero(labels != CAM) > 8 * finite_volume._COARSEST
    r = effective_conductivity(VoxelStructure(labels, 1e-6), ["electrolyte", "cbd"],
                               method="fv", comm=MPI.COMM_WORLD)
    lut = np.zeros(256)
    lut[[ELECTROLYTE, CBD]] = [1.0, 0.12]
    assert r.relative_conductivity == pytest.approx(_tpfa_reference(lut[labels]), rel=1e-8)
    # the solver's options (its prefix, the Galerkin product's algorithm) are not left
    # in PETSc's global database for the next solve
    from fem_assb._dolfinx import PETSc

    left = PETSc.Options().getAll()
    assert "matptap_via" not in left and not any(k.startswith("fem_assb_fv") for k in left)


def test_fv_single_plane():
    """One plane between the two end faces: every voxel conducts through two half-voxels
    in series (σ_eff/σ = the conducting share of the section)."""
    labels = np.full((1, 4, 4), CAM, np.uint8)
    labels[0, :2, :] = ELECTROLYTE
    r = effective_conductivity(VoxelStructure(labels, 1e-6), "electrolyte", method="fv")
    assert r.relative_conductivity == pytest.approx(0.5, rel=1e-12)


def test_bracket_contains_the_limit():
    """On a sphere packing, FV rises and FEM falls under subdivision; the bracket at each
    level contains the four-point limit, and the midpoint at refine 1 is within the
    refine-2 bracket (measured 40 × 24 × 24 voxels, 35 % pores: FV 0.1263 / 0.1382 /
    0.1419 at refine 1 / 2 / 3, FEM 0.1684 / 0.1566, limit 0.1475, midpoint 0.1473)."""
    from fem_assb.structure import homogeneous

    s = homogeneous(size_um=(16.0, 10.0, 10.0), voxel_size_um=1.0, cbd_fraction=0.0,
                    mean_diameter_um=5.0, seed=3)
    b1 = effective_conductivity(s, "electrolyte", method="bracket")
    ex = effective_conductivity(s, "electrolyte", method="extrapolated")
    assert b1.lower_bound < ex.lower_bound < ex.relative_conductivity < ex.upper_bound \
        < b1.upper_bound
    assert ex.lower_bound < b1.relative_conductivity < ex.upper_bound
    assert b1.relative_conductivity == pytest.approx(0.5 * (b1.lower_bound + b1.upper_bound))
    # the closed form recovers the limit of two sequences with one order
    L, p = 0.3, 1.3
    fem = [L + 0.2 * h**p for h in (1.0, 0.5)]
    fv = [L - 0.1 * h**p for h in (1.0, 0.5)]
    assert extrapolated_limit(fv[0], fem[0], fv[1], fem[1]) == pytest.approx(L, rel=1e-12)


def test_dead_ends_and_islands_carry_no_current():
    labels = np.full((8, 4, 4), CAM, np.uint8)
    labels[:, :2, :2] = ELECTROLYTE  # a straight channel: 4/16 of the section
    labels[:4, 3, 3] = ELECTROLYTE  # dead end from x = 0
    labels[5, 3, 0] = ELECTROLYTE  # floating island
    r = effective_conductivity(VoxelStructure(labels, 1e-6), "electrolyte")
    assert r.relative_conductivity == pytest.approx(4 / 16, rel=1e-10)
    assert r.percolating_fraction == pytest.approx(32 / 37)


def test_refinement_converges(small_assb):
    vals = [effective_conductivity(small_assb, "electrolyte", refine=k,
                                   method="fem").relative_conductivity for k in (1, 2, 3)]
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
    with pytest.raises(StructureError, match="method"):
        effective_conductivity(s, "electrolyte", method="tpfa")


@pytest.mark.mpi
@pytest.mark.parametrize("phases", [["electrolyte", "cbd"], ["electrolyte"]])
def test_serial_equals_parallel(small_lib, phases):
    from fem_assb.structure import to_solid_electrolyte

    s = small_lib if "cbd" in phases else to_solid_electrolyte(small_lib)
    par = effective_conductivity(s, phases, comm=MPI.COMM_WORLD)
    ser = effective_conductivity(s, phases, comm=MPI.COMM_SELF)
    assert par.relative_conductivity == pytest.approx(ser.relative_conductivity, rel=1e-10)
    assert par.lower_bound == pytest.approx(ser.lower_bound, rel=1e-10)  # FV
    it = effective_conductivity(s, phases, comm=MPI.COMM_WORLD, solver="iterative")
    assert it.relative_conductivity == pytest.approx(ser.relative_conductivity, rel=1e-10)
