"""PETSc option sets: a direct solver (MUMPS) for small systems, Krylov + GAMG above.

Solver settings are data: the ``[solver]`` table of a parameter file
(``fem_assb.materials.parameters.Solver``: linear method, size threshold, Krylov and
Newton tolerances, free PETSc options) and ``--petsc-option KEY=VALUE`` on the command
line, both applied over the defaults built here.
"""

from __future__ import annotations

import itertools

_PREFIXES = itertools.count()


def unique_prefix(name: str) -> str:
    """A PETSc options prefix never used before in this process (options stay in PETSc's
    global database, so a reused prefix would inherit another problem's options)."""
    return f"fem_assb_{name}_{next(_PREFIXES)}_"

# above this many global unknowns 'auto' switches from MUMPS to CG/GMRES + GAMG
DIRECT_DOF_LIMIT = 200_000

METHODS = ("auto", "direct", "iterative")


def linear_solver_options(method: str = "auto", num_dofs: int = 0, symmetric: bool = True,
                          rtol: float = 1e-12) -> dict:
    """PETSc options for one linear system.

    Args:
        method: 'direct' (MUMPS LU), 'iterative' (CG or GMRES + GAMG), or 'auto' (direct
            below ``DIRECT_DOF_LIMIT`` unknowns).
        num_dofs: global number of unknowns (for 'auto').
        symmetric: CG for SPD systems, GMRES otherwise.
        rtol: relative residual tolerance of the Krylov solver.
    """
    if method not in METHODS:
        raise ValueError(f"solver method must be one of {METHODS}, got '{method}'")
    if method == "auto":
        method = "direct" if num_dofs <= DIRECT_DOF_LIMIT else "iterative"
    if method == "direct":
        return {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
                "ksp_error_if_not_converged": True}
    return {"ksp_type": "cg" if symmetric else "gmres", "pc_type": "gamg",
            "ksp_rtol": rtol, "ksp_atol": 0.0, "ksp_max_it": 2000,
            "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi",
            "pc_gamg_threshold": 0.02, "ksp_error_if_not_converged": True}


def discharge_snes_options(linear: str, split_names=(), ksp_rtol: float = 1e-6,
                           extra: dict | None = None, voltage_group: str | None = None,
                           voltage_couplings: int = 0) -> dict:
    """PETSc options of the discharge's Newton solver (SNES prefix).

    direct: MUMPS LU. iterative: GMRES, right-preconditioned (its tolerance is on the true
    residual), with a multiplicative field split over the model's groups: c_s by SOR
    (a mass matrix plus a little diffusion), every potential group (Φ_s with V; Φ_e; the
    LIB's c_e) by one GAMG V-cycle (interpolation rebuilt at each time step's first
    Newton iteration, reused in the others). GAMG's threshold is 0.02, and below the
    strength ~N^-1/2 of the cell voltage's edges to its N = ``voltage_couplings``
    collector unknowns in ``voltage_group`` (dropped edges make V its own aggregate:
    3-10x the Krylov iterations, GMRES breakdowns at 60 x 60 µm). ``extra`` (user
    options) is applied last.
    """
    opts = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_max_it": 100,
            "snes_rtol": 1e-10, "snes_stol": 0.0, "snes_lag_jacobian": 1}
    if linear == "iterative":
        opts.update({"ksp_type": "gmres", "ksp_pc_side": "right", "ksp_rtol": ksp_rtol,
                     "ksp_atol": 0.0, "ksp_max_it": 300, "ksp_gmres_restart": 20,
                     "pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative"})
        for name in split_names:
            pre = f"fieldsplit_{name}_"
            opts[pre + "ksp_type"] = "preonly"
            if name == "c":
                opts[pre + "pc_type"] = "sor"
            elif name == "V":  # the global voltage: one unknown
                opts[pre + "pc_type"] = "jacobi"
            else:
                thr = 0.02
                if name == voltage_group and voltage_couplings > 0:
                    thr = min(thr, 0.25 / voltage_couplings**0.5)
                opts.update({pre + "pc_type": "gamg", pre + "pc_gamg_threshold": thr,
                             pre + "pc_gamg_reuse_interpolation": True,
                             pre + "mg_levels_ksp_type": "chebyshev",
                             pre + "mg_levels_pc_type": "jacobi"})
    elif linear == "direct":
        opts.update({"ksp_type": "preonly", "pc_type": "lu",
                     "pc_factor_mat_solver_type": "mumps"})
    else:
        raise ValueError(f"linear solver must be auto, direct or iterative, got '{linear}'")
    opts.update(extra or {})
    return opts


def parse_petsc_options(items) -> dict:
    """{'KEY': 'VALUE'} from 'KEY=VALUE' strings (a leading '-' is dropped)."""
    out = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise ValueError(f"PETSc option '{item}' is not KEY=VALUE")
        out[key] = value.strip()
    return out
