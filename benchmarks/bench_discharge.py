"""Wall time, Newton/Krylov iterations, assembly/solve split and peak memory of a full
discharge.

    python benchmarks/bench_discharge.py --voxels 1e4 1e5 --solver iterative
    mpiexec -n 2 python benchmarks/bench_discharge.py --voxels 1e4 1e5 --electrolyte liquid
    mpiexec -n 2 python benchmarks/bench_discharge.py --default-structure   # 106x60x60 µm

Homogeneous 65/14/21 vol% cathode (ASSB: CBD -> SE), 1 µm voxels, cross-section
chosen so the thickness is about twice the width, 10 µm separator, 8 mA/cm² to 3.0 V;
``--default-structure`` uses `fem-assb generate homogeneous` (106 × 60 × 60 µm) and the
default 25 µm separator. Rank 0 generates and broadcasts the structure. One JSON line
per case (rank 0), also appended to results/benchmarks/discharge.jsonl: time in PETSc's
Jacobian and residual evaluations, in the Krylov solves, in the field split's
sub-solver set-up (GAMG's Galerkin products, outside KSPSolve) and in the line search
(the interface elimination and the residuals it evaluates inside), Krylov iterations
per Newton iteration, µs per unknown and Newton iteration, peak memory (sum of the
ranks' high-water marks) per voxel of the virtual cell.
"""

import argparse
import time

import numpy as np
from common import peak_gib, peak_max_rank_gib, record

from fem_assb._dolfinx import MPI, PETSc
from fem_assb.materials.parameters import default_parameters
from fem_assb.numerics.options import parse_petsc_options
from fem_assb.simulation import discharge
from fem_assb.structure import VoxelStructure, homogeneous, to_solid_electrolyte

# PCSetUpOnBlocks holds the field split's sub-solver set-up (GAMG: the Galerkin products
# of every Newton iteration), outside KSPSolve and PCSetUp
EVENTS = ("SNESJacobianEval", "SNESFunctionEval", "KSPSolve", "PCSetUp", "PCApply",
          "PCSetUpOnBlocks", "SNESLineSearch")


def _structure(nv, electrolyte, comm, default):
    s = None
    if comm.rank == 0:
        if default:
            s = homogeneous()
        else:
            w = max(2, round((nv / 2) ** (1 / 3)))
            s = homogeneous(size_um=(2.0 * w, float(w), float(w)), voxel_size_um=1.0,
                            cam_fraction=0.65, cbd_fraction=0.21, mean_diameter_um=5.0,
                            seed=1)
        if electrolyte == "solid":
            s = to_solid_electrolyte(s)
    labels = comm.bcast(s.labels if s is not None else None, root=0)
    return VoxelStructure(labels, 1e-6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voxels", nargs="+", type=float, default=[2e4])
    ap.add_argument("--default-structure", action="store_true")
    ap.add_argument("--solver", nargs="+", default=["iterative"],
                    choices=["direct", "iterative"])
    ap.add_argument("--current-density", type=float, default=8.0)
    ap.add_argument("--electrolyte", default="solid", choices=["solid", "liquid"])
    ap.add_argument("--voxel-code", action="store_true",
                    help="staircase interfaces and plain elements (default: smoothed "
                         "interfaces and the resolved CAM skin)")
    ap.add_argument("--output", default=None,
                    help="directory for each case's voltage.csv, summary.json, checkpoints")
    ap.add_argument("--checkpoint-minutes", type=float, default=None)
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoints")
    ap.add_argument("--petsc-option", action="append", default=[], metavar="KEY=VALUE",
                    help="PETSc option of the discharge's Newton solver (SNES prefix); "
                         "repeatable, recorded with the result")
    args = ap.parse_args()
    petsc = parse_petsc_options(args.petsc_option)
    params = default_parameters().updated({"solver": {"petsc_options": petsc}})
    comm = MPI.COMM_WORLD
    PETSc.Log.begin()
    sizes = [0] if args.default_structure else args.voxels
    for nv in sizes:
        s = _structure(nv, args.electrolyte, comm, args.default_structure)
        sep = None if args.default_structure else 10.0
        for solver in args.solver:
            before = {e: PETSc.Log.Event(e).getPerfInfo()["time"] for e in EVENTS}
            t0 = time.perf_counter()
            out = None if args.output is None else \
                f"{args.output}/{args.electrolyte}_{s.labels.size}_{solver}_{comm.size}"
            r = discharge(s, args.current_density, electrolyte=args.electrolyte,
                          params=params, separator_um=sep, voxel_code=args.voxel_code, comm=comm,
                          progress=False, linear=solver,
                          output=out, checkpoint_minutes=args.checkpoint_minutes,
                          resume=args.resume)
            total = time.perf_counter() - t0
            ev = {e: comm.allreduce(PETSc.Log.Event(e).getPerfInfo()["time"] - before[e],
                                    op=MPI.MAX) for e in EVENTS}
            n_sep = round((sep if sep is not None else 25.0) / 1.0)
            cell_voxels = int(np.count_nonzero(s.labels)) + n_sep * s.shape[1] * s.shape[2]
            newton = max(r.newton_iterations, 1)
            rec = {"voxels": cell_voxels, "ranks": comm.size, "solver": solver,
                   "petsc_options": petsc, "voxel_code": args.voxel_code,
                   "surface_resolution": r.surface_resolution,
                   "electrolyte": args.electrolyte, "total_s": round(total, 1),
                   "solve_s": round(r.wall_time_s, 1), "steps": r.time_steps,
                   "rejected_steps": r.rejected_steps,
                   "newton_iterations": r.newton_iterations,
                   "linear_iterations": r.linear_iterations,
                   "krylov_per_newton": round(r.linear_iterations / newton, 1),
                   "jacobian_s": round(ev["SNESJacobianEval"], 1),
                   "residual_s": round(ev["SNESFunctionEval"], 1),
                   "krylov_s": round(ev["KSPSolve"], 1), "pc_setup_s": round(ev["PCSetUp"], 1),
                   "subsolver_setup_s": round(ev["PCSetUpOnBlocks"], 1),
                   "line_search_s": round(ev["SNESLineSearch"], 1),
                   "capacity_mAh_cm2": r.capacity_mAh_cm2, "stop_reason": r.stop_reason,
                   "peak_memory_GiB": round(peak_gib(comm), 2),
                   "peak_memory_max_rank_GiB": round(peak_max_rank_gib(comm), 3),
                   "peak_kB_per_voxel": round(peak_gib(comm) * 2**30 / cell_voxels / 1e3, 2)}
            record(rec, "discharge", comm)


if __name__ == "__main__":
    main()
