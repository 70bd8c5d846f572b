"""Galvanostatic discharge: the one-step protocol "Discharge at I until the cut-off".

A shorthand of ``fem_assb.solver.timeloop.run_experiment`` with the discharge's own
vocabulary: the stop reason is 'cutoff' (the voltage limit), 'max_time' (the time
limit), 'electrolyte_depleted', 'cam_saturated', 'solver_failed' or 'max_steps'.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from fem_assb.constants import MA_PER_CM2
from fem_assb.solver.control import StepControl
from fem_assb.solver.experiment import Experiment, Step
from fem_assb.solver.timeloop import RunError, RunResult, convergence_test, run_experiment

__all__ = ["DischargeError", "DischargeResult", "StepControl", "run_discharge"]

_convergence_test = convergence_test  # the name the tests know


# invalid discharge input (cut-off above rest voltage, non-positive current, ...)
DischargeError = RunError


# stop reasons of a finished discharge, or of one ended at the requested time (the others:
# 'solver_failed', 'max_steps')
COMPLETE_REASONS = ("cutoff", "electrolyte_depleted", "cam_saturated", "max_time")
# a protocol step's end -> the discharge's stop reason
_REASONS = {"voltage_limit": "cutoff", "time_limit": "max_time"}


@dataclass
class DischargeResult(RunResult):
    """Summary of one discharge (user units in the names)."""

    @property
    def complete(self) -> bool:
        """Did the run end where a discharge ends (cut-off voltage, depleted
        electrolyte, the requested time), not by a solver failure or the step limit?"""
        return self.stop_reason in COMPLETE_REASONS

    def summary(self) -> dict:
        """The result as a dict for strict JSON: non-finite numbers become None
        (``steps``: the number of time steps)."""
        d = self.numbers()
        d.pop("steps_summary")
        d["provenance"] = d.pop("provenance")
        return d


def run_discharge(model, theoretical_capacity: float, cutoff: float, mass_per_area: float,
                  output: str | Path | None = None, control: StepControl | None = None,
                  linear: str = "auto", progress: bool = True, max_steps: int = 2000,
                  max_time: float | None = None, solver=None, observers=None,
                  checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
                  resume: bool = False, provenance: dict | None = None) -> DischargeResult:
    """Discharge ``model`` at its current density down to ``cutoff`` (V), or for
    ``max_time`` s; the other arguments as ``run_experiment``'s."""
    current = float(model.current_density)  # A/m²
    if not current > 0:
        raise DischargeError(f"current density must be > 0 mA/cm², got {current / MA_PER_CM2}")
    u_rest = model.set_rest_state()
    if cutoff >= u_rest:
        raise DischargeError(f"cut-off voltage {cutoff} V is not below the rest voltage "
                             f"{u_rest:.4f} V")
    step = Step("discharge", current_mA_cm2=current / MA_PER_CM2, until_voltage_V=cutoff,
                duration_s=max_time)
    res = run_experiment(model, Experiment([step]), theoretical_capacity, mass_per_area,
                         output=output, control=control, linear=linear, progress=progress,
                         max_steps=max_steps, solver=solver, observers=observers,
                         checkpoint_every=checkpoint_every,
                         checkpoint_minutes=checkpoint_minutes, resume=resume,
                         provenance=provenance)
    d = {f.name: getattr(res, f.name) for f in fields(RunResult)}
    if res.stop_reason == "completed":
        reason = res.steps_summary[0]["stop_reason"]
        d["stop_reason"] = _REASONS.get(reason, reason)
    return DischargeResult(**d)
