"""Wall time and peak memory of effective conductivity: voxel FV vs P1 FEM (vs TauFactor).

    python benchmarks/bench_conductivity.py --sizes 100x60x60 200x200x200
    mpiexec -n 2 python benchmarks/bench_conductivity.py --sizes 100x60x60 --methods fv
    mpiexec -n 2 python benchmarks/bench_conductivity.py --file packing500.npy --methods fv

Sphere packings of 1 µm voxels with 35 % pores (CAM particles, 8 µm mean diameter),
conductivity of the pore phase along x. Rank 0 generates each structure and broadcasts
it. For every size and method one JSON line (rank 0), also appended to
results/benchmarks/conductivity.jsonl: wall time of ``effective_conductivity`` in
process, σ_eff/σ_bulk, unknowns, and the peak resident memory of the whole run so far
(sum over ranks; run one method per process to attribute it, FV first) and per voxel.
``--file`` reads a stored label array (.npy, 1 µm voxels) instead, so the generator's
memory stays out of the figure. Where TauFactor
is installed (``pip install taufactor``), the same structure is solved with
``taufactor.Solver`` in the same process (serial runs) for time and value.
"""

import argparse
import time

import numpy as np
from common import peak_gib, record

from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity
from fem_assb.structure import ELECTROLYTE, VoxelStructure, homogeneous, load_structure


def _structure(size: str, comm) -> VoxelStructure:
    shape = tuple(int(n) for n in size.lower().split("x"))
    labels = None
    if comm.rank == 0:
        labels = homogeneous(size_um=tuple(float(n) for n in shape), voxel_size_um=1.0,
                             cam_fraction=0.65, cbd_fraction=0.0, seed=1).labels
    return VoxelStructure(comm.bcast(labels, root=0), 1e-6)


def _taufactor(s: VoxelStructure) -> dict:
    try:
        import taufactor
    except ImportError:
        return {}
    img = (s.labels == ELECTROLYTE).astype(np.float32)
    t = time.perf_counter()
    solver = taufactor.Solver(img, device="cpu")
    solver.solve(verbose=False)
    return {"taufactor_s": round(time.perf_counter() - t, 2),
            "taufactor_relative_conductivity": float(solver.D_eff)}


def run(size: str, method: str, comm, path: str | None = None) -> dict:
    s = load_structure(path, voxel_size=1e-6) if path else _structure(size, comm)
    size = "x".join(str(n) for n in s.shape)
    comm.Barrier()
    t = time.perf_counter()
    r = effective_conductivity(s, "electrolyte", comm=comm, method=method, solver="iterative")
    comm.Barrier()
    out = {"size": size, "voxels": int(s.labels.size), "ranks": comm.size, "method": method,
           "conductivity_s": round(time.perf_counter() - t, 2),
           "relative_conductivity": r.relative_conductivity, "lower_bound": r.lower_bound,
           "upper_bound": r.upper_bound, "unknowns": r.num_dofs,
           "peak_memory_GiB": round(peak_gib(comm), 3),
           "peak_bytes_per_voxel": round(peak_gib(comm) * 2**30 / s.labels.size, 1)}
    if comm.size == 1 and method == "fv":
        out.update(_taufactor(s))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["100x60x60"])
    ap.add_argument("--file", help="a stored label array (.npy, 1 µm voxels) instead of --sizes")
    ap.add_argument("--methods", nargs="+", default=["fv", "fem"],
                    choices=["fv", "fem", "bracket", "extrapolated"])
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    for size in [None] if args.file else args.sizes:
        for method in args.methods:
            record(run(size, method, comm, args.file), "conductivity", comm)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
