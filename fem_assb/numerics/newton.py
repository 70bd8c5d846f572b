"""Newton's method for a cell model: the SNES of ``CoupledProblem`` with the linear
solver chosen by size, and a convergence test in units of a reference current.

``NewtonSolver(model, settings, max_it, scale).solve()`` → ``NewtonOutcome``; the
protocol side sets ``scale`` (A: the step's current) and ``max_it`` between solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fem_assb._dolfinx import PETSc
from fem_assb.errors import ConfigError
from fem_assb.numerics.heap import release_free_memory
from fem_assb.numerics.options import discharge_snes_options, unique_prefix
from fem_assb.numerics.problem import CoupledProblem

LINEAR_METHODS = ("auto", "direct", "iterative")


@dataclass(frozen=True)
class NewtonOutcome:
    """One Newton solve: converged (or at the residual's rounding floor), iterations."""

    converged: bool
    iterations: int
    linear_iterations: int


def convergence_test(scale: float, rtol: float = 1e-10, atol: float = 1e-12,
                     floor: float = 1e-8, max_it: int = 25):
    """SNES convergence in units of a reference current ``scale`` (A).

    Converged when ‖F‖ < atol·scale, or ‖F‖ < rtol·‖F0‖ below floor·scale (after a jump,
    e.g. the start of a voltage hold, ‖F0‖ is large and rtol·‖F0‖ alone would stop
    Newton with the charge balance open by 1e-6), or when ‖F‖ is already below
    floor·scale and stops decreasing (the rounding floor of the residual). Diverged after
    ``test.max_it`` iterations. ``test.scale`` (A, default ``scale``) is the scale of
    atol and may be changed between solves (the rounding floor stays at ``scale``).
    ``test.converged(snes)`` judges a finished solve (a line search that fails below the
    floor counts as converged).
    """
    R = PETSc.SNES.ConvergedReason
    hist: dict = {}

    def test(_snes, it, norms):
        fnorm, tol_scale = norms[2], test.scale
        if it == 0:
            hist["f0"], hist["prev"] = fnorm, fnorm
            return R.CONVERGED_FNORM_ABS if fnorm < atol * tol_scale else R.ITERATING
        prev, hist["prev"] = hist["prev"], fnorm
        if not np.isfinite(fnorm):
            return R.DIVERGED_FNORM_NAN
        if fnorm < atol * tol_scale:
            return R.CONVERGED_FNORM_ABS
        if fnorm < rtol * hist["f0"] and fnorm < floor * scale:
            return R.CONVERGED_FNORM_RELATIVE
        if fnorm < floor * scale and fnorm > 0.3 * prev:
            return R.CONVERGED_SNORM_RELATIVE
        if it >= test.max_it:
            return R.DIVERGED_MAX_IT
        return R.ITERATING

    test.max_it, test.scale = max_it, scale

    def converged(snes) -> bool:
        reason = snes.getConvergedReason()
        return reason > 0 or (reason == R.DIVERGED_LINE_SEARCH
                              and snes.getFunctionNorm() < floor * scale)

    test.converged = converged
    return test


def choose_linear(model, method: str, settings) -> str:
    """'direct' or 'iterative': ``method`` or, for 'auto', the parameter set's
    ``[solver] linear`` (its 'auto': MUMPS up to ``direct_dof_limit`` unknowns)."""
    if method not in LINEAR_METHODS:
        raise ConfigError(f"linear solver must be auto, direct or iterative, got '{method}'")
    method = settings.linear if method == "auto" else method
    if method == "auto":
        ndofs = sum(u.function_space.dofmap.index_map.size_global for u in model.unknowns)
        method = "direct" if ndofs <= settings.direct_dof_limit else "iterative"
    return method


class NewtonSolver:
    """The coupled problem of ``model`` and its SNES (see the module docstring).

    Args:
        model: a cell model (``fem_assb.physics.contract.Discretised``).
        settings: the parameter set's ``[solver]`` table.
        linear: 'direct', 'iterative' or 'auto'.
        scale: A, the reference current of the convergence test (its rounding floor).
        max_it: Newton iterations before a solve counts as failed.
    """

    def __init__(self, model, settings, linear: str, scale: float, max_it: int):
        self.linear = choose_linear(model, linear, settings)
        iterative = self.linear == "iterative"
        v_group = next((g for g, members in model.splits.items()
                        if model.fields.index("V") in members), None)
        self.user_options = dict(settings.petsc_options)
        options = discharge_snes_options(
            self.linear, tuple(model.splits), settings.ksp_rtol, self.user_options,
            voltage_group=v_group,
            voltage_couplings=model.collector_dof_count() if iterative else 0)
        try:
            self.problem = CoupledProblem(
                model, unique_prefix("discharge"), options,
                eliminate_interface=settings.interface_elimination,
                split_groups=model.splits if iterative else None)
        except PETSc.Error as err:
            raise self._option_error(err) from None
        self.snes = self.problem.solver
        release_free_memory()  # the set-up's freed heap, before the solver maps its own
        self.test = convergence_test(scale, rtol=settings.newton_rtol,
                                     atol=settings.newton_atol, max_it=max_it)
        self.snes.setConvergenceTest(self.test)
        if iterative:
            self.problem.set_field_splits()

    def _option_error(self, err) -> ConfigError:
        given = ", ".join(f"{k}={v}" for k, v in self.user_options.items()) or "none"
        return ConfigError(f"PETSc refused the solver set-up (error code {err.ierr}); "
                           f"the PETSc options given: {given}")

    @property
    def scale(self) -> float:
        return self.test.scale

    @scale.setter
    def scale(self, amps: float) -> None:
        self.test.scale = amps

    def solve(self, max_it: int) -> NewtonOutcome:
        """Newton from the model's present unknowns (the initial guess)."""
        self.test.max_it = max_it
        try:
            self.problem.solve()
        except PETSc.Error as err:
            if self.user_options:
                raise self._option_error(err) from None
            raise
        return NewtonOutcome(self.test.converged(self.snes), self.snes.getIterationNumber(),
                             self.snes.getLinearSolveIterations())

    def destroy(self) -> None:
        self.problem.destroy()
