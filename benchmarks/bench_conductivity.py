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
``taufactor.Solver`` (serial runs, a Python process of its own: its import, its solve
and the whole script timed); ``--taufactor-python PYTHON`` takes TauFactor from another
environment's interpreter (torch need not share fem_assb's).
``--cli`` also times the whole ``fem-assb conductivity FILE --method fv --json``
command (serial), the counterpart of that script.
"""

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


# TauFactor (solved along axis 0 from a .npy pore mask) in a Python of its own: fem_assb's
# or another environment's (torch need not share fem_assb's); import and solve timed
_TAUFACTOR_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
import taufactor
t1 = time.perf_counter()
img = np.load(sys.argv[1]).astype(np.float32)
t2 = time.perf_counter()
solver = taufactor.Solver(img, device="cpu")
solver.solve(verbose=False)
t3 = time.perf_counter()
print(json.dumps({"taufactor_import_s": round(t1 - t0, 2), "taufactor_s": round(t3 - t2, 2),
                  "taufactor_script_s": round(t3 - t0, 2),
                  "taufactor_relative_conductivity": float(np.ravel(solver.D_eff)[0]),
                  "taufactor_peak_GiB": round(resource.getrusage(
                      resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}))
"""


def _taufactor(s: VoxelStructure, python: str | None) -> dict:
    """TauFactor's value and times on ``s``'s pores; {} where it is not installed."""
    if python is None:
        if importlib.util.find_spec("taufactor") is None:
            return {}
        python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        mask = Path(tmp) / "pores.npy"
        np.save(mask, s.labels == ELECTROLYTE)
        out = subprocess.run([python, "-c", _TAUFACTOR_SCRIPT, str(mask)],
                             capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"TauFactor under {python} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli(s: VoxelStructure) -> dict:
    """Wall time of the whole ``fem-assb conductivity --method fv --json`` command."""
    exe = shutil.which("fem-assb") or str(Path(sys.executable).with_name("fem-assb"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.npy"
        np.save(path, s.labels)
        t = time.perf_counter()
        out = subprocess.run([exe, "conductivity", str(path), "--voxel-size", "1e-6",
                              "--method", "fv", "--json"], capture_output=True, text=True,
                             check=False)
        wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(f"fem-assb conductivity failed:\n{out.stderr[-2000:]}")
    return {"cli_fv_s": round(wall, 2)}


def run(size: str, method: str, comm, path: str | None = None,
        taufactor_python: str | None = None, cli: bool = False) -> dict:
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
        out.update(_taufactor(s, taufactor_python))
        if cli:
            out.update(_cli(s))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["100x60x60"])
    ap.add_argument("--file", help="a stored label array (.npy, 1 µm voxels) instead of --sizes")
    ap.add_argument("--methods", nargs="+", default=["fv", "fem"],
                    choices=["fv", "fem", "bracket", "extrapolated"])
    ap.add_argument("--taufactor-python", metavar="PYTHON",
                    help="run TauFactor under this interpreter (serial fv runs)")
    ap.add_argument("--cli", action="store_true",
                    help="also time the whole 'fem-assb conductivity --method fv' command")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    for size in [None] if args.file else args.sizes:
        for method in args.methods:
            record(run(size, method, comm, args.file, args.taufactor_python, args.cli),
                   "conductivity", comm)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
