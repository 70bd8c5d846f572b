"""Stochastic generator of homogeneous composite cathodes (numpy/scipy only).

1. CAM: polydisperse spheres (log-normal diameters) added one by one at random centres
   (random sequential addition) in a box padded by the largest radius, then cropped,
   so that the packing does not change towards the faces. A sphere is accepted when at
   most ``max_overlap`` of its volume already is CAM; the limit is relaxed when the
   packing gets dense. Particles are cut by the box faces (the y/z faces are symmetry
   planes). Adding stops when the CAM voxel count reaches its target (overshoot ≤ one
   particle).
2. CBD: the non-CAM voxels with the highest score are converted, where the score is a
   smoothed CAM indicator (high in necks between particles and on their surfaces) plus a
   smoothed random field (texture). Its voxel count is met exactly.
3. Electrolyte (or pore space) is the rest.

The same seed gives the same structure.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from fem_assb.constants import UM
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE
from fem_assb.structure.voxels import MAX_VOXELS, StructureError, VoxelStructure, box_shape


def _check_fractions(cam_fraction: float, cbd_fraction: float) -> None:
    for name, f in (("cam_fraction", cam_fraction), ("cbd_fraction", cbd_fraction)):
        if not 0.0 <= f <= 1.0:
            raise StructureError(f"{name} must lie in [0, 1], got {f}")
    if cam_fraction + cbd_fraction > 1.0 + 1e-12:
        raise StructureError(
            f"cam_fraction + cbd_fraction = {cam_fraction + cbd_fraction:.3f} exceeds 1")
    if cam_fraction > 0.85:
        raise StructureError(f"cam_fraction {cam_fraction} > 0.85 cannot be packed from spheres")


FRACTION_TOLERANCE = 0.01  # the generator's promise: fractions within 1 vol%


def _check_packing_box(shape, mean_diameter_voxels: float) -> None:
    """Refuse particles so large that the padded packing box (3 mean radii each side)
    would exceed ``MAX_VOXELS`` (a 1000 µm diameter at 1 µm voxels: 25 GiB)."""
    pad = int(np.ceil(1.5 * mean_diameter_voxels)) + 1
    n = int(np.prod([k + 2 * pad for k in shape], dtype=float))
    if n > MAX_VOXELS:
        raise StructureError(
            f"mean_diameter_um of {mean_diameter_voxels:g} voxels needs a packing box of "
            f"{n:,} voxels (more than {MAX_VOXELS:,}): give the particle diameter in µm "
            "and a box several particles wide")


def _report_fractions(labels, cam_fraction: float, cbd_fraction: float, size_um,
                      mean_diameter_um: float) -> None:
    """Warn, with the realised fractions, where the box is too small for the target."""
    cam = float(np.count_nonzero(labels == CAM)) / labels.size
    cbd = float(np.count_nonzero(labels == CBD)) / labels.size
    if abs(cam - cam_fraction) > FRACTION_TOLERANCE or \
            abs(cbd - cbd_fraction) > FRACTION_TOLERANCE:
        box = " × ".join(f"{v:g}" for v in size_um)
        warnings.warn(f"the {box} µm box holds few {mean_diameter_um:g} µm particles: "
                      f"realised CAM {cam:.3f} (asked {cam_fraction:g}), CBD {cbd:.3f} "
                      f"(asked {cbd_fraction:g})", stacklevel=3)


def _sphere_diameters(rng, mean: float, std: float, n: int) -> np.ndarray:
    if std <= 0:
        return np.full(n, mean)
    s2 = np.log1p((std / mean) ** 2)
    d = rng.lognormal(np.log(mean) - 0.5 * s2, np.sqrt(s2), n)
    return np.clip(d, 0.3 * mean, 3.0 * mean)


def pack_spheres(shape, target_voxels: int, mean_radius: float, std_radius: float,
                 rng: np.random.Generator, max_overlap: float = 0.15) -> np.ndarray:
    """Boolean mask of randomly added overlapping spheres (radii in voxels).

    Spheres are placed in a box padded by the largest radius and the overlap test uses
    whole spheres, so the packing statistics do not change towards the faces; the
    result is cropped to ``shape``. ``target_voxels`` counts voxels inside ``shape``.
    """
    pad = int(np.ceil(3.0 * mean_radius)) + 1  # radii are clipped at 3 mean radii
    shape = tuple(int(n) for n in shape)
    full = tuple(n + 2 * pad for n in shape)
    mask = np.zeros(full, dtype=bool)
    full_arr = np.asarray(full, dtype=float)
    inner_lo = np.full(3, pad)
    inner_hi = inner_lo + np.asarray(shape)
    count = 0
    radii = iter(())
    rejected = 0
    while count < target_voxels:
        r = next(radii, None)
        if r is None:  # draw radii in batches
            radii = iter(_sphere_diameters(rng, 2 * mean_radius, 2 * std_radius, 4096) / 2)
            continue
        c = rng.random(3) * full_arr
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, full)
        gx, gy, gz = (np.arange(lo[i], hi[i]) + 0.5 - c[i] for i in range(3))
        ball = (gx[:, None, None] ** 2 + gy[None, :, None] ** 2 + gz[None, None, :] ** 2) <= r * r
        n_ball = int(ball.sum())
        if n_ball == 0:
            continue
        box = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        new = ball & ~box
        if n_ball - int(new.sum()) > max_overlap * n_ball:
            rejected += 1
            if rejected > 300:  # the packing is dense: allow more overlap
                max_overlap = min(1.0, max_overlap + 0.05)
                rejected = 0
            continue
        rejected = 0
        box |= ball
        a = np.maximum(inner_lo - lo, 0)
        b = np.minimum(inner_hi - lo, hi - lo)
        if np.all(b > a):
            count += int(new[a[0]:b[0], a[1]:b[1], a[2]:b[2]].sum())
    return mask[pad:-pad, pad:-pad, pad:-pad]


DEFAULT_CBD_FRACTION = 0.21  # the study's LIB composite (65/14/21 vol%)


def homogeneous(size_um: tuple[float, float, float] = (106.0, 60.0, 60.0),
                voxel_size_um: float = 1.0,
                cam_fraction: float = 0.65, cbd_fraction: float = DEFAULT_CBD_FRACTION,
                mean_diameter_um: float = 8.0, diameter_std_um: float = 2.0,
                cbd_texture_um: float = 1.0, seed: int = 0) -> VoxelStructure:
    """Generate a homogeneous composite cathode of random polydisperse spheres.

    Parameters
    ----------
    size_um : (float, float, float)
        Box edge lengths (x, y, z) in µm; x is the thickness direction.
    voxel_size_um : float
        Voxel edge in µm.
    cam_fraction : float
        Target CAM volume fraction (met within one particle volume; a box of few
        particles misses it: a warning gives the realised fractions).
    cbd_fraction : float
        Target CBD volume fraction (exact to one voxel); 0 for binder-free cathodes.
    mean_diameter_um, diameter_std_um : float
        Log-normal particle diameter distribution (µm).
    cbd_texture_um : float
        Correlation length of the CBD texture (µm).
    seed : int
        Random seed; the same seed gives the same structure.

    Returns
    -------
    VoxelStructure

    Raises
    ------
    StructureError
        Fractions out of range, or particles too large for any box.
    """
    _check_fractions(cam_fraction, cbd_fraction)
    shape = box_shape(size_um, voxel_size_um)
    if not (np.isfinite(mean_diameter_um) and mean_diameter_um > 0
            and np.isfinite(diameter_std_um) and diameter_std_um >= 0):
        raise StructureError("mean_diameter_um must be > 0 and diameter_std_um >= 0 "
                             f"(finite), got {mean_diameter_um}, {diameter_std_um}")
    total = int(np.prod(shape))
    _check_packing_box(shape, mean_diameter_um / voxel_size_um)
    rng = np.random.default_rng(seed)

    cam = pack_spheres(shape, int(round(cam_fraction * total)),
                       0.5 * mean_diameter_um / voxel_size_um,
                       0.5 * diameter_std_um / voxel_size_um, rng)
    labels = np.full(shape, ELECTROLYTE, dtype=np.uint8)
    labels[cam] = CAM

    n_cbd = int(round(cbd_fraction * total))
    if n_cbd > 0:
        free = np.flatnonzero(~cam)
        if n_cbd > free.size:
            raise StructureError("not enough non-CAM voxels for the requested CBD fraction")
        contact = ndimage.gaussian_filter(cam.astype(np.float32), sigma=1.0 / voxel_size_um,
                                          mode="reflect")
        noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                                        sigma=max(cbd_texture_um / voxel_size_um, 0.5))
        noise /= noise.std() + 1e-12
        score = (contact + 0.25 * noise).ravel()[free]
        chosen = free[np.argpartition(-score, n_cbd - 1)[:n_cbd]]
        labels.ravel()[chosen] = CBD

    _report_fractions(labels, cam_fraction, cbd_fraction, size_um, mean_diameter_um)
    meta = {"generator": "homogeneous", "size_um": list(size_um),
            "voxel_size_um": voxel_size_um, "cam_fraction": cam_fraction,
            "cbd_fraction": cbd_fraction, "mean_diameter_um": mean_diameter_um,
            "diameter_std_um": diameter_std_um, "seed": seed}
    return VoxelStructure(labels, voxel_size_um * UM, meta)


def voxelise_spheres(centres_um, radii_um, size_um, voxel_size_um: float = 1.0,
                     phase: int = CAM, background: int = ELECTROLYTE) -> VoxelStructure:
    """Voxel structure of given spheres (e.g. a packing from a DEM code): voxels whose
    centre lies in a sphere get ``phase``, the others ``background``.

    Args:
        centres_um: (n, 3) sphere centres in µm (x through the thickness).
        radii_um: (n,) radii in µm.
        size_um: box edge lengths (x, y, z) in µm; spheres are cut by the box.
        voxel_size_um: voxel edge in µm.
    """
    centres = np.atleast_2d(np.asarray(centres_um, dtype=float))
    radii = np.atleast_1d(np.asarray(radii_um, dtype=float))
    if centres.shape != (radii.size, 3) or not np.all(radii > 0):
        raise StructureError(f"spheres need (n, 3) centres and n radii > 0 (µm), got "
                             f"{centres.shape} centres and {radii.size} radii")
    shape = box_shape(size_um, voxel_size_um)
    h = voxel_size_um
    labels = np.full(shape, background, dtype=np.uint8)
    for c, r in zip(centres, radii, strict=True):
        lo = np.maximum(np.floor((c - r) / h).astype(int), 0)
        hi = np.minimum(np.ceil((c + r) / h).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        g = [(np.arange(lo[k], hi[k]) + 0.5) * h - c[k] for k in range(3)]
        inside = (g[0][:, None, None] ** 2 + g[1][None, :, None] ** 2
                  + g[2][None, None, :] ** 2) <= r * r
        labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = phase
    meta = {"generator": "spheres", "size_um": list(size_um), "voxel_size_um": h,
            "spheres": int(radii.size)}
    return VoxelStructure(labels, h * UM, meta)
