"""What ends a protocol step, and what ends a run: one class per stop.

A step's limits are event functions g of the state after a time step (cell voltage V,
current density I, the step's charge q), positive before the limit, zero at it:

    VoltageLimit:   g = s (V − V_lim), s = +1 on discharge (V falls), −1 on charge
    CurrentLimit:   g = |I| − I_lim (a hold's decaying current)
    CapacityLimit:  g = q_lim − q

A step that overshoots (g < −tolerance) is not accepted: it bounds the crossing, and the
next attempt aims at the crossing of the chord between the last state and that attempt
(``Landing``: regula falsi, Illinois-weighted). A time limit is met exactly by
shortening the last step. The cell model supplies its own run-wide stops
(``ThresholdEvent``: CAM saturated or exhausted, electrolyte depleted) through
``CellModel.stop_events``, so the loop never asks which chemistry it runs. Plain
Python: unit-tested without a mesh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from fem_assb.protocol.experiment import Step

MAX_LANDING_ATTEMPTS = 12  # landing solves before the chord's crossing is taken as the end
LANDING_TOLERANCE = 1e-3  # V: a step this close beyond a voltage limit ends the step on it
# a step ends when its limit is located within this share of ``steep_end`` × t of the
# last state (its capacity then within ~steep_end/2 of the reported one)
LANDING_SHARE = 0.5


class StopReason(StrEnum):
    """Why a protocol step, or the run, ended (one vocabulary for API, CLI and files)."""

    VOLTAGE_LIMIT = "voltage_limit"  # the step's voltage limit (a discharge's cut-off)
    CURRENT_LIMIT = "current_limit"  # a hold's current fell to its limit
    CAPACITY_LIMIT = "capacity_limit"
    TIME_LIMIT = "time_limit"
    ELECTROLYTE_DEPLETED = "electrolyte_depleted"  # LIB: min c_e below its floor
    CAM_SATURATED = "cam_saturated"  # discharge: c_s beyond c_max (the model's range)
    CAM_EXHAUSTED = "cam_exhausted"  # charge: c_s at 0 (no lithium left to remove)
    NO_USABLE_STEP = "no_usable_step"  # the first time step already passes the limit
    SOLVER_FAILED = "solver_failed"  # no step size converges (ends the run)
    MAX_STEPS = "max_steps"  # the run's time-step budget (ends the run)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM (ends the run)


@dataclass(frozen=True)
class Point:
    """A state on a step's curve: step time t (s), V (V), I (A/m², > 0 discharge), the
    step's charge q (C/m², ≥ 0)."""

    t: float
    V: float
    I: float  # noqa: E741
    q: float


@dataclass(frozen=True)
class Limit:
    """A step limit (base): ``g`` > 0 before it, < 0 past it."""

    value: float  # V, A/m² or C/m²
    reason = StopReason.VOLTAGE_LIMIT

    def g(self, volts: float, current: float, charge: float) -> float:
        raise NotImplementedError

    @property
    def tolerance(self) -> float:
        """How far past the limit a step may end without a landing."""
        raise NotImplementedError

    def pin(self, p: Point) -> Point:
        """The point with the limit's own quantity set to the limit's value."""
        return p


@dataclass(frozen=True)
class VoltageLimit(Limit):
    sign: int = 1  # +1 when V falls towards it (discharge), −1 (charge)
    reason = StopReason.VOLTAGE_LIMIT

    def g(self, volts: float, current: float, charge: float) -> float:
        return self.sign * (volts - self.value)

    @property
    def tolerance(self) -> float:
        return LANDING_TOLERANCE

    def pin(self, p: Point) -> Point:
        return Point(p.t, self.value, p.I, p.q)


@dataclass(frozen=True)
class CurrentLimit(Limit):
    reason = StopReason.CURRENT_LIMIT

    def g(self, volts: float, current: float, charge: float) -> float:
        return abs(current) - self.value

    @property
    def tolerance(self) -> float:
        return 1e-3 * self.value

    def pin(self, p: Point) -> Point:
        return Point(p.t, p.V, math.copysign(self.value, p.I), p.q)


