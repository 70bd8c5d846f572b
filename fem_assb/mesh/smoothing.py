"""Smoothed phase interfaces: vertex displacements of a voxel mesh (numpy/scipy only).

A voxelised sphere has about 1.5x the surface of the sphere at any resolution, and the
interface current density of a discharge is computed on that area. Here the grid vertices
on a phase interface are moved onto a smooth surface; the mesh keeps its cells, tags and
partition, only the coordinates change.

The surface between two materials a and b is the zero level set of

    ψ_ab = (G_σ − k σ²/2 ∇²G_σ) * (1_a − 1_b)

(1_m: indicator of material m; G_σ: Gaussian, σ = 1 voxel). The blur alone shrinks
convex shapes by their mean curvature (a sphere of R voxels by ≈ σ²/R); the second term
undoes that: k = 1 to first order (G_σ = exp(σ²/2 ∇²)), which still leaves a voxelised
sphere 0.4/R voxels too small (2–3 % of its volume at R = 5–8); k = 2 keeps the volume of
the voxels to 1 % at R ≥ 8 (3 % at R = 5, 0.15 % for a 65 % CAM packing) for a slightly
rougher surface: area 103–104.5 % of the sphere's at R = 5–12 (the staircase: 153–149 %).
The materials are CAM, electrolyte (the separator counts as electrolyte), CBD and void.

1. A vertex whose (up to 8) voxels hold exactly two materials is projected onto ψ_ab = 0
   by Newton steps along ∇ψ_ab, kept within ``max_shift`` voxels of its grid position in
   every coordinate (so it stays inside its dual cell). Vertices of three materials stay.
   On a box face the coordinate normal to it is kept (faces stay planes); so is x on the
   separator's plane.
2. The other vertices are relaxed: a few Jacobi sweeps move each toward the mean of its
   six grid neighbours (the same face constraints), spreading the interface's shift into
   the tetrahedra around it.
3. Tetrahedra whose quality drops below ``MIN_QUALITY`` have their vertices' shifts scaled
   by 0.8, a fixed number of passes, then those still below have their vertices put back.
   (Where the surface cuts a voxel diagonally, up to 7 of its corners lie on it and its
   tetrahedra would be flattened or inverted: these vertices stay slightly off it.)

Every step reads only voxels within a fixed number of planes of a vertex, so each rank
computes its planes (plus a margin) and the result does not depend on the partition:
ghost vertices move exactly as their owners do.

Quality: the mean ratio 12 (3V)^(2/3) / Σ l², 1 for the regular tetrahedron, 0.76 for the
Kuhn tetrahedra of an undeformed voxel, ≤ 0 for a degenerate or inverted one.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from fem_assb.mesh.kuhn import CORNERS, KUHN_TETS
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR, VOID

# smoothing material of each phase label (the separator is electrolyte)
_MATERIAL = np.zeros(256, dtype=np.int8)
_MATERIAL[[VOID, CAM, ELECTROLYTE, CBD, SEPARATOR]] = (0, 1, 2, 3, 2)
NUM_MATERIALS = 4

SIGMA = 1.0  # voxels: width of the Gaussian that defines the smooth surface
MAX_SHIFT = 0.5  # voxels: bound on every coordinate of a vertex's displacement
MIN_QUALITY = 0.1  # mean ratio below which a tetrahedron's vertices are pulled back
_TRUNCATE = 4.0  # Gaussian kernel radius in σ
_SHARPEN = 2.0  # k: the ∇² term's weight (see the module docstring)
_PROJECTIONS = 6
_RELAX_SWEEPS = 3
_BACKOFF_PASSES = 10
_BACKOFF = 0.8  # factor on the shifts of a low-quality tetrahedron's vertices, per pass
_RESET_PASSES = 3



def mean_ratio(points: np.ndarray) -> np.ndarray:
    """Mean-ratio quality of tetrahedra, ``points`` (..., 4, 3): 12 (3V)^(2/3) / Σ l²,
    signed like the volume (negative: inverted, for the Kuhn vertex order)."""
    e1, e2, e3 = (points[..., k, :] - points[..., 0, :] for k in (1, 2, 3))
    vol = np.einsum("...i,...i", e1, np.cross(e2, e3)) / 6.0
    edges = [e1, e2, e3, e2 - e1, e3 - e1, e3 - e2]
    l2 = sum(np.einsum("...i,...i", e, e) for e in edges)
    return 12.0 * np.sign(vol) * np.abs(3.0 * vol) ** (2.0 / 3.0) / np.where(l2 > 0, l2, 1.0)


_KUHN_SIGN = np.sign(mean_ratio(CORNERS[KUHN_TETS].astype(np.float64)))


def margin(sigma: float = SIGMA) -> int:
    """Voxel planes beyond a slab that its vertices' displacements depend on."""
    return int(np.ceil(_TRUNCATE * sigma)) + 2 + _RELAX_SWEEPS + _BACKOFF_PASSES \
        + _RESET_PASSES + 2


