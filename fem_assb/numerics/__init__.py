"""The numerics of a run: the coupled nonlinear problem, its Jacobian, local
elimination, solver options as data and the one adapter to DOLFINx private API."""

from fem_assb.numerics.options import DIRECT_DOF_LIMIT, linear_solver_options, unique_prefix

__all__ = ["DIRECT_DOF_LIMIT", "linear_solver_options", "unique_prefix"]