@dataclass(frozen=True)
class CapacityLimit(Limit):
    reason = StopReason.CAPACITY_LIMIT

    def g(self, volts: float, current: float, charge: float) -> float:
        return self.value - charge

    @property
    def tolerance(self) -> float:
        return 1e-9 * self.value

    def pin(self, p: Point) -> Point:
        return Point(p.t, p.V, p.I, self.value)


def step_limits(step: Step, theoretical_C_m2: float) -> tuple[list[Limit], float | None]:
    """(event limits, time limit in s or None) of a protocol step. A constant-current
    step's capacity limit is a time limit (q = |I| t)."""
    limits, t_end = [], step.duration_s
    if step.until_voltage_V is not None:
        limits.append(VoltageLimit(step.until_voltage_V, step.sign))
    i_lim = step.current_limit_A_m2(theoretical_C_m2)
    if i_lim is not None:
        limits.append(CurrentLimit(i_lim))
    q_lim = step.capacity_limit_C_m2()
    if q_lim is not None:
        i = abs(step.current_A_m2(theoretical_C_m2)) if step.sign else 0.0
        if i > 0:
            t_q = q_lim / i
            t_end = t_q if t_end is None else min(t_end, t_q)
        else:
            limits.append(CapacityLimit(q_lim))
    return limits, t_end


def chord_crossing(t_lo: float, f_lo: float, t_hi: float, f_hi: float) -> float:
    """Where the chord from (t_lo, f_lo > 0) to (t_hi, f_hi < 0) crosses zero."""
    return t_lo + (t_hi - t_lo) * f_lo / (f_lo - f_hi) if f_lo != f_hi else t_hi


@dataclass
class Landing:
    """The bracket of a limit's crossing: an attempt past limit ``limit`` at step time
    ``t`` with g = ``f`` (< 0) and its state ``values`` (V, I, q); the Illinois weights
    of the two ends and which end moved last ('past' or 'step')."""

    limit: int
    t: float
    f: float
    values: tuple[float, float, float]
    w_hi: float = 1.0
    w_lo: float = 1.0
    last: str = "past"

    def target(self, t: float, f: float) -> float:
        """The next attempt's end time: the crossing of the chord from the state (t, f)
        to the attempt past the limit, each end's f weighted (Illinois: an end that kept
        its place twice counts half, so that regula falsi does not stall on a curve)."""
        return chord_crossing(t, self.w_lo * f, self.t, self.w_hi * self.f)

    def crossing(self, t: float, f: float) -> float:
        """The unweighted chord's crossing from the state (t, f)."""
        return chord_crossing(t, f, self.t, self.f)

    def moved_past(self, limit: int, t: float, f: float, values: tuple) -> Landing:
        """A new attempt past the limit: the far end moves (its weight halves if it
        moved last time too)."""
        again = self.last == "past"
        return Landing(limit, t, f, values, 1.0, 0.5 * self.w_lo if again else 1.0, "past")

    def moved_state(self) -> None:
        """An accepted landing step short of the limit: the near end moved."""
        again = self.last == "step"
        self.w_lo, self.w_hi, self.last = 1.0, 0.5 * self.w_hi if again else 1.0, "step"


@dataclass(frozen=True)
class ThresholdEvent:
    """A run-wide stop the cell model supplies: ``measure()`` (collective) crossing
    ``bound`` (from below if ``above``, else from above), checked after accepted steps
    whose current has the sign ``direction`` (+1 discharge, −1 charge, 0 any)."""

    reason: StopReason
    measure: Callable[[], float]
    bound: float
    above: bool
    direction: int = 0
    warning: str | None = None  # printed (with the value) when it stops a step
    # where Newton fails for want of a state (an emptied surface on charge), the event
    # ends the step at the last accepted state once the measure is past this bound
    failure_bound: float | None = None

    def reached(self, current: float, failed: bool = False) -> float | None:
        """The measured value when the event is reached after a step at ``current``
        (A/m², > 0 discharge), else None; ``failed``: no step size converges from the
        present state (the looser ``failure_bound`` applies)."""
        bound = self.failure_bound if failed else self.bound
        if bound is None or (self.direction and not self.direction * current > 0):
            return None
        value = self.measure()
        hit = value >= bound if self.above else value < bound
        return value if hit else None
