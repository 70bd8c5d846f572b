"""Wall time, Newton/linear iterations and peak memory of a full discharge.

    python benchmarks/bench_discharge.py --voxels 2e4 1e5 --solver direct iterative
    mpiexec -n 2 python benchmarks/bench_discharge.py --voxels 2e4 1e5 --electrolyte liquid

Homogeneous 65/14/21 vol% cathode (ASSB: CBD -> SE), 1 µm voxels, cross-section
chosen so the thickness is about twice the width, 10 µm separator, 8 mA/cm² to 3.0 V.
Rank 0 generates and broadcasts the structure. One JSON line per case (rank 0), also
appended to results/benchmarks/discharge.jsonl. Peak memory: sum of ru_maxrss over ranks.
"""

import argparse
import time

from common import peak_gib, record

from fem_assb._dolfinx import MPI
from fem_assb.solver.simulate import discharge
from fem_assb.structure import VoxelStructure, homogeneous, to_solid_electrolyte


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voxels", nargs="+", type=float, default=[2e4])
    ap.add_argument("--solver", nargs="+", default=["direct"], choices=["direct", "iterative"])
    ap.add_argument("--current-density", type=float, default=8.0)
    ap.add_argument("--electrolyte", default="solid", choices=["solid", "liquid"])
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    for nv in args.voxels:
        w = max(2, round((nv / 2) ** (1 / 3)))
        size = (2.0 * w, float(w), float(w))
        s = None
        if comm.rank == 0:
            s = homogeneous(size_um=size, voxel_size_um=1.0, cam_fraction=0.65,
                            cbd_fraction=0.21, mean_diameter_um=5.0, seed=1)
            if args.electrolyte == "solid":
                s = to_solid_electrolyte(s)
        labels = comm.bcast(s.labels if s is not None else None, root=0)
        s = VoxelStructure(labels, 1e-6)
        for solver in args.solver:
            t0 = time.perf_counter()
            r = discharge(s, args.current_density, electrolyte=args.electrolyte,
                          separator_um=10.0, comm=comm, progress=False, linear=solver)
            rec = {"voxels": int(labels.size), "ranks": comm.size, "solver": solver,
                   "electrolyte": args.electrolyte,
                   "total_s": round(time.perf_counter() - t0, 1),
                   "solve_s": round(r.wall_time_s, 1), "steps": r.steps,
                   "newton_iterations": r.newton_iterations,
                   "linear_iterations": r.linear_iterations,
                   "capacity_mAh_cm2": r.capacity_mAh_cm2, "stop_reason": r.stop_reason,
                   "peak_memory_GiB": round(peak_gib(comm), 2)}
            record(rec, "discharge", comm)


if __name__ == "__main__":
    main()
