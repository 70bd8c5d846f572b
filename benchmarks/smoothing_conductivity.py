"""σ_eff of sphere packings: voxel FV, voxel FEM and smoothed FEM at one voxel size vs the
geometry's value, known by refinement.

Random packings of overlapping spheres (centres and radii known) are voxelised at 1, 2
and 3 voxels per µm; the value of the spheres themselves is extrapolated from the finer
two (FEM as second order, FV as first order: the two extrapolations agree to 0.5 %),
and the 1-voxel FV, FEM and smoothed-FEM values are compared with it. Pore phase along x.

    python benchmarks/smoothing_conductivity.py --seeds 6 -o results.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fem_assb._dolfinx import MPI
from fem_assb.analysis.conductivity import effective_conductivity
from fem_assb.structure import voxelise_spheres


def packing(seed: int, box_um, radii_um, count: int):
    """(centres, radii) in µm of ``count`` spheres, overlaps limited (centre distances
    above 0.75 of the radii's sum)."""
    rng = np.random.default_rng(seed)
    box = np.asarray(box_um, dtype=float)
    cent, rad = [], []
    for _ in range(100_000):
        if len(cent) == count:
            break
        c, r = rng.random(3) * box, rng.uniform(*radii_um)
        if all(np.linalg.norm(c - c2) > 0.75 * (r + r2) for c2, r2 in zip(cent, rad,
                                                                        strict=True)):
            cent.append(c)
            rad.append(r)
    return np.array(cent), np.array(rad)


def compare(seed: int, box_um=(20, 16, 16), radii_um=(4.0, 5.5), count: int = 10,
            comm=MPI.COMM_SELF) -> dict:
    cent, rad = packing(seed, box_um, radii_um, count)
    val = {}
    for n in (1, 2, 3):
        s = voxelise_spheres(cent, rad, box_um, 1.0 / n)
        for m in ("fv", "fem"):
            val[f"{m}{n}"] = effective_conductivity(s, "electrolyte", method=m, comm=comm,
                                                    solver="iterative").relative_conductivity
        if n == 1:
            val["smooth1"] = effective_conductivity(
                s, "electrolyte", method="fem", interface="smooth", comm=comm).relative_conductivity
    fem_ext = val["fem3"] + (val["fem3"] - val["fem2"]) * (1 / 9) / (1 / 4 - 1 / 9)
    fv_ext = val["fv3"] + 2.0 * (val["fv3"] - val["fv2"])
    ref = 0.5 * (fem_ext + fv_ext)
    return {"seed": seed, **val, "fem_extrapolated": fem_ext, "fv_extrapolated": fv_ext,
            "reference": ref, **{f"error_{k}_percent": 100 * (val[f"{k}1"] / ref - 1)
                                 for k in ("fv", "fem", "smooth")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    rows = []
    for seed in range(args.seeds):
        rows.append(compare(seed))
        print(json.dumps({k: round(v, 5) for k, v in rows[-1].items()}), flush=True)
    summary = {}
    for k in ("fv", "fem", "smooth"):
        e = np.array([r[f"error_{k}_percent"] for r in rows])
        summary[k] = {"mean_percent": e.mean(), "mean_abs_percent": np.abs(e).mean()}
    print(json.dumps(summary))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump({"cases": rows, "summary": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
