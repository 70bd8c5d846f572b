"""Time-step control of the discharge: accept or reject a step, choose the next one.

Plain Python (no mesh, no PETSc): unit-tested on its own, and its state is part of a
checkpoint. Backward Euler's local error of a step is estimated from the distance
between the Newton solution and the predictor (the linear extrapolation of the last two
accepted states, second-order accurate), measured on the cell voltage (V) and on the
CAM concentration relative to c_max:

    err = max(|V − V_pred| / tol_V, max|c − c_pred| / (tol_c c_max)) / 2

A step with err ≤ 1 is accepted, the next one is dt · clip(safety · err^(−1/2), shrink,
grow) (BE's local error ∝ dt²); a step with err > reject_factor is repeated with the
step that estimate asks for. A Newton failure halves the step. Bounds: min_dt,
max_fraction × the nominal discharge time, and max_relative × t (resolves the √t
transient after switching on).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class StepControl:
    """Settings of the step control (s, V)."""

    initial_fraction: float = 2e-3  # first dt as a fraction of the nominal discharge time
    max_fraction: float = 0.1  # largest dt as a fraction of the nominal discharge time
    min_dt: float = 1e-4  # s
    voltage_tolerance: float = 2e-3  # V: local error of the cell voltage per step
    concentration_tolerance: float = 0.02  # local error of c_s/c_max per step
    safety: float = 0.9
    grow: float = 2.0  # largest growth of dt from one step to the next
    shrink: float = 0.25  # largest reduction
    reject_factor: float = 2.0  # reject a step whose error estimate exceeds this
    error_control: bool = True  # False: grow by Newton iteration counts only (old scheme)
    easy_newton: int = 4  # without error control: grow ×1.5 after at most this many
    hard_newton: int = 10  # shrink the next step (×0.6) after more than this many
    max_newton: int = 16  # reject the step (halve dt) when Newton has not converged by then
    max_voltage_step: float = 0.05  # V per accepted step
    max_relative: float = 1.0  # dt <= max_relative * t
    overfill: float = 0.01  # stop when c_s exceeds (1 + overfill) c_max anywhere
    predictor: bool = True  # start Newton from the linear extrapolation of the last steps
    depletion: float = 0.01  # LIB: stop when min c_e < depletion × c_e0
    # stop when the voltage, extrapolated linearly from the last two steps, reaches the
    # cut-off within steep_end × t (the near-vertical end costs many tiny steps and adds
    # < steep_end of the capacity); 0 resolves the end step by step
    steep_end: float = 1e-3

    def tightened(self, factor: float) -> StepControl:
        """The same settings with error tolerances ``factor`` times smaller."""
        d = asdict(self)
        d["voltage_tolerance"] /= factor
        d["concentration_tolerance"] /= factor
        return StepControl(**d)


@dataclass
class StepController:
    """The step size and its history: decides on each step (state is plain data)."""

    settings: StepControl
    t_nominal: float  # s
    dt: float = 0.0
    last_error: float | None = None
    history: list = field(default_factory=list)  # (t, dt, newton its, error) per accepted step

    def __post_init__(self):
        if self.dt == 0.0:
            self.dt = self.settings.initial_fraction * self.t_nominal

    @property
    def dt_max(self) -> float:
        return self.settings.max_fraction * self.t_nominal

    def error(self, dv: float, dc: float) -> float:
        """Normalised local error from |V − V_pred| (V) and max|c − c_pred|/c_max."""
        s = self.settings
        return 0.5 * max(abs(dv) / s.voltage_tolerance, abs(dc) / s.concentration_tolerance)

    def failed(self) -> bool:
        """Newton failed: halve the step. Returns False when below ``min_dt``."""
        self.dt *= 0.5
        return self.dt >= self.settings.min_dt

    def judge(self, t: float, its: int, err: float | None) -> bool:
        """After a converged step of ``self.dt`` from time ``t``: accept it (True, and set
        the next dt) or reject it (False, ``self.dt`` is the step to retry with)."""
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
        self.dt = max(self.dt, s.min_dt)
        return True

    def state(self) -> dict:
        return {"dt": self.dt, "last_error": self.last_error,
                "history": [list(h) for h in self.history]}

    def restore(self, state: dict) -> None:
        self.dt = float(state["dt"])
        self.last_error = state["last_error"]
        self.history = [tuple(h) for h in state["history"]]
