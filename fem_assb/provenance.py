"""Where a result comes from: software versions, git commit, command line, rank count,
and checksums of the parameter set and the structure, so that a number in a paper can
be traced and rerun. Written into summary.json, study.json and study result rows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fem_assb import __version__


@functools.cache
def git_commit() -> str | None:
    """The commit of the fem_assb source tree (None outside a git checkout), with
    '+dirty' when it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def software() -> dict:
    """Versions of fem_assb (and its git commit), DOLFINx, PETSc and Python."""
    out = {"fem_assb_version": __version__, "git_commit": git_commit(),
           "python_version": platform.python_version()}
    if "dolfinx" in sys.modules:
        import dolfinx

        out["dolfinx_version"] = dolfinx.__version__
        from petsc4py import PETSc

        out["petsc_version"] = ".".join(map(str, PETSc.Sys.getVersion()))
    return out


def digest(data) -> str:
    """sha256 of a JSON-serialisable object (keys sorted: the same data, the same hash)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def structure_digest(structure) -> str:
    """sha256 of a voxel structure's labels, shape and voxel size."""
    h = hashlib.sha256()
    h.update(json.dumps([list(structure.shape), structure.voxel_size]).encode())
    h.update(structure.labels.tobytes(order="C"))
    return h.hexdigest()


def record(params=None, structure=None, ranks: int = 1) -> dict:
    """The provenance of one run: software, command line, ranks, time (UTC), and the
    checksums of the resolved parameter set and of the structure (with its seed)."""
    out = {**software(), "command": " ".join(sys.argv), "ranks": int(ranks),
           "created_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    if params is not None:
        out["parameters_sha256"] = digest(params.model_dump(mode="json"))
    if structure is not None:
        out["structure_sha256"] = structure_digest(structure)
        out["seed"] = structure.metadata.get("seed")
    return out
