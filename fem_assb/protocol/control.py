"""Time-step control of the discharge: accept or reject a step, choose the next one.

Plain Python (no mesh, no PETSc): unit-tested on its own, and its state is part of a
checkpoint. Backward Euler's local error of a step is estimated from the distance
between the Newton solution and the predictor (the linear extrapolation of the last two
accepted states, second-order accurate), measured on the cell voltage (V) and on the
CAM concentration relative to c_max:

    err = max(|V − V_pred| / tol_V, max|c − c_pred| / (tol_c c_max)) / 2,
    tol_V = max(voltage_tolerance, time_tolerance · t · |dV/dt|)

(on the steep end a voltage error moves the curve in time, i.e. the capacity, by only
δV/|dV/dt|). The next step is dt · clip(safety · err^(−1/2), shrink, grow) (BE's local
error ∝ dt²), and at most the step that changes the voltage by 0.7 max_voltage_step at
the last step's slope (a larger change is refused after the solve: wasted work); a
step with err > reject_factor is repeated with the step that estimate asks for. A
Newton failure halves the step. Bounds: min_dt, max_fraction × the nominal discharge
time, and max_relative × t (resolves the √t transient after switching on).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

VOLTAGE_STEP_SAFETY = 0.7  # aim the next step's voltage change at 0.7 max_voltage_step
FAIL_CEILING = 0.8  # rests and holds: the ceiling after a Newton failure, × the failed dt
CEILING_GROWTH = 1.02  # and its rise per accepted step


@dataclass
class StepControl:
    """Settings of the step control (s, V)."""

    initial_fraction: float = 2e-3  # first dt as a fraction of the nominal discharge time
    max_fraction: float = 0.1  # largest dt as a fraction of the nominal discharge time
    min_dt: float = 1e-4  # s
    voltage_tolerance: float = 2e-3  # V: local error of the cell voltage per step
    concentration_tolerance: float = 0.02  # local error of c_s/c_max per step
    # constant-voltage holds: local error of the current per step, relative to it
    current_tolerance: float = 0.02
    # local error of the curve's time (capacity) where the voltage is steep, relative
    time_tolerance: float = 1e-3
    safety: float = 0.9
    grow: float = 2.0  # largest growth of dt from one step to the next
    shrink: float = 0.25  # largest reduction
    reject_factor: float = 4.0  # reject a step whose error estimate exceeds this
    error_control: bool = True  # False: grow by Newton iteration counts only (old scheme)
    easy_newton: int = 4  # without error control: grow ×1.5 after at most this many
    hard_newton: int = 10  # shrink the next step (×0.6) after more than this many
    max_newton: int = 16  # reject the step (halve dt) when Newton has not converged by then
    max_voltage_step: float = 0.2  # V per accepted step (Newton's range, not accuracy)
    max_relative: float = 1.0  # dt <= max_relative * t
    # stop a discharge when c_s exceeds (1 + overfill) c_max anywhere, a charge when it
    # falls below −overfill c_max (the model has left its range)
    overfill: float = 0.01
    predictor: bool = True  # start Newton from the linear extrapolation of the last steps
    depletion: float = 0.01  # LIB: stop when min c_e < depletion × c_e0
    # stop when the voltage, extrapolated linearly from the last two steps, reaches the
    # the last step lands on the cut-off (a step past it is redone to the crossing of the
    # chord, Illinois-weighted); the run ends once the crossing lies within steep_end/2 × t
    # of the last state (found from that chord or, before any step past it, from the
    # slope), so that state, profiles and fields are those of the reported capacity to
    # ~steep_end/2; 0 resolves the end step by step
    steep_end: float = 1e-3

    def tightened(self, factor: float) -> StepControl:
        """The same settings with error tolerances ``factor`` times smaller."""
        d = asdict(self)
        d["voltage_tolerance"] /= factor
        d["concentration_tolerance"] /= factor
        d["time_tolerance"] /= factor
        d["current_tolerance"] /= factor
        return StepControl(**d)


@dataclass
class StepController:
    """The step size and its history: decides on each step (state is plain data)."""

    settings: StepControl
    t_nominal: float  # s
    dt: float = 0.0
    last_error: float | None = None
    history: list = field(default_factory=list)  # (t, dt, newton its, error) per accepted step
    # rests and holds: after a Newton failure at dt_f the next steps stay below
    # FAIL_CEILING · dt_f, a ceiling that rises by CEILING_GROWTH per accepted step (Newton
    # fails near saturated surfaces at a step size the error estimate would allow: without
    # the memory every step is tried there first and redone at half of it)
    remember_failures: bool = False
    ceiling: float | None = None

    def __post_init__(self):
        if self.dt == 0.0:
            self.dt = self.settings.initial_fraction * self.t_nominal

    @property
    def dt_max(self) -> float:
        return self.settings.max_fraction * self.t_nominal

    def error(self, dv: float, dc: float, slope: float = 0.0, t: float = 0.0) -> float:
        """Normalised local error from |V − V_pred| (V) and max|c − c_pred|/c_max.

        Where the voltage falls steeply (``slope`` dV/dt in V/s at time ``t``, s), a
        voltage error δV shifts the curve in time by only δV/|dV/dt|: the voltage
        tolerance is widened to what shifts it by ``time_tolerance`` · t (the capacity's
        relative error), so the steep end takes a few steps instead of dozens."""
        s = self.settings
        tol_v = max(s.voltage_tolerance, s.time_tolerance * t * abs(slope))
        return 0.5 * max(abs(dv) / tol_v, abs(dc) / s.concentration_tolerance)

    def failed(self) -> bool:
        """Newton failed: halve the step. Returns False when below ``min_dt``."""
        if self.remember_failures:
            self.ceiling = FAIL_CEILING * self.dt
        self.dt *= 0.5
        return self.dt >= self.settings.min_dt

    def judge(self, t: float, its: int, err: float | None, dv: float | None = None) -> bool:
        """After a converged step of ``self.dt`` from time ``t``: accept it (True, and set
        the next dt) or reject it (False, ``self.dt`` is the step to retry with). ``dv``
        (V), the step's voltage change, keeps the next step's change (at the same slope)
        below ``max_voltage_step``: a step beyond it is rejected after its solve."""
        s = self.settings
        if s.error_control and err is not None and err > s.reject_factor:
            factor = max(s.shrink, s.safety * err ** -0.5)
            if self.dt * factor >= s.min_dt:
                self.dt *= factor
                return False
        dt = self.dt
        self.history.append((t + dt, dt, its, err))
        if s.error_control and err is not None:
            factor = min(s.grow, max(s.shrink, s.safety * max(err, 1e-12) ** -0.5))
        elif its <= s.easy_newton:
            factor = 1.5
        else:
            factor = 1.0
        if its > s.hard_newton:
            factor = min(factor, 0.6)
        self.last_error = err
        t_new = t + dt
        self.dt = min(dt * factor, self.dt_max, max(s.max_relative * t_new, dt))
        if dv is not None and abs(dv) > 0:
            self.dt = min(self.dt, max(VOLTAGE_STEP_SAFETY * s.max_voltage_step * dt / abs(dv),
                                       dt * s.shrink))
        if self.ceiling is not None:
            self.ceiling *= CEILING_GROWTH
            self.dt = min(self.dt, self.ceiling)
        self.dt = max(self.dt, s.min_dt)
        return True

    def state(self) -> dict:
        return {"dt": self.dt, "last_error": self.last_error, "ceiling": self.ceiling,
                "history": [list(h) for h in self.history]}

    def restore(self, state: dict) -> None:
        self.dt = float(state["dt"])
        self.last_error = state["last_error"]
        self.ceiling = state["ceiling"]
        self.history = [tuple(h) for h in state["history"]]
