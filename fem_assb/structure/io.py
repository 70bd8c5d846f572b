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


def load_structure(path: str | Path, voxel_size: float | None = None,
                   shape: tuple[int, int, int] | None = None,
                   dtype: str = "uint8") -> VoxelStructure:
    """Load a voxel structure from a supported file; errors name the file and the problem.

    Parameters
    ----------
    path : str or Path
        ``.npz`` (native), ``.npy``, ``.tif``, ``.vti`` or raw (``.raw``, ``.bin``).
    voxel_size : float, optional
        Voxel edge in m (required for .npy, .tif and raw files; overrides the value
        stored in .npz when given).
    shape : (nx, ny, nz), optional
        Of a raw file (else from its ``.json`` sidecar).
    dtype : str
        Element type of a raw file (else from its sidecar).

    Returns
    -------
    VoxelStructure

    Raises
    ------
    StructureError
        A missing, unreadable or invalid file (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise StructureError(f"structure file not found: {path}")
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise StructureError(f"{path}: unsupported file type '{suffix}' "
                             f"(supported: {', '.join(SUFFIXES)})")
    labels, stored, meta = reader(path, shape=shape, dtype=dtype, voxel_size=voxel_size)
    voxel_size = voxel_size if voxel_size is not None else stored
    if voxel_size is None:
        raise StructureError(
            f"{path}: a {path.suffix} file holds no voxel size; give it (--voxel-size, in m)")
    labels = validate_labels(labels, source=str(path))
    meta.setdefault("source", str(path))
    try:
        return VoxelStructure(labels, float(voxel_size), meta)
    except StructureError as err:
        raise StructureError(f"{path}: {err}") from err


def _unreadable(path: Path, what: str, err: Exception) -> StructureError:
    if isinstance(err, StructureError):
        return err
    return StructureError(f"{path}: not a readable {what} ({type(err).__name__}: "
                          f"{err or 'empty'})")


def _read_npz(path: Path, voxel_size=None, **_) -> tuple:
    """labels, stored voxel size (m) and metadata of the native file."""
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
            meta = json.loads(str(data["metadata"])) if "metadata" in data else {}
    except _READ_ERRORS as err:
        raise _unreadable(path, ".npz file", err) from err
    if stored is None and voxel_size is None:
        raise StructureError(f"{path}: no 'voxel_size' in the .npz file; give one")
    return labels, stored, meta


def _read_npy(path: Path, **_) -> tuple:
    try:  # the header first (memory-mapped): the size is checked before reading
        header = np.load(path, allow_pickle=False, mmap_mode="r")
        _check_size(path, header.shape)
        labels = np.array(header)
        del header
    except _READ_ERRORS as err:
        raise _unreadable(path, ".npy file", err) from err
    return labels, None, {}


def _read_tif(path: Path, **_) -> tuple:
    import logging

    import tifffile

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # its noise: our one line
    try:
        return tifffile.imread(path), None, {}
    except Exception as err:  # tifffile raises several types
        raise StructureError(f"{path}: not a readable TIFF file ({err})") from err


def _read_vti(path: Path, **_) -> tuple:
    import pyvista

    try:
        grid = pyvista.read(path)
        labels = np.asarray(grid.cell_data["labels"]).reshape(
            tuple(n - 1 for n in grid.dimensions), order="F")
        return labels, float(grid.spacing[0]), {}
    except Exception as err:  # VTK raises several types
        raise StructureError(f"{path}: not a readable VTK image with cell data "
                             f"'labels' ({type(err).__name__}: {err})") from err


def _read_raw(path: Path, shape=None, dtype: str = "uint8", voxel_size=None) -> tuple:
    """A raw file; its shape, dtype and voxel size from the arguments, else its sidecar."""
    stored = None
    side = _sidecar(path)
    if side.is_file():  # shape, dtype and voxel size of a raw file written here
        try:
            info = json.loads(side.read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            raise StructureError(f"{side}: not a readable sidecar of {path.name} "
                                 f"({err})") from None
        shape = shape if shape is not None else info.get("shape")
        dtype = info.get("dtype", dtype)
        stored = info.get("voxel_size_m")
    try:
        dt = np.dtype(dtype)
        shape = tuple(int(n) for n in shape) if shape is not None else None
    except (TypeError, ValueError):
        raise StructureError(f"{path}: cannot read the raw file as dtype {dtype!r} and "
                             f"shape {shape!r}") from None
    if shape is None or len(shape) != 3 or min(shape) < 1:
        raise StructureError(f"{path}: a raw file needs its shape (nx, ny, nz), three "
                             f"sizes >= 1, got {shape}")
    _check_size(path, shape)
    raw = np.fromfile(path, dtype=dt)
    if raw.size != int(np.prod(shape)):
        raise StructureError(f"{path}: holds {raw.size} values of {dt}, "
                             f"but shape {shape} needs {int(np.prod(shape))}")
    return raw.reshape(shape), stored, {}


_READERS = {".npz": _read_npz, ".npy": _read_npy, ".tif": _read_tif, ".tiff": _read_tif,
            ".vti": _read_vti, ".raw": _read_raw, ".bin": _read_raw}


def save_structure(structure: VoxelStructure, path: str | Path) -> Path:
    """Write a structure: ``.npz`` (native), ``.npy``, ``.tif``, ``.vti`` or ``.raw`` (with
    a ``.json`` sidecar) by suffix.

    Parameters
    ----------
    structure : VoxelStructure
    path : str or Path

    Returns
    -------
    Path
        The file written.
    """
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
