"""One particle against the continuum: what the resolved CAM skin is worth (issue 37).

The study's particle (radius 5 µm, an octant at the collector corner of an SE box behind
a 2 µm separator, default parameters) discharged from rest to 3.0 V at C-rates of its
own theoretical capacity, on

  - the gmsh particle (``fem-assb generate particle``) with 1 and 0.5 µm elements,
  - the voxel octant (radius 5 voxels of 1 µm), staircase and smoothed,

each with plain P1 elements and with the resolved skin (``resolution.skin``), against
the 1D sphere of ``tests/spm_reference.sphere_utilisation`` (radial grid converged).

    python benchmarks/particle_skin.py [--rates 0.2 1 2] [-o results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from particle_convergence import octant  # noqa: E402
from spm_reference import sphere_utilisation  # noqa: E402

from fem_assb import Simulation  # noqa: E402
from fem_assb._dolfinx import MPI  # noqa: E402
from fem_assb.materials import default_parameters  # noqa: E402
from fem_assb.mesh.gmsh_shapes import particle_cell  # noqa: E402

RADIUS_UM = 5.0


def cells(workdir: Path):
    """(name, factory(parameters) -> Simulation) of the particle cells."""
    out = []
    for h in (1.0, 0.5):
        path = workdir / f"particle_{h:g}.msh"
        particle_cell(path, radius_um=RADIUS_UM, box_um=RADIUS_UM + 1.0, separator_um=2.0,
                      surface_size_um=h, bulk_size_um=max(h, 1.5))
        out.append((f"gmsh {h:g} um", lambda p, path=path: Simulation.from_mesh(
            path, "solid", p, unit="um", comm=MPI.COMM_SELF, progress=False)))
    for iface in ("voxel", "smooth"):
        out.append((f"voxel octant, {iface}", lambda p, iface=iface: Simulation(
            octant(), "solid", p, separator_um=2.0, interface=iface, comm=MPI.COMM_SELF,
            progress=False)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.2, 1.0, 2.0])
    ap.add_argument("-o", "--output", default=None, help="JSON file of the table")
    ap.add_argument("--skin-only", action="store_true", help="leave out the plain elements")
    ap.add_argument("--cells", nargs="+", default=None,
                    help="the cells to run, by the start of their name (e.g. gmsh voxel)")
    args = ap.parse_args()
    base = default_parameters()
    ref = {r: sphere_utilisation(base, RADIUS_UM * 1e-6, r)[0] for r in args.rates}
    print("sphere (1D): " + "  ".join(f"{r:g}C {u:.4f}" for r, u in ref.items()), flush=True)
    table = {"rates_C": args.rates, "sphere": ref, "cells": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in cells(Path(tmp)):
            if args.cells and not any(name.startswith(c) for c in args.cells):
                continue
            for skin in (True,) if args.skin_only else (False, True):
                p = base.updated({"resolution": {"skin": skin},
                                  "solver": {"newton_atol": 1e-11}})
                sim, row = make(p), {}
                for rate in args.rates:
                    t = time.perf_counter()
                    sol = sim.run([f"Discharge at {rate:g}C until 3.0 V"], progress=False)
                    u = sol.capacity_mAh_cm2 / sim.theoretical_capacity_mAh_cm2
                    row[rate] = {"utilisation": u, "vs_sphere": u / ref[rate] - 1.0,
                                 "surface_resolution": sol.surface_resolution,
                                 "wall_s": time.perf_counter() - t}
                key = f"{name}, {'skin' if skin else 'plain'}"
                table["cells"][key] = row
                print(f"{key:32s}" + "  ".join(
                    f"{v['utilisation']:.4f} ({v['vs_sphere']:+.1%})" for v in row.values()),
                    flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