def _around(voxels: np.ndarray) -> np.ndarray:
    """Bitwise OR, per grid vertex (nx+1, ny+1, nz+1), of the (up to 8) voxels around it
    (a box face sees its own voxels twice)."""
    pad = np.pad(voxels, 1, mode="edge")
    nx, ny, nz = voxels.shape
    out = np.zeros((nx + 1, ny + 1, nz + 1), dtype=voxels.dtype)
    for a, b, c in CORNERS:
        out |= pad[a:a + nx + 1, b:b + ny + 1, c:c + nz + 1]
    return out


def _vertex_materials(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vertex of a voxel block (nx+1, ny+1, nz+1): bit set of the materials of its
    (up to 8) voxels, and the lowest and highest of them."""
    bits = _around((1 << mat.astype(np.uint8)).astype(np.uint8))
    lo = np.zeros_like(bits)
    hi = np.zeros_like(bits)
    for m in range(NUM_MATERIALS - 1, -1, -1):
        lo[(bits >> m & 1).astype(bool)] = m
    for m in range(NUM_MATERIALS):
        hi[(bits >> m & 1).astype(bool)] = m
    return bits, lo, hi


def _sharpened_blur(indicator: np.ndarray, sigma: float) -> np.ndarray:
    """(G_σ − σ²/2 ∇²G_σ) * indicator (voxel units, mirrored at the array's faces)."""
    f = indicator.astype(np.float64)
    return ndimage.gaussian_filter(f, sigma, mode="reflect", truncate=_TRUNCATE) \
        - _SHARPEN * 0.5 * sigma**2 * ndimage.gaussian_laplace(f, sigma, mode="reflect",
                                                   truncate=_TRUNCATE)


# the phase a voxel of a material takes when refinement gives it to that material
_REPRESENTATIVE = {0: VOID, 1: CAM, 2: ELECTROLYTE, 3: CBD}


def refine_smooth(labels: np.ndarray, factor: int, sigma: float = SIGMA) -> np.ndarray:
    """Subdivide every voxel into factor³ voxels that follow the smooth surfaces.

    A sub-voxel takes the material whose sharpened blur (the ψ of the module docstring,
    σ in voxels of ``labels``) is largest at its centre (trilinear interpolation), so
    the refined staircase approximates the smooth surfaces of the coarse voxels, not
    their staircase; smoothing the refined mesh then converges to those surfaces. A
    sub-voxel keeps its voxel's phase where the material agrees; sub-voxels of separator
    voxels stay separator and no other becomes separator (the separator's plane stays).
    """
    mat = _MATERIAL[labels]
    present = [int(m) for m in np.unique(mat)]
    n = np.array(labels.shape)
    best = np.full(tuple(n * factor), -np.inf)
    out_mat = np.zeros(tuple(n * factor), dtype=np.int8)
    # sub-voxel centres in the index space of the coarse voxel centres
    axes = [(np.arange(k * factor) + 0.5) / factor - 0.5 for k in n]
    grid = np.meshgrid(*axes, indexing="ij", sparse=True)
    coords = [np.broadcast_to(g, best.shape) for g in grid]
    for m in present:
        psi = _sharpened_blur(mat == m, sigma)
        val = ndimage.map_coordinates(psi, coords, order=1, mode="nearest")
        take = val > best
        best[take] = val[take]
        out_mat[take] = m
    del best
    coarse = labels
    for axis in range(3):
        coarse = np.repeat(coarse, factor, axis=axis)
    rep = np.array([_REPRESENTATIVE[m] for m in range(NUM_MATERIALS)], dtype=labels.dtype)
    out = np.where(out_mat == _MATERIAL[coarse], coarse, rep[out_mat]).astype(labels.dtype)
    sep = coarse == SEPARATOR
    out[sep] = SEPARATOR
    return out


def _project(psi: np.ndarray, verts: np.ndarray, max_shift: float) -> np.ndarray:
    """Displacement (voxels) of vertices ``verts`` (n, 3; block grid indices) onto the
    zero level set of ``psi`` (sampled at the block's voxel centres)."""
    # (an axis one voxel thick has no gradient along it: its vertices lie on box faces)
    grad = [np.gradient(psi, axis=a) if psi.shape[a] > 1 else np.zeros_like(psi)
            for a in range(3)]
    x0 = verts.astype(np.float64)
    x = x0.copy()
    for _ in range(_PROJECTIONS):
        c = (x - 0.5).T  # voxel-centre index space
        val = ndimage.map_coordinates(psi, c, order=1, mode="nearest")
        g = np.stack([ndimage.map_coordinates(gk, c, order=1, mode="nearest")
                      for gk in grad], axis=1)
        g2 = np.einsum("ij,ij->i", g, g)
        step = -(val / np.where(g2 > 1e-12, g2, np.inf))[:, None] * g
        x = x0 + np.clip(x + step - x0, -max_shift, max_shift)
    return x - x0


def _fix_faces(d: np.ndarray, pinned: np.ndarray) -> None:
    """Zero the displacement components normal to box faces (and pinned x)."""
    d[0, :, :, 0] = d[-1, :, :, 0] = 0.0
    d[:, 0, :, 1] = d[:, -1, :, 1] = 0.0
    d[:, :, 0, 2] = d[:, :, -1, 2] = 0.0
    d[..., 0][pinned] = 0.0


def _bad_vertices(d: np.ndarray) -> np.ndarray:
    """Vertices (block grid) of tetrahedra whose quality is below MIN_QUALITY."""
    nx, ny, nz = (n - 1 for n in d.shape[:3])
    corners = np.stack([d[a:a + nx, b:b + ny, c:c + nz] + (a, b, c)
                        for a, b, c in CORNERS], axis=3)  # (nx, ny, nz, 8, 3)
    bad = np.zeros(d.shape[:3], dtype=bool)
    for tet, sign in zip(KUHN_TETS, _KUHN_SIGN, strict=True):
        low = sign * mean_ratio(corners[:, :, :, tet, :]) < MIN_QUALITY
        if low.any():
            for k in tet:
                a, b, c = CORNERS[k]
                bad[a:a + nx, b:b + ny, c:c + nz] |= low
    return bad


def _block_displacement(labels: np.ndarray, sigma: float, max_shift: float) -> np.ndarray:
    """Displacements (voxels) of all grid vertices of a block of voxel planes."""
    mat = _MATERIAL[labels]
    bits, lo, hi = _vertex_materials(mat)
    nmat = sum((bits >> m & 1).astype(np.int8) for m in range(NUM_MATERIALS))
    d = np.zeros(bits.shape + (3,))
    two = nmat == 2
    blur = {}  # each material's sharpened blur, made once for all its pairs

    def phi(m):
        if m not in blur:
            blur[m] = _sharpened_blur(mat == m, sigma)
        return blur[m]

    for a in range(NUM_MATERIALS):
        for b in range(a + 1, NUM_MATERIALS):
            sel = two & (lo == a) & (hi == b)
            if sel.any():
                verts = np.argwhere(sel)
                d[tuple(verts.T)] = _project(phi(a) - phi(b), verts, max_shift)
    # the separator's plane stays a plane: x of vertices touching separator voxels is kept
    pinned = _around(labels == SEPARATOR)
    _fix_faces(d, pinned)  # (on a cut plane of the block too: beyond the margin)
    # relax the single-material vertices toward the mean of their neighbours
    free = nmat == 1
    for _ in range(_RELAX_SWEEPS):
        p = np.pad(d, ((1, 1), (1, 1), (1, 1), (0, 0)), mode="edge")
        mean = (p[:-2, 1:-1, 1:-1] + p[2:, 1:-1, 1:-1] + p[1:-1, :-2, 1:-1]
                + p[1:-1, 2:, 1:-1] + p[1:-1, 1:-1, :-2] + p[1:-1, 1:-1, 2:]) / 6.0
        d[free] = mean[free]
        _fix_faces(d, pinned)
    for _ in range(_BACKOFF_PASSES):
        bad = _bad_vertices(d)
        d[bad] *= _BACKOFF
    for _ in range(_RESET_PASSES):
        d[_bad_vertices(d)] = 0.0
    return d


def vertex_displacement(labels: np.ndarray, planes: tuple[int, int], sigma: float = SIGMA,
                        max_shift: float = MAX_SHIFT) -> np.ndarray:
    """Displacement, in voxels, of the grid vertices of vertex planes ``planes`` = [p0, p1)
    (0 … nx) of a label array: shape (p1 − p0, ny + 1, nz + 1, 3).

    Reads the voxel planes within ``margin(sigma)`` of the range only; the result for a
    vertex is the same whatever range it is computed in.
    """
    if not 0 < max_shift <= 0.5:
        raise ValueError(f"max_shift must be in (0, 0.5] voxels, got {max_shift}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive (voxels), got {sigma}")
    nx = labels.shape[0]
    p0, p1 = max(int(planes[0]), 0), min(int(planes[1]), nx + 1)
    m = margin(sigma)
    q0, q1 = max(p0 - m, 0), min(p1 + m, nx)
    return _block_displacement(labels[q0:q1], sigma, max_shift)[p0 - q0:p1 - q0]


__all__ = ["MAX_SHIFT", "MIN_QUALITY", "SIGMA", "margin", "mean_ratio", "refine_smooth",
           "vertex_displacement"]
