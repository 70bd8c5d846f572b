"""What ends a protocol step: its limits as event functions, and the landing on them.

Each limit is a function g of the state after a step (cell voltage V, current density
I, the step's charge q) that is positive before the limit and crosses zero at it:

    voltage limit:  g = s (V − V_lim), s = +1 on discharge (V falls), −1 on charge
    current limit:  g = |I| − I_lim (a hold's decaying current)
    capacity limit: g = q_lim − q

A step that overshoots (g < −tolerance) is not accepted: it bounds the crossing, and the
next attempt aims at the crossing of the chord between the last state and that attempt
(regula falsi, Illinois-weighted). A time limit is met exactly by shortening the last
step. Plain Python: unit-tested without a mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

from fem_assb.solver.experiment import Step

MAX_LANDING_ATTEMPTS = 12  # landing solves before the chord's crossing is taken as the end
LANDING_TOLERANCE = 1e-3  # V: a step this close beyond a voltage limit ends the step on it
# a step ends when its limit is located within this share of ``steep_end`` × t of the
# last state (its capacity then within ~steep_end/2 of the reported one)
LANDING_SHARE = 0.5


@dataclass(frozen=True)
class Limit:
    """A step limit: ``reason`` is the step's stop reason when it is reached."""

    reason: str  # 'voltage_limit', 'current_limit', 'capacity_limit'
    value: float  # V, A/m², C/m²
    sign: int = 1  # voltage limits: +1 when V falls towards it (discharge), −1 (charge)

    def g(self, volts: float, current: float, charge: float) -> float:
        """Distance to the limit: > 0 before it, < 0 past it (V, A/m² or C/m²)."""
        if self.reason == "voltage_limit":
            return self.sign * (volts - self.value)
        if self.reason == "current_limit":
            return abs(current) - self.value
        return self.value - charge

    @property
    def tolerance(self) -> float:
        """How far past the limit a step may end without a landing."""
        if self.reason == "voltage_limit":
            return LANDING_TOLERANCE
        if self.reason == "current_limit":
            return 1e-3 * self.value
        return 1e-9 * self.value


def step_limits(step: Step, theoretical_C_m2: float) -> tuple[list[Limit], float | None]:
    """(event limits, time limit in s or None) of a protocol step. A constant-current
    step's capacity limit is a time limit (q = |I| t)."""
    limits, t_end = [], step.duration_s
    if step.until_voltage_V is not None:
        limits.append(Limit("voltage_limit", step.until_voltage_V, step.sign))
    i_lim = step.current_limit_A_m2(theoretical_C_m2)
    if i_lim is not None:
        limits.append(Limit("current_limit", i_lim))
    q_lim = step.capacity_limit_C_m2()
    if q_lim is not None:
        i = abs(step.current_A_m2(theoretical_C_m2)) if step.sign else 0.0
        if i > 0:
            t_q = q_lim / i
            t_end = t_q if t_end is None else min(t_end, t_q)
        else:
            limits.append(Limit("capacity_limit", q_lim))
    return limits, t_end


def chord_crossing(t_lo: float, f_lo: float, t_hi: float, f_hi: float) -> float:
    """Where the chord from (t_lo, f_lo > 0) to (t_hi, f_hi < 0) crosses zero."""
    return t_lo + (t_hi - t_lo) * f_lo / (f_lo - f_hi) if f_lo != f_hi else t_hi


def landing_target(t: float, f: float, land: dict) -> float:
    """The next attempt's end time: the crossing of the chord from the state (t, f) to
    the last attempt past the limit, each end's f weighted (Illinois: an end that kept
    its place twice counts half, so that regula falsi does not stall on a curved end)."""
    return chord_crossing(t, land["w_lo"] * f, land["t"], land["w_hi"] * land["f"])
