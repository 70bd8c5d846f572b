"""PETSc solver configuration (and, with the electrochemistry, time stepping)."""

from fem_assb.solver.options import DIRECT_DOF_LIMIT, linear_solver_options, unique_prefix

__all__ = ["DIRECT_DOF_LIMIT", "linear_solver_options", "unique_prefix"]
