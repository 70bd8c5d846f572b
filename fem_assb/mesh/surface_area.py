"""The smoothed interfaces' true area: a factor on the facet areas of a smoothed voxel mesh.

Smoothing (``fem_assb.mesh.smoothing``) moves the interface vertices of a voxel mesh onto
the zero level set of ψ_ab, but the facets keep the staircase's connectivity: where the
surface cuts voxels diagonally, vertices stay off it (to keep the tetrahedra's quality)
and the facets fold. Measured on the study's cell (106 × 20 × 20 µm, 1 µm voxels): the
smoothed CAM|SE facets hold 14.2 % more area than the level set they stand for; with
every voxel split into 8, 0.1 %. An ASSB discharge's capacity goes about with the area
squared (the skin saturates after a time that goes with the flux density squared), so
the pair 1 µm / 0.5 µm differed by 21 %.

The interface terms therefore weigh each facet by its area times

    κ(x) = (G_S * a_ls)(x) / (G_S * a_mesh)(x)

- a_ls: the level set's area per (coarse) voxel — marching tetrahedra on the trilinear
  interpolant of ψ_ab between voxel centres (the surface that ``refine_smooth``
  follows), sampled UPSAMPLE times per voxel edge (area within 0.1 % of 8 samples'),
  only where a and b are the two materials of largest blur;
- a_mesh: the smoothed mesh's a|b facet area per (coarse) voxel (each facet by its
  centroid), made from the same label array and vertex displacements as the mesh;
- G_S: a Gaussian of SPREAD voxels, so that κ varies smoothly along the surface.

The factor refers to the coarse voxels of the structure: a mesh refined ``factor`` times
is corrected to the same surface (its own facets are within 0.1 % of it). The totals
match the level set's area to 0.6 % (1 µm) and 0.4 % (0.5 µm) on the study's cell.

Like the smoothing, every value reads a fixed number of voxel planes around it: each
rank computes the planes of its vertices (plus margins), with the same result as serial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fem_assb.mesh import smoothing
from fem_assb.mesh.kuhn import CORNERS, KUHN_TETS
from fem_assb.mesh.smoothing import NUM_MATERIALS, SIGMA

CAM_MATERIAL = 1  # smoothing material of the CAM
PARTNERS = (2, 3)  # the CAM's Butler–Volmer partners: electrolyte (separator incl.), CBD
UPSAMPLE = 4  # level-set samples per voxel edge
SPREAD = 2.0  # voxels: σ of the Gaussian over which the areas are matched
_TRUNCATE = 4.0
_CHUNK = 4  # voxel planes per marching-tetrahedra pass (bounds its memory)


def _blur_margin() -> int:
    return int(np.ceil(_TRUNCATE * SPREAD)) + 2


def _psi_margin() -> int:
    return int(np.ceil(_TRUNCATE * SIGMA)) + 2


def _deposit(shape, points: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Sum of ``areas`` per voxel of a block (``points`` in its voxel units)."""
    ijk = np.clip(np.floor(points).astype(np.int64), 0, np.array(shape) - 1)
    return np.bincount(np.ravel_multi_index(ijk.T, shape), weights=areas,
                       minlength=int(np.prod(shape))).reshape(shape)


# the Kuhn tetrahedra's isosurface pieces: a triangle around one vertex apart, or a quad
# between two pairs (its corners on the edges a0-b0, a0-b1, a1-b1, a1-b0, in cycle)
_ISOLATED = [(i, [j for j in range(4) if j != i]) for i in range(4)]
_PAIRS = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]


def _crossing(v, p, a: int, b: int) -> np.ndarray:
    """Point (cube units) where the linear interpolant of the tetrahedron's values
    ``v`` (4, n) at corners ``p`` (4, 3) vanishes on the edge a-b."""
    t = v[a] / (v[a] - v[b])
    return p[a][None, :] + t[:, None] * (p[b] - p[a])[None, :]


