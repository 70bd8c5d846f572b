"""Shared helpers of the benchmark scripts: peak memory and the results log."""

import json
import resource
from pathlib import Path

OUT = Path("results/benchmarks")


def peak_gib(comm) -> float:
    """Sum over ranks of the resident-set high-water mark, GiB."""
    return comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 2**20


def peak_max_rank_gib(comm) -> float:
    """The largest resident-set high-water mark of one rank, GiB."""
    return comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          op=_max()) / 2**20


def _max():
    from mpi4py import MPI

    return MPI.MAX


def record(rec: dict, name: str, comm) -> None:
    """Print one JSON line (rank 0) and append it to results/benchmarks/NAME.jsonl."""
    if comm.rank != 0:
        return
    print(json.dumps(rec), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
