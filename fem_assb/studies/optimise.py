"""Layer design beyond the study: find the layer thicknesses (and, optionally, CAM
contents) of a multi-layer cathode that maximise the energy density at one current.

The study swept f_L60 of two fixed compositions and noted that the compositions were
not optimised. Here every discharge is one evaluation of the objective (Wh/kg), and a
derivative-free optimiser searches the box of design variables:

- 1 variable (two layers, fixed compositions: f_L60): bounded Brent (golden section),
- more variables: Nelder–Mead with bounds.

Thickness fractions of n layers come from n − 1 variables in [0, 1] (stick breaking:
layer k takes the share u_k of what the layers before it left), so every point of the
box is a valid stack. Evaluations are logged to ``evaluations.csv`` as they finish and
reused when the optimisation is run again (resumable). A structure with changed CAM
contents is a new stochastic structure (same seed per layer), so that objective is
noisy at the level of structure-to-structure variation; thickness-only searches cut the
same two structures at different planes and are smooth up to the voxel planes.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class OptimumResult:
    x: list[float]  # best design variables
    value: float  # objective at x (the maximised quantity)
    evaluations: int  # objective evaluations (incl. reused ones)
    history: list[tuple[list[float], float]] = field(repr=False, default_factory=list)


def maximise(objective: Callable[[np.ndarray], float], bounds: Sequence[tuple[float, float]],
             x0: Sequence[float] | None = None, max_evaluations: int = 20,
             xatol: float = 0.02, log: str | Path | None = None,
             names: Sequence[str] | None = None, write_log: bool = True) -> OptimumResult:
    """Maximise ``objective`` over a box, derivative-free, with an evaluation log.

    Args:
        bounds: (low, high) per variable.
        x0: start (Nelder–Mead); default the box centre.
        max_evaluations: budget of new objective evaluations.
        xatol: absolute tolerance on the variables.
        log: CSV file of evaluations (x..., value); existing rows are reused.
        names: column names of the variables in the log.
        write_log: append new evaluations to ``log`` (False on all MPI ranks but one).
    """
    from scipy.optimize import minimize, minimize_scalar

    lo, hi = (np.array(b, dtype=float) for b in zip(*bounds, strict=True))
    names = list(names or [f"x{k}" for k in range(lo.size)])
    cache: dict[tuple, float] = {}
    history: list[tuple[list[float], float]] = []
    log = Path(log) if log is not None else None
    if log is not None and log.is_file():
        with open(log, newline="") as fh:
            for row in csv.DictReader(fh):
                x = tuple(round(float(row[n]), 6) for n in names)
                cache[x] = float(row["value"])
    calls = {"new": 0}

    def f(x):
        x = np.clip(np.atleast_1d(np.asarray(x, dtype=float)), lo, hi)
        key = tuple(round(float(v), 6) for v in x)
        if key not in cache:
            if calls["new"] >= max_evaluations:
                raise _Budget
            calls["new"] += 1
            cache[key] = float(objective(np.array(key)))
            if log is not None and write_log:
                new = not log.is_file()
                with open(log, "a", newline="") as fh:
                    w = csv.writer(fh)
                    if new:
                        w.writerow([*names, "value"])
                    w.writerow([*key, cache[key]])
        history.append((list(key), cache[key]))
        return -cache[key]

    try:
        if lo.size == 1:
            minimize_scalar(f, bounds=(lo[0], hi[0]), method="bounded",
                            options={"xatol": xatol, "maxiter": max_evaluations})
        else:
            start = np.asarray(x0, dtype=float) if x0 is not None else 0.5 * (lo + hi)
            simplex = [start] + [np.clip(start + 0.25 * (hi - lo) * np.eye(lo.size)[k], lo, hi)
                                 for k in range(lo.size)]
            minimize(f, start, method="Nelder-Mead", bounds=list(zip(lo, hi, strict=True)),
                     options={"xatol": xatol, "fatol": 1e-9, "maxfev": 10 * max_evaluations,
                              "initial_simplex": np.array(simplex)})
    except _Budget:
        pass
    best = max(cache.items(), key=lambda kv: kv[1])
    return OptimumResult(list(best[0]), best[1], len(cache), history)


class _Budget(Exception):
    """The evaluation budget is spent."""


def stick_breaking(u: Sequence[float]) -> list[float]:
    """n − 1 shares in [0, 1] -> n thickness fractions summing to 1."""
    out, rest = [], 1.0
    for s in u:
        out.append(rest * float(s))
        rest -= out[-1]
    return out + [rest]


def optimise_layers(current_density_mA_cm2: float, output: str | Path, n_layers: int = 2,
                    cam_fractions: Sequence[float] = (0.6, 0.7), optimise_composition: bool = False,
                    cam_bounds: tuple[float, float] = (0.5, 0.75), electrolyte: str = "solid",
                    geometry: dict | None = None, separator_um: float = 25.0,
                    max_evaluations: int = 12, params=None, comm=None) -> OptimumResult:
    """Maximise the energy density (Wh/kg) of an n-layer cathode at one current density.

    Args:
        n_layers: number of layers (separator side first).
        cam_fractions: CAM content of each layer (start values when optimised).
        optimise_composition: also vary the CAM contents within ``cam_bounds``.
        geometry: ``homogeneous`` options (size_um, voxel_size_um, cbd_fraction, ...).
        output: directory of ``evaluations.csv`` (reused when run again), ``best.json``
            and the discharge files of each evaluation.
    """
    from fem_assb._dolfinx import MPI
    from fem_assb.simulation import discharge
    from fem_assb.structure import layered

    comm = comm or MPI.COMM_WORLD
    if len(cam_fractions) != n_layers:
        raise ValueError(f"give {n_layers} cam_fractions, got {len(cam_fractions)}")
    geo = {"size_um": (100.0, 80.0, 80.0), "cbd_fraction": 0.0, **(geometry or {})}
    out = Path(output)
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    names = [f"share_{k}" for k in range(n_layers - 1)]
    bounds = [(0.0, 1.0)] * (n_layers - 1)
    x0 = [1.0 / (n_layers - k) for k in range(n_layers - 1)]  # equal thicknesses
    if optimise_composition:
        names += [f"cam_{k}" for k in range(n_layers)]
        bounds += [tuple(cam_bounds)] * n_layers
        x0 += list(cam_fractions)

    seen = {"n": 0, "best": float("-inf")}

    def energy_density(x):
        fr = stick_breaking(x[:n_layers - 1])
        cams = list(x[n_layers - 1:]) if optimise_composition else list(cam_fractions)
        s = layered(fr, cams, **geo)
        tag = "_".join(f"{v:.4f}" for v in x)
        r = discharge(s, current_density_mA_cm2, electrolyte=electrolyte, params=params,
                      separator_um=separator_um, output=out / "cases" / tag, comm=comm,
                      progress=False)
        seen["n"] += 1
        seen["best"] = max(seen["best"], r.energy_density_Wh_kg)
        if comm.rank == 0:  # progress: one line per discharge
            print(f"fem-assb: discharge {seen['n']} (of at most {max_evaluations} new): "
                  f"layers {', '.join(f'{f:.3f}' for f in fr)}, CAM "
                  f"{', '.join(f'{c:.3f}' for c in cams)}: {r.energy_density_Wh_kg:.1f} Wh/kg "
                  f"(best so far {seen['best']:.1f})", file=sys.stderr, flush=True)
        return r.energy_density_Wh_kg

    res = maximise(energy_density, bounds, x0, max_evaluations, log=out / "evaluations.csv",
                   names=names, write_log=comm.rank == 0)
    if comm.rank == 0:
        fr = stick_breaking(res.x[:n_layers - 1])
        best = {"current_density_mA_cm2": current_density_mA_cm2, "variables": dict(
            zip(names, res.x, strict=True)), "thickness_fractions": fr,
            "energy_density_Wh_kg": res.value, "evaluations": res.evaluations}
        (out / "best.json").write_text(json.dumps(best, indent=2))
    return res