def _tet_areas(v: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Area (cube units²) of the zero set of the linear interpolant in each of n
    tetrahedra with corner values ``v`` (4, n) at corners ``p`` (4, 3)."""
    neg = v < 0
    count = neg.sum(axis=0)
    area = np.zeros(v.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, rest in _ISOLATED:
            sel = np.flatnonzero(((count == 1) & neg[i]) | ((count == 3) & ~neg[i]))
            if sel.size:
                q0, q1, q2 = (_crossing(v[:, sel], p, i, j) for j in rest)
                area[sel] = 0.5 * np.linalg.norm(np.cross(q1 - q0, q2 - q0), axis=1)
        for (a0, a1), (b0, b1) in _PAIRS:
            sel = np.flatnonzero((count == 2) & (neg[a0] == neg[a1]))
            if sel.size:
                vs = v[:, sel]
                q = [_crossing(vs, p, a, b) for a, b in ((a0, b0), (a0, b1), (a1, b1), (a1, b0))]
                area[sel] = 0.5 * np.linalg.norm(np.cross(q[2] - q[0], q[3] - q[1]), axis=1)
    return area


def _contour_area(psi: np.ndarray, keep: np.ndarray | None, x0: int, x1: int):
    """Area (voxel²) per voxel of planes [x0, x1) of the zero set of the trilinear
    interpolant of ``psi`` (sampled at voxel centres): marching tetrahedra (Kuhn) on
    UPSAMPLE³ sub-cubes per voxel, in float64 from each sub-cube's own values, so the
    result does not depend on the block it is computed in. ``keep``: a function of the
    sub-cube centres (voxel units, (n, 3)) → bool, or None."""
    up = UPSAMPLE
    axes = [np.arange(x0 * up, x1 * up + 1) / up] + \
        [np.arange(n * up + 1) / up for n in psi.shape[1:]]
    grid = np.meshgrid(*axes, indexing="ij", sparse=True)
    coords = [np.broadcast_to(g, tuple(a.size for a in axes)).ravel() - 0.5 for g in grid]
    val = ndimage.map_coordinates(psi, coords, order=1, mode="reflect").reshape(
        tuple(a.size for a in axes))
    del coords
    n = tuple(a.size - 1 for a in axes)
    corner = [val[a:a + n[0], b:b + n[1], c:c + n[2]].ravel() for a, b, c in CORNERS]
    area = np.zeros(int(np.prod(n)))
    for tet in KUHN_TETS:
        area += _tet_areas(np.stack([corner[k] for k in tet]), CORNERS[tet].astype(float))
    area = area.reshape(n) / up**2
    if keep is not None:
        idx = np.argwhere(area > 0)
        centres = (idx + 0.5) / up
        centres[:, 0] += x0
        area[tuple(idx.T)] *= keep(centres)
    shape = (x1 - x0, psi.shape[1], psi.shape[2])
    return area.reshape(shape[0], up, shape[1], up, shape[2], up).sum(axis=(1, 3, 5))


def _level_set_area(blur: dict, b: int, shape) -> np.ndarray:
    """Area (voxel²) per voxel of the CAM|b surface: ψ = φ_CAM − φ_b = 0 where no other
    material's blur exceeds theirs."""
    psi = blur[CAM_MATERIAL] - blur[b]
    others = [phi for m, phi in blur.items() if m not in (CAM_MATERIAL, b)]

    def keep(points):
        c = (points - 0.5).T
        top = ndimage.map_coordinates(blur[CAM_MATERIAL], c, order=1, mode="reflect")
        ok = np.ones(points.shape[0], dtype=bool)
        for phi in others:
            ok &= ndimage.map_coordinates(phi, c, order=1, mode="reflect") <= top
        return ok

    return np.concatenate([_contour_area(psi, keep if others else None, x0,
                                         min(x0 + _CHUNK, shape[0]))
                           for x0 in range(0, shape[0], _CHUNK)])


def _mesh_face_area(mat: np.ndarray, d: np.ndarray, b: int, factor: int,
                    shape) -> np.ndarray:
    """Area (coarse voxel²) per coarse voxel of the smoothed mesh's CAM|b facets: the
    Kuhn triangles (diagonal from a face's lowest to its highest corner) of the voxel
    faces between CAM and b, their vertices displaced by ``d`` (fine voxels)."""
    grid = np.stack(np.meshgrid(*[np.arange(n + 1) for n in mat.shape], indexing="ij"),
                    axis=-1) + d
    out = np.zeros(shape)
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        m0, m1 = mat[tuple(lo)], mat[tuple(hi)]
        idx = np.argwhere(((m0 == CAM_MATERIAL) & (m1 == b)) | ((m0 == b) & (m1 == CAM_MATERIAL)))
        idx[:, ax] += 1  # the face's vertex plane
        u, v = (k for k in range(3) if k != ax)

        def corner(du, dv, idx=idx, u=u, v=v):
            c = idx.copy()
            c[:, u] += du
            c[:, v] += dv
            return grid[tuple(c.T)]

        p00, p11 = corner(0, 0), corner(1, 1)
        for q in (corner(1, 0), corner(0, 1)):
            area = 0.5 * np.linalg.norm(np.cross(q - p00, p11 - p00), axis=1)
            out += _deposit(shape, (p00 + q + p11) / (3.0 * factor), area / factor**2)
    return out


@dataclass(frozen=True)
class AreaCorrection:
    """κ per CAM partner material on coarse voxel planes [x0, x0 + n) of a structure with
    voxel edge ``voxel_size`` (m)."""

    x0: int
    voxel_size: float
    fields: dict  # partner material -> κ (n, ny, nz)

    def __call__(self, phase: int, points: np.ndarray) -> np.ndarray:
        """κ at ``points`` (m, (k, 3)) of facets between the CAM and a phase (label)."""
        field_ = self.fields.get(int(smoothing._MATERIAL[phase]))
        if field_ is None or points.shape[0] == 0:
            return np.ones(points.shape[0])
        c = points / self.voxel_size - 0.5
        c[:, 0] -= self.x0
        return ndimage.map_coordinates(field_, c.T, order=1, mode="nearest")


def area_correction(coarse: np.ndarray, fine: np.ndarray, factor: int,
                    planes: tuple[int, int], voxel_size: float) -> AreaCorrection:
    """The factor κ for coarse voxel planes ``planes`` = [r0, r1) of a label array
    ``coarse`` (voxel edge ``voxel_size``, m), whose mesh was made of ``fine`` (``coarse``
    split ``factor`` times, ``refine_smooth``). Reads planes within margins of the range
    only; the same values whatever range they are computed in."""
    nx = coarse.shape[0]
    r0, r1 = max(int(planes[0]), 0), min(int(planes[1]), nx)
    mb = _blur_margin()
    q0, q1 = max(r0 - mb, 0), min(r1 + mb, nx)  # the block whose areas are blurred
    p0, p1 = max(q0 - _psi_margin(), 0), min(q1 + _psi_margin(), nx)
    mat = smoothing._MATERIAL[coarse[p0:p1]]
    shape = (q1 - q0,) + coarse.shape[1:]
    blur = {m: smoothing._sharpened_blur(mat == m, SIGMA)[q0 - p0:q1 - p0]
            for m in range(NUM_MATERIALS) if np.any(mat == m)}
    fine_mat = smoothing._MATERIAL[fine[q0 * factor:q1 * factor]]
    d = smoothing.vertex_displacement(fine, (q0 * factor, q1 * factor + 1))
    fields = {}
    for b in PARTNERS:
        if CAM_MATERIAL not in blur or b not in blur:
            continue
        g_ls, g_mesh = (ndimage.gaussian_filter(a, SPREAD, mode="reflect", truncate=_TRUNCATE)
                        for a in (_level_set_area(blur, b, shape),
                                  _mesh_face_area(fine_mat, d, b, factor, shape)))
        ok = g_mesh > 1e-9
        kappa = np.where(ok, g_ls / np.where(ok, g_mesh, 1.0), 1.0)
        fields[b] = kappa[r0 - q0:r1 - q0]
    return AreaCorrection(r0, voxel_size, fields)


__all__ = ["AreaCorrection", "PARTNERS", "SPREAD", "UPSAMPLE", "area_correction"]
