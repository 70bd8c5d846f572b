"""Memory and time a discharge will need, estimated from its voxel count before it starts.

The figures are measured (benchmarks/bench_discharge.py, 2-core machine, P1 on 6
tetrahedra per voxel, iterative solver): memory per voxel of the virtual cell (separator
included) over all ranks together, plus the fixed cost of a Python process with DOLFINx
and PETSc per rank; time per voxel and Newton iteration on one core, times a typical
Newton count of a full discharge. A run whose estimate exceeds the memory available is
refused with one line that names the need and the way out, never killed by the kernel
half-way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fem_assb._dolfinx import MPI
from fem_assb.errors import ResourceError

GIB = 2**30
# measured: 106 × 60 × 60 µm cell + 25 µm separator (4.7e5 voxels), 2 ranks, a full
# 8 mA/cm² discharge (benchmarks/results/default_structure_*_8mA_2ranks.json): ASSB peak
# 2.78 GiB (1.42 GiB on the larger rank; 3.86 before the nested Jacobian, the GAMG reset
# and the facet-free mesh), LIB 3.94 GiB (2.00 on the larger rank; was 5.37), i.e. 5.6
# and 8.3 kB per voxel beyond the 160 MiB of each process, x-slabs balanced by unknowns
# (the bytes per voxel, all ranks together, and the seconds per voxel and Newton
# iteration are the chemistry's: ``fem_assb.physics.chemistry``: ASSB 5700 B and 4.5e-5 s,
# LIB 8400 B and 9e-5 s)
BASE_BYTES_PER_RANK = 160 * 2**20  # Python + DOLFINx + PETSc + compiled forms
IMBALANCE = 1.05  # the heaviest rank over the mean (ranks > 1)
# wall time per voxel and Newton iteration on one rank-core (the study-size runs on 2
# ranks: ASSB 1148 s / 110 Newton iterations / 2.36e5 voxels per rank = 4.4e-5 s; LIB
# 2013 s / 96 = 8.9e-5 s)
TYPICAL_NEWTON = 110  # the study-size runs at 8 mA/cm² (ASSB 109, LIB 96)


@dataclass
class Estimate:
    """Estimated peak memory (bytes) and wall time (s) of a discharge."""

    num_voxels: int
    ranks: int
    total_bytes: float
    per_rank_bytes: float
    time_s: float

    def describe(self) -> str:
        return (f"{self.num_voxels:,} voxels on {self.ranks} rank(s): about "
                f"{self.total_bytes / GIB:.1f} GiB in all ({self.per_rank_bytes / GIB:.2f} GiB "
                f"per rank), about {self.time_s / 60:.0f} min")


def estimate(num_voxels: int, chemistry, ranks: int) -> Estimate:
    """Memory and time of a full discharge of a cell of ``num_voxels`` voxels of a
    chemistry (``bytes_per_voxel``, ``seconds_per_voxel_newton``)."""
    data = chemistry.bytes_per_voxel * num_voxels
    total = data + BASE_BYTES_PER_RANK * ranks
    per_rank = data / ranks * (IMBALANCE if ranks > 1 else 1.0) + BASE_BYTES_PER_RANK
    time_s = chemistry.seconds_per_voxel_newton * num_voxels * TYPICAL_NEWTON / ranks
    return Estimate(int(num_voxels), ranks, total, per_rank, time_s)


def _node_available_bytes() -> float:
    """MemAvailable of this node, capped by a cgroup (container) limit."""
    avail = float("inf")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = float(line.split()[1]) * 1024
    except OSError:
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max",
                       "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            avail = min(avail, float(text))
    return avail


def available_memory_bytes(comm) -> float:
    """Memory available to each rank (bytes): its node's available memory shared among
    the ranks on that node; the smallest share over all ranks."""
    local = comm.Split_type(MPI.COMM_TYPE_SHARED) if comm.size > 1 else None
    n_local = local.size if local is not None else 1
    share = _node_available_bytes() / n_local
    if local is not None:
        local.Free()
    return comm.allreduce(share, op=MPI.MIN)


def check_memory(num_voxels: int, chemistry, comm) -> Estimate:
    """The estimate; ``ResourceError`` (one line) if it does not fit."""
    e = estimate(num_voxels, chemistry, comm.size)
    if os.environ.get("FEM_ASSB_SKIP_MEMORY_CHECK"):
        return e
    avail = available_memory_bytes(comm)
    if e.per_rank_bytes > avail:
        data = e.total_bytes - BASE_BYTES_PER_RANK * comm.size
        room = avail - BASE_BYTES_PER_RANK
        need_ranks = int(data // room) + 1 if room > 0 else 2 * comm.size
        raise ResourceError(
            f"this discharge needs about {e.per_rank_bytes / GIB:.1f} GiB per rank "
            f"({e.total_bytes / GIB:.1f} GiB in all for {num_voxels:,} voxels) but "
            f"{avail / GIB:.1f} GiB is available per rank: run on more ranks/nodes "
            f"(mpiexec -n {max(need_ranks, comm.size + 1)} or more, across nodes), without "
            f"--refine, or on a smaller box")
    return e

