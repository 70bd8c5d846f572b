"""PETSc option sets: a direct solver (MUMPS) for small systems, Krylov + GAMG above."""

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
