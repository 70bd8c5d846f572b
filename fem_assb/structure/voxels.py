"""``VoxelStructure``: a labelled voxel image of a composite cathode (numpy only).

Axes: ``labels[x, y, z]``, x through the thickness from the separator (x = 0) to the
current collector; y/z faces are symmetry planes. Voxels are cubes of edge
``voxel_size`` (m).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fem_assb.structure.phases import PHASE_NAMES, phase_id

# the largest label image fem_assb makes or meshes (2^31 - 1: 32-bit cell indices)
MAX_VOXELS = 2**31 - 1


class StructureError(ValueError):
    """An invalid voxel structure or structure file (the message names file and problem)."""


def box_shape(size_um, voxel_size_um: float) -> tuple[int, int, int]:
    """Voxels per axis of a box of ``size_um`` (x, y, z in µm) at ``voxel_size_um``;
    ``StructureError`` for non-finite or non-positive lengths, a voxel larger than the
    box, or more than ``MAX_VOXELS`` voxels (checked before anything is allocated)."""
    size = [float(v) for v in size_um]
    vs = float(voxel_size_um)
    if len(size) != 3 or not all(np.isfinite(v) and v > 0 for v in size):
        raise StructureError(f"box size must be three finite lengths > 0 µm, got {size_um}")
    if not (np.isfinite(vs) and vs > 0):
        raise StructureError(f"voxel size must be a finite length > 0 µm, got {voxel_size_um}")
    if vs > min(size):
        raise StructureError(f"voxel size {vs:g} µm is larger than the box "
                             f"{' × '.join(f'{v:g}' for v in size)} µm")
    shape = tuple(max(1, int(round(v / vs))) for v in size)
    n = int(np.prod(np.array(shape, dtype=np.float64)))
    if n > MAX_VOXELS:
        raise StructureError(f"{' × '.join(map(str, shape))} = {n:.3g} voxels exceeds the "
                             f"{MAX_VOXELS:,} voxels fem_assb supports (check the voxel "
                             "size: it is in µm here)")
    return shape


def validate_labels(labels, source: str = "labels") -> np.ndarray:
    """Check a label array (3D, integer, known phase ids) and return it as uint8."""
    arr = np.asarray(labels)
    if arr.ndim != 3:
        raise StructureError(
            f"{source}: labels must be a 3D array (x, y, z), got shape {arr.shape}")
    if min(arr.shape) < 1:
        raise StructureError(f"{source}: labels array is empty (shape {arr.shape})")
    if arr.dtype.kind == "b":
        raise StructureError(f"{source}: labels are boolean; phase ids 0–3 are expected")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise StructureError(f"{source}: labels must be integers, got non-integer {arr.dtype}")
    elif arr.dtype.kind not in "iu":
        raise StructureError(f"{source}: labels must be integers, got dtype {arr.dtype}")
    found = np.unique(arr)
    unknown = [v for v in found.tolist() if int(v) not in PHASE_NAMES]
    if unknown:
        known = ", ".join(f"{k} {v}" for k, v in PHASE_NAMES.items())
        raise StructureError(f"{source}: unknown label(s) {unknown}; known phase ids: {known}")
    return arr.astype(np.uint8, copy=False)


@dataclass
class VoxelStructure:
    """A voxel microstructure.

    Attributes:
        labels: uint8 array ``[x, y, z]`` of phase ids (see ``fem_assb.structure.phases``).
        voxel_size: voxel edge length in m.
        metadata: generator name, parameters, seed, ... (JSON-serialisable).
    """

    labels: np.ndarray
    voxel_size: float
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.labels = validate_labels(self.labels)
        vs = float(self.voxel_size)
        if not np.isfinite(vs) or vs <= 0:
            raise StructureError(
                f"voxel_size must be a positive length in m, got {self.voxel_size}")
        if vs > 1e-3 or vs < 1e-9:
            raise StructureError(
                f"voxel_size {vs} m is {'larger than 1 mm' if vs > 1e-3 else 'below 1 nm'}: "
                "give it in metres (e.g. 1e-6 for 1 µm)")
        self.voxel_size = vs

    # -- geometry -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.labels.shape)

    @property
    def lengths(self) -> tuple[float, float, float]:
        """Edge lengths (Lx, Ly, Lz) in m."""
        return tuple(n * self.voxel_size for n in self.shape)

    @property
    def cross_section_area(self) -> float:
        """Area of the y/z face in m²."""
        return self.lengths[1] * self.lengths[2]

    # -- composition ----------------------------------------------------------------
    def volume_fractions(self) -> dict[str, float]:
        """Volume fraction of every phase present, keyed by phase name."""
        counts = np.bincount(self.labels.ravel(), minlength=len(PHASE_NAMES))
        total = self.labels.size
        return {PHASE_NAMES[i]: float(counts[i] / total)
                for i in range(len(counts)) if counts[i] > 0}

    def fraction(self, phase) -> float:
        """Volume fraction of one phase (name or id)."""
        return float(np.count_nonzero(self.labels == phase_id(phase)) / self.labels.size)

    def require_phases(self, *phases, source: str | None = None) -> None:
        """Raise a StructureError naming any of ``phases`` that has no voxel."""
        missing = [str(p) for p in phases if not np.any(self.labels == phase_id(p))]
        if missing:
            where = source or self.metadata.get("source", "structure")
            raise StructureError(f"{where}: phase(s) {', '.join(missing)} absent (no voxel)")

    def summary(self) -> dict:
        """Sizes and fractions as a JSON-ready dict (user units); the theoretical
        capacity is the materials' (``fem_assb.materials.structure_capacity_mAh_cm2``)."""
        lx, ly, lz = self.lengths
        return {
            "shape": list(self.shape),
            "voxels": int(self.labels.size),
            "voxel_size_um": self.voxel_size * 1e6,
            "size_um": [lx * 1e6, ly * 1e6, lz * 1e6],
            "volume_fractions": {k: round(v, 6) for k, v in self.volume_fractions().items()},
            "metadata": self.metadata,
        }

    def copy(self, labels: np.ndarray | None = None, **metadata) -> VoxelStructure:
        """A new structure with the same voxel size, new labels and updated metadata."""
        meta = dict(self.metadata)
        meta.update(metadata)
        return VoxelStructure(self.labels.copy() if labels is None else labels,
                              self.voxel_size, meta)
