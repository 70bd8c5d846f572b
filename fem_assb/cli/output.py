"""What the command line prints: on rank 0 only; ``--json`` as one strict-JSON object on
stdout and nothing else there (progress and warnings go to stderr)."""

from __future__ import annotations

import json
import math
import os
import sys

import click

# rank and size variables of the MPI launchers (MPICH/Hydra, Open MPI, PMIx, SLURM srun)
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


def rank() -> int:
    """This process's MPI rank, without importing MPI for commands that need none."""
    if "mpi4py" in sys.modules or "dolfinx" in sys.modules:
        from mpi4py import MPI

        return MPI.COMM_WORLD.rank
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def launched_by_mpi() -> bool:
    """Started by an MPI launcher with more than one rank?"""
    sizes = (os.environ.get(name, "") for name in _SIZE_VARIABLES)
    return any(v.isdigit() and int(v) > 1 for v in sizes)


def echo(msg: str = "", err: bool = False) -> None:
    if rank() == 0:
        click.echo(msg, err=err)


def strict(value):
    """NaN and ±inf (not JSON) become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def emit_json(obj: dict) -> None:
    if rank() == 0:
        sys.stdout.write(json.dumps(strict(obj), default=float, allow_nan=False) + "\n")
        sys.stdout.flush()
