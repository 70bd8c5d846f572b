"""Why Newton fails in the rest after a 2C ASSB discharge (issue 36, the README cycle).

    python benchmarks/rest_newton_diagnosis.py [--steps 40] [--petsc KEY=VALUE ...]

Runs "Discharge at 2C until 3.0 V; Rest for 30 minutes" on
``meshes/assb_perforated_r5_small.npz`` and prints, for every attempt of the rest, the
step size, Newton iterations, SNES reason and the residual norm per block and Newton
iteration (c_s, Φ_s, V, Φ_e). Measured on 2026-12-07, from 216 s into the rest:
  - a good step converges quadratically from ‖F‖ ≈ 5e-12 A to 1e-22 A in 3-4 iterations;
  - a failing one (30-40 s steps) barely lowers ‖F‖ for ~10 iterations, then stalls
    near 1e-13 A (line search failure, SNES reason -8, or the iteration limit, -5);
  - the same with no predictor, with softplus-smoothed D_s/σ_s tables, with the 'l2'
    line search, and (worse) without interface elimination.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fem_assb import Simulation, load_structure
from fem_assb.numerics.options import parse_petsc_options
from fem_assb.protocol import stepper


def monitored(solve, until: int):
    def attempt(self, plan, st, ctl, dt):
        snes = self.newton.snes
        sizes = [u.function_space.dofmap.index_map.size_local for u in self.model.unknowns]
        offs = np.cumsum([0, *sizes])

        def monitor(snes, it, fnorm):
            if self.run.k == 1:
                r = snes.getFunction()[0].getArray()
                blocks = [f"{np.linalg.norm(r[a:b]):.1e}"
                          for a, b in zip(offs[:-1], offs[1:], strict=True)]
                print(f"   it={it} |F|={fnorm:.3e} blocks={blocks}", flush=True)

        snes.setMonitor(monitor)
        trial = solve(self, plan, st, ctl, dt)
        snes.cancelMonitor()
        if self.run.k == 1:
            print(f"rest t={trial.t:.1f} s dt={dt:.3g} s its={trial.its} "
                  f"converged={trial.new is not None} reason={snes.getConvergedReason()}",
                  flush=True)
            if st.n >= until:
                sys.exit(0)
        return trial
    return attempt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="rest steps to show")
    ap.add_argument("--petsc", nargs="*", default=[], help="KEY=VALUE Newton options")
    args = ap.parse_args()
    stepper.Stepper._solve = monitored(stepper.Stepper._solve, args.steps)
    from fem_assb.materials import default_parameters

    p = default_parameters()
    if args.petsc:
        p = p.updated({"solver": {"petsc_options": parse_petsc_options(args.petsc)}})
    sim = Simulation(load_structure("meshes/assb_perforated_r5_small.npz"), "solid", p,
                     progress=False)
    sim.run(["Discharge at 2C until 3.0 V", "Rest for 30 minutes"], progress=False)


if __name__ == "__main__":
    main()
