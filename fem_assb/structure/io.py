"""Reading and writing voxel structures.

Supported files:

- ``.npz`` (native): ``labels`` (uint8, x/y/z), ``voxel_size`` (m), ``metadata`` (JSON).
- ``.npy``: a 3D integer label array; needs ``voxel_size``.
- ``.tif``/``.tiff``: a multi-page TIFF, one page per x slice (page index = x, rows = y,
  columns = z); needs ``voxel_size``.
- ``.vti``: a VTK image (ParaView, GeoDict): cell data ``labels`` on a grid of
  ``voxel_size`` spacing (the voxel size is read from it).
- ``.raw``/``.bin``: raw bytes; needs ``shape`` (x, y, z), ``voxel_size`` and optionally
  ``dtype`` (default uint8), C order (z fastest), given as arguments or read from the
  sidecar ``FILE.raw.json`` that ``save_structure`` writes beside a raw file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from fem_assb.structure.phases import PHASE_NAMES
from fem_assb.structure.voxels import MAX_VOXELS, StructureError, VoxelStructure, validate_labels

# what numpy raises on empty, truncated or foreign files
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def _check_size(path: Path, shape) -> None:
    """Refuse a label array too large to hold, before reading it."""
    n = float(np.prod(np.array(shape, dtype=np.float64)))
    if n > MAX_VOXELS:
        raise StructureError(f"{path}: declares {' × '.join(map(str, shape))} = {n:.3g} "
                             f"voxels, more than the {MAX_VOXELS:,} fem_assb supports")

SUFFIXES = (".npz", ".npy", ".tif", ".tiff", ".vti", ".raw", ".bin")


def _sidecar(path: Path) -> Path:
    """The JSON file beside a raw file: its shape, dtype and voxel size."""
    return path.with_name(path.name + ".json")


def _need_voxel_size(path: Path, voxel_size):
    if voxel_size is None:
        raise StructureError(
            f"{path}: a {path.suffix} file holds no voxel size; give it (--voxel-size, in m)")
    return voxel_size


def load_structure(path, voxel_size: float | None = None, shape=None,
                   dtype: str = "uint8") -> VoxelStructure:
    """Load a voxel structure from a supported file; errors name the file and the problem.

    Args:
        path: file path.
        voxel_size: voxel edge in m (required for .npy, .tif and raw files; overrides the
            value stored in .npz when given).
        shape: (nx, ny, nz) of a raw file.
        dtype: element type of a raw file.
    """
    path = Path(path)
    if not path.exists():
        raise StructureError(f"structure file not found: {path}")
    suffix = path.suffix.lower()
    meta: dict = {}
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                if "labels" not in data:
                    raise StructureError(f"{path}: no 'labels' array in the .npz file "
                                         f"(found: {', '.join(data.files) or 'nothing'})")
                with data.zip.open("labels.npy") as member:  # its header: the size
                    fmt = np.lib.format
                    version = fmt.read_magic(member)
                    read = fmt.read_array_header_1_0 if version == (1, 0) else \
                        fmt.read_array_header_2_0
                    _check_size(path, read(member)[0])
                labels = data["labels"]
                stored = float(data["voxel_size"]) if "voxel_size" in data else None
                if "metadata" in data:
                    meta = json.loads(str(data["metadata"]))
        except _READ_ERRORS as err:
            if isinstance(err, StructureError):
                raise
            raise StructureError(f"{path}: not a readable .npz file "
                                 f"({type(err).__name__}: {err or 'empty'})") from err
        if voxel_size is None:
            if stored is None:
                raise StructureError(f"{path}: no 'voxel_size' in the .npz file; give one")
            voxel_size = stored
    elif suffix == ".npy":
        voxel_size = _need_voxel_size(path, voxel_size)
        try:  # the header first (memory-mapped): the size is checked before reading
            header = np.load(path, allow_pickle=False, mmap_mode="r")
            _check_size(path, header.shape)
            labels = np.array(header)
            del header
        except _READ_ERRORS as err:
            if isinstance(err, StructureError):
                raise
            raise StructureError(f"{path}: not a readable .npy file "
                                 f"({type(err).__name__}: {err or 'empty'})") from err
    elif suffix in (".tif", ".tiff"):
        voxel_size = _need_voxel_size(path, voxel_size)
        import tifffile

        try:
            labels = tifffile.imread(path)
        except Exception as err:  # tifffile raises several types
            raise StructureError(f"{path}: not a readable TIFF file ({err})") from err
    elif suffix == ".vti":
        import pyvista

        try:
            grid = pyvista.read(path)
            labels = np.asarray(grid.cell_data["labels"]).reshape(
                tuple(n - 1 for n in grid.dimensions), order="F")
            spacing = grid.spacing
        except Exception as err:  # VTK raises several types
            raise StructureError(f"{path}: not a readable VTK image with cell data "
                                 f"'labels' ({type(err).__name__}: {err})") from err
        if voxel_size is None:
            voxel_size = float(spacing[0])
    elif suffix in (".raw", ".bin"):
        side = _sidecar(path)
        if side.is_file():  # shape, dtype and voxel size of a raw file written here
            info = json.loads(side.read_text())
            shape = shape if shape is not None else info.get("shape")
            dtype = info.get("dtype", dtype)
            if voxel_size is None:
                voxel_size = info.get("voxel_size_m")
        voxel_size = _need_voxel_size(path, voxel_size)
        if shape is None or len(shape) != 3:
            raise StructureError(f"{path}: a raw file needs its shape (nx, ny, nz)")
        raw = np.fromfile(path, dtype=np.dtype(dtype))
        if raw.size != int(np.prod(shape)):
            raise StructureError(f"{path}: holds {raw.size} values of {dtype}, "
                                 f"but shape {tuple(shape)} needs {int(np.prod(shape))}")
        labels = raw.reshape(shape)
    else:
        raise StructureError(f"{path}: unsupported file type '{suffix}' "
                             f"(supported: {', '.join(SUFFIXES)})")
    labels = validate_labels(labels, source=str(path))
    meta.setdefault("source", str(path))
    try:
        return VoxelStructure(labels, float(voxel_size), meta)
    except StructureError as err:
        raise StructureError(f"{path}: {err}") from err


def save_structure(structure: VoxelStructure, path) -> Path:
    """Write a structure: ``.npz`` (native), ``.npy``, ``.tif``, ``.vti`` or ``.raw`` by
    suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in ("", ".npz"):
        path = path.with_suffix(".npz")
        np.savez_compressed(path, labels=structure.labels,
                            voxel_size=np.float64(structure.voxel_size),
                            metadata=np.array(json.dumps(structure.metadata, default=str)))
        return path
    if suffix == ".npy":
        np.save(path, structure.labels)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, structure.labels)
    elif suffix == ".vti":  # voxels as cells of a VTK image, in metres
        import pyvista

        grid = pyvista.ImageData(dimensions=tuple(n + 1 for n in structure.shape),
                                 spacing=(structure.voxel_size,) * 3)
        grid.cell_data["labels"] = structure.labels.ravel(order="F")
        grid.save(path)
    elif suffix in (".raw", ".bin"):
        structure.labels.tofile(path)
        _sidecar(path).write_text(json.dumps({
            "shape": list(structure.shape), "dtype": str(structure.labels.dtype),
            "voxel_size_m": structure.voxel_size, "order": "C: x, y, z (z fastest)",
            "labels": {str(k): v for k, v in sorted(PHASE_NAMES.items())}}, indent=2))
    else:
        raise StructureError(f"{path}: unsupported file type '{suffix}'")
    return path
