"""Time and peak memory of generate + mesh + conductivity on an ASSB cathode (70/30 vol%).

    python benchmarks/bench_conductivity.py --voxels 1e5 1e6
    mpiexec -n 2 python benchmarks/bench_conductivity.py --voxels 1e5 1e6 8e6

Cubes of n³ voxels of 0.5 µm, 8 µm particles. Rank 0 generates the structure and
broadcasts it; mesh and solve run on all ranks. Prints one JSON line per size (rank 0)
and appends it to results/benchmarks/conductivity.jsonl. Peak memory is the sum over
ranks of the resident-set high-water mark (ru_maxrss) of the whole process, so it also
counts the interpreter and libraries (~0.3 GB per rank).
"""

import argparse
import time

import numpy as np
from common import peak_gib, record

from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity
from fem_assb.structure import VoxelStructure, homogeneous


def run(n_voxels: float, comm, solver: str) -> dict:
    n = int(round(n_voxels ** (1 / 3)))
    t0 = time.perf_counter()
    s = None
    if comm.rank == 0:
        s = homogeneous(size_um=(0.5 * n,) * 3, voxel_size_um=0.5, cam_fraction=0.7,
                        cbd_fraction=0.0, seed=1)
    labels = comm.bcast(s.labels if s is not None else None, root=0)
    s = VoxelStructure(labels, 0.5e-6)
    t_gen = time.perf_counter() - t0
    comm.Barrier()
    t1 = time.perf_counter()
    from fem_assb.mesh import build_mesh

    vm = build_mesh(s, phases="electrolyte")
    comm.Barrier()
    t_mesh = time.perf_counter() - t1
    ncells = vm.num_cells_global()
    del vm
    t2 = time.perf_counter()
    r = effective_conductivity(s, "electrolyte", comm=comm, solver=solver)
    t_cond = time.perf_counter() - t2  # includes its own meshing and percolation analysis
    return {"voxels": int(n**3), "ranks": comm.size, "solver": solver,
            "meshed_tetrahedra": int(ncells), "dofs": r.num_dofs,
            "generate_s": round(t_gen, 2), "mesh_s": round(t_mesh, 2),
            "conductivity_s": round(t_cond, 2), "peak_memory_GiB": round(peak_gib(comm), 2),
            "relative_conductivity": r.relative_conductivity}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voxels", nargs="+", type=float, default=[1e5, 1e6])
    ap.add_argument("--solver", default="iterative", choices=["auto", "direct", "iterative"])
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    for nv in args.voxels:
        record(run(nv, comm, args.solver), "conductivity", comm)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
