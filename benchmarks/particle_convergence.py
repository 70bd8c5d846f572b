"""Capacity of one particle vs mesh refinement: what 1 µm voxels are worth in the ASSB.

An octant of a voxelised sphere (radius 5 voxels of 1 µm: the study's particle size) at
the collector corner of a 6 µm SE box (its symmetry planes no-flux, so it is a whole
sphere's eighth), discharged from rest to 3.0 V at C-rates of its own theoretical
capacity with the default parameter set, every voxel subdivided into refine³. With
D_s(x) falling to ~1e-17 m²/s at high lithiation the surface saturates behind a boundary
layer far thinner than a voxel; how the utilisation converges with refinement says how
far the 1 µm answer is from the voxel geometry's own.

    python benchmarks/particle_convergence.py --refine 1 2 3 4 -o results.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import fem_assb
from fem_assb._dolfinx import MPI
from fem_assb.materials import default_parameters
from fem_assb.structure import CAM, ELECTROLYTE, VoxelStructure


def octant(radius_voxels: float = 5.0, box_voxels: int = 6) -> VoxelStructure:
    """CAM within ``radius_voxels`` of the box corner (x = Lx, y = 0, z = 0), SE elsewhere."""
    n = box_voxels
    i, j, k = np.meshgrid(*[np.arange(n) + 0.5] * 3, indexing="ij")
    labels = np.where(np.sqrt((n - i) ** 2 + j**2 + k**2) < radius_voxels, CAM, ELECTROLYTE)
    return VoxelStructure(labels.astype(np.uint8), 1e-6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refine", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.2, 1.0, 2.0])
    ap.add_argument("-o", "--output", default=None, help="JSON file of the utilisations")
    args = ap.parse_args()
    out = {"refine": args.refine, "rates_C": args.rates, "utilisation": {}, "wall_s": {}}
    for refine in args.refine:
        sim = fem_assb.Simulation(octant(), "solid", default_parameters(), separator_um=2.0,
                                  refine=refine, comm=MPI.COMM_SELF, progress=False)
        for rate in args.rates:
            t = time.perf_counter()
            sol = sim.run([f"Discharge at {rate:g}C until 3.0 V"], progress=False)
            u = sol.capacity_mAh_cm2 / sim.theoretical_capacity_mAh_cm2
            out["utilisation"][f"{refine}/{rate:g}"] = u
            out["wall_s"][f"{refine}/{rate:g}"] = time.perf_counter() - t
            print(f"refine {refine}  {rate:g}C  utilisation {u:.4f}", flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
