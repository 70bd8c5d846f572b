"""One time step of a protocol step: ``Stepper.attempt`` → ``Outcome``.

An attempt chooses dt (the controller's, or the landing's target on a limit), starts
Newton from the predictor, and then either rejects the step (the state goes back: a
failed solve, a step past a limit, a voltage jump, a local error above the tolerance)
or accepts it and checks the ends: the step's limits (landed, or located on a steep end),
its time limit, and the model's run-wide events. Backward Euler's local error is the
distance of the solution from the linear extrapolation of the last accepted states
(``StepController.error``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum

import numpy as np

from fem_assb._dolfinx import MPI
from fem_assb.constants import MAH_PER_CM2
from fem_assb.protocol.control import StepControl, StepController
from fem_assb.protocol.events import (
    LANDING_SHARE,
    MAX_LANDING_ATTEMPTS,
    Landing,
    Limit,
    Point,
    StopReason,
    VoltageLimit,
    chord_crossing,
)
from fem_assb.protocol.experiment import Step
from fem_assb.protocol.state import RunState, StepState

# a first step past its voltage limit is retried this many times shorter (see
# ``Stepper._first_step_past``)
FIRST_STEP_PROBE = 16.0


class Outcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the state is unchanged: try again (with the next dt)
    STEP_END = "step_end"  # accepted (or not) and the protocol step ends: ``st.reason``
    FAILED = "failed"  # no step size converges


@dataclass(frozen=True)
class StepPlan:
    """What a protocol step asks of each time step."""

    step: Step
    limits: list[Limit]
    t_end: float | None  # s of step time
    current: float | None  # A/m² (> 0 discharge); None: a hold

    @property
    def held(self) -> bool:
        return self.current is None


@dataclass
class _Trial:
    """A solved attempt: its start time t, step dt, state before, Newton iterations,
    the new point (None: not converged), the predictor's output and field, and the cell
    voltage of Newton's last iterate where it did not converge (V)."""

    t: float
    dt: float
    saved: list
    its: int
    new: Point | None
    predicted: tuple | None
    failed_volts: float | None = None


class Stepper:
    """Attempts time steps of ``model`` with ``newton``, counting into ``run``."""

    def __init__(self, model, newton, control: StepControl, run: RunState, i_ref: float,
                 events: list, rank0: bool):
        self.model, self.newton, self.s, self.run = model, newton, control, run
        self.i_ref, self.events, self.rank0 = i_ref, events, rank0
        self.history: list = []  # up to two earlier accepted states (the predictor's)
        self.error_entries, self.field_scale = model.error_entries()

    def _error_values(self, state: list) -> np.ndarray:
        """The values of ``state`` whose local error is measured, as one array."""
        return np.concatenate([np.ravel(state[k]) for k in self.error_entries])

    def reset_history(self) -> None:
        """A new protocol step starts from a jump: no extrapolation across it."""
        self.history, self.run.history_times = [], []

    def attempt(self, plan: StepPlan, st: StepState, ctl: StepController) -> Outcome:
        t = st.times[-1]
        g_now = [lim.g(st.volts[-1], st.currents[-1], st.charge[-1]) for lim in plan.limits]
        trial = self._solve(plan, st, ctl, self._dt(plan, st, ctl, t, g_now))
        new = trial.new
        g_new = [lim.g(new.V, new.I, new.q) for lim in plan.limits] if new else []
        if new is not None and st.n == 0 and plan.step.sign and any(
                isinstance(lim, VoltageLimit) and g < -lim.tolerance
                for lim, g in zip(plan.limits, g_new, strict=True)):
            return self._first_step_past(plan, st, ctl, trial)
        past = [j for j, g in enumerate(g_new) if g < -plan.limits[j].tolerance] \
            if new and st.n > 0 else []
        big_jump = (new is not None and not past and st.n > 0 and not plan.held
                    and abs(new.V - st.volts[-1]) > self.s.max_voltage_step
                    and trial.dt > 4 * self.s.min_dt)
        if new is None or big_jump or past:
            return self._bounce(plan, st, ctl, trial, g_now, g_new, past)
        err = self._error(plan, st, ctl, trial)
        # the first step's jump is no slope: it does not limit the next step
        dv = new.V - st.volts[-1] if st.n > 0 and not plan.held else None
        # landing steps are accepted as they come (they only shorten the last step)
        if st.landing is None and not ctl.judge(t, trial.its, err, dv=dv):
            self._reject(st, trial)
            return Outcome.REJECTED
        self._accept(st, trial)
        return self._ends(plan, st, g_now, g_new)

    # -- the attempt -------------------------------------------------------------------
    def _dt(self, plan: StepPlan, st: StepState, ctl: StepController, t: float,
            g_now: list) -> float:
        land = st.landing
        dt = land.target(t, g_now[land.limit]) - t if land is not None else ctl.dt
        if plan.t_end is not None:
            dt = min(dt, plan.t_end - t)
        ctl.dt = dt
        return dt

    def _solve(self, plan: StepPlan, st: StepState, ctl: StepController,
               dt: float) -> _Trial:
        model, t = self.model, st.times[-1]
        model.recenter()
        saved = model.state()
        model.begin_step(dt)
        predicted = None
        if self.history and self.s.predictor:
            ratio = dt / (t - self.run.history_times[-1])
            f_now = self._error_values(saved)
            out = st.currents if plan.held else st.volts
            predicted = (out[-1] + ratio * (out[-1] - out[-2]),
                         f_now + ratio * (f_now - self._error_values(self.history[-1])))
            model.predict(self.history, [*self.run.history_times, t], t + dt)
        # the first time step of a protocol step starts from a jump: Newton gets more room
        try:
            res = self.newton.solve(self.s.max_newton if st.n else 2 * self.s.max_newton)
        except KeyboardInterrupt:  # a second Ctrl-C: back to the last accepted state
            model.restore(saved)
            raise
        self.run.newton += res.iterations  # the work done, rejected steps included
        self.run.linear += res.linear_iterations
        new, v = None, model.cell_voltage()
        if res.converged:
            i = model.cell_current() if plan.held else plan.current
            if np.isfinite(v) and np.isfinite(i):
                new = Point(t + dt, v, i, st.charge[-1] + abs(i) * dt)
        return _Trial(t, dt, saved, res.iterations, new, predicted,
                      None if new is not None else v)

    def _reject(self, st: StepState, trial: _Trial) -> None:
        self.model.restore(trial.saved)
        self.run.rejected += 1
        st.rejected += 1

    def _bounce(self, plan, st, ctl, trial: _Trial, g_now, g_new, past) -> Outcome:
        """A rejected attempt: a bound of a limit's crossing, or a failed solve."""
        self._reject(st, trial)
        t, land = trial.t, st.landing
        if past:  # the far end moves; the state stays (its weight halves if again)
            new = trial.new
            j = min(past, key=lambda j: chord_crossing(t, g_now[j], new.t, g_new[j]))
            values = (new.V, new.I, new.q)
            land = st.landing = (land.moved_past(j, new.t, g_new[j], values) if land
                                 else Landing(j, new.t, g_new[j], values))
            st.landings += 1
            t_cross = land.crossing(t, g_now[j])
            near = t_cross - t <= LANDING_SHARE * self.s.steep_end * t
            if near or st.landings > MAX_LANDING_ATTEMPTS:  # state at the limit
                self._end_at(st, plan.limits[j], t_cross)
                return Outcome.STEP_END
            return Outcome.REJECTED
        if land is not None:  # a landing attempt failed: end at the chord's crossing
            self._end_at(st, plan.limits[land.limit], land.crossing(t, g_now[land.limit]))
            return Outcome.STEP_END
        if st.probed and st.n == 0:  # the shorter first step does not converge
            return self._no_usable_step(plan, st, f"no shorter step of {trial.dt:.3g} s "
                                                  "converges")
        if ctl.failed():
            return Outcome.REJECTED
        if st.n == 0 and self._diverged_past_limit(plan, trial):  # nothing from the start
            return self._no_usable_step(plan, st, f"no time step down to {trial.dt:.3g} s "
                                                  "converges, Newton's iterates pass the "
                                                  "voltage limit", past=False)
        return self._events(plan, st, failed=True) or Outcome.FAILED

    @staticmethod
    def _diverged_past_limit(plan: StepPlan, trial: _Trial) -> bool:
        """A current-driven step whose failed Newton iterate lies beyond (or off) its
        voltage limit: the current is more than the cell can take (not a solver fault)."""
        v = trial.failed_volts
        return plan.step.sign != 0 and not plan.held and v is not None and any(
            isinstance(lim, VoltageLimit) and not lim.g(v, plan.current, 0.0) >= 0.0
            for lim in plan.limits)

    def _first_step_past(self, plan: StepPlan, st: StepState, ctl: StepController,
                         trial: _Trial) -> Outcome:
        """The first time step passes the step's voltage limit: retried once
        ``FIRST_STEP_PROBE`` times shorter; past it even then (or not converging), the
        cell cannot take this current (its instantaneous drop crosses the limit): the
        step ends where it started, nothing passes."""
        self._reject(st, trial)
        if not st.probed and trial.dt > FIRST_STEP_PROBE * self.s.min_dt:
            st.probed = True
            ctl.dt = trial.dt / FIRST_STEP_PROBE
            return Outcome.REJECTED
        return self._no_usable_step(plan, st, f"{trial.new.V:.4g} V after {trial.dt:.3g} s")

    def _no_usable_step(self, plan: StepPlan, st: StepState, what: str,
                        past: bool = True) -> Outcome:
        st.reason = StopReason.NO_USABLE_STEP
        if self.rank0:
            why = f"the first time step passes the voltage limit ({what})" if past else what
            warnings.warn(f"'{plan.step.describe()}': {why}: the cell cannot take this "
                          "current; no charge passed", stacklevel=3)
        return Outcome.STEP_END

    def _error(self, plan: StepPlan, st: StepState, ctl: StepController,
               trial: _Trial) -> float | None:
        """The local error estimate (None without a predictor)."""
        if trial.predicted is None:
            return None
        s, new = self.s, trial.new
        df = self._error_values(self.model.state()) - trial.predicted[1]
        df_max = self.model.comm.allreduce(float(np.abs(df).max()) if df.size else 0.0,
                                           op=MPI.MAX)
        if plan.held:  # the output is the current: its error in V-equivalents
            dout = (new.I - trial.predicted[0]) / max(abs(new.I), 1e-3 * self.i_ref) \
                * s.voltage_tolerance / s.current_tolerance
            slope = 0.0
        else:
            dout, slope = new.V - trial.predicted[0], (new.V - st.volts[-1]) / trial.dt
        return ctl.error(dout, df_max / self.field_scale, slope=slope, t=trial.t + trial.dt)

    def _accept(self, st: StepState, trial: _Trial) -> None:
        run, new = self.run, trial.new
        run.steps += 1
        if st.n >= 1:  # the first step holds the jump of switching: no history before it
            self.history = [*self.history, trial.saved][-2:]
            run.history_times = [*run.history_times, trial.t][-2:]
        st.add(new, trial.its)
        run.q_state += new.I * trial.dt
        run.q_abs += abs(new.I) * trial.dt
        self._balances(new.I)

    def _balances(self, current: float) -> None:
        b, model = self.run.balances, self.model
        area = model.cross_section
        i_if = model.interface_current_total()
        b.max_charge_error = max(b.max_charge_error,
                                 abs(i_if + current * area) / (self.i_ref * area))
        if b.salt0_mol is None and b.min_electrolyte_concentration is None:
            return  # nothing the electrolyte holds varies (ASSB): no assembly per step
        inv = model.inventory()
        if inv.salt_mol is not None:
            b.max_salt_error = max(b.max_salt_error,
                                   abs(inv.salt_mol - b.salt0_mol) / b.salt0_mol)
        if inv.min_electrolyte_concentration is not None:
            b.min_electrolyte_concentration = min(b.min_electrolyte_concentration,
                                                  inv.min_electrolyte_concentration)

    # -- the ends ----------------------------------------------------------------------
    def _ends(self, plan: StepPlan, st: StepState, g_now: list, g_new: list) -> Outcome:
        """After an accepted step: has the protocol step reached one of its ends?"""
        reached = [j for j, g in enumerate(g_new) if g <= 0]
        if reached:  # landed (within the tolerance), or the first step's jump crossed it
            self._reached(plan.limits[reached[0]], st, g_now[reached[0]], g_new[reached[0]])
            return Outcome.STEP_END
        t = st.times[-1]
        if plan.t_end is not None and t >= plan.t_end * (1 - 1e-12):
            st.reason = StopReason.TIME_LIMIT
            return Outcome.STEP_END
        j_cut, t_cut = self._located_end(plan, st, g_new)
        near = t_cut - t < LANDING_SHARE * self.s.steep_end * t
        if j_cut is not None and (near or st.landings > MAX_LANDING_ATTEMPTS):
            self._end_at(st, plan.limits[j_cut], t_cut)
            return Outcome.STEP_END
        return self._events(plan, st) or Outcome.ACCEPTED

    def _reached(self, lim: Limit, st: StepState, g_before: float, g_after: float) -> None:
        st.reason = lim.reason
        if g_after < 0:  # slightly past: the crossing interpolated within the last step
            p0, p1 = st.previous(), st.last()
            t_e = chord_crossing(p0.t, g_before, p1.t, g_after)
            w = (t_e - p0.t) / (p1.t - p0.t)
            st.end = Point(t_e, lim.value if isinstance(lim, VoltageLimit)
                           else p0.V + w * (p1.V - p0.V),
                           p0.I + w * (p1.I - p0.I), p0.q + w * (p1.q - p0.q))

    def _located_end(self, plan: StepPlan, st: StepState, g_new: list):
        """(limit index, step time) of the end located ahead: from the landing's chord,
        or (``steep_end``) extrapolated from the last two states; (None, inf) if none."""
        t, land = st.times[-1], st.landing
        if land is not None:  # a landing step short of the limit: the chord to the attempt
            # past it says how far it still is (the far end's weight halves if again)
            t_cut = land.crossing(t, g_new[land.limit])
            land.moved_state()
            st.landings += 1
            return land.limit, t_cut
        t_cut, j_cut = float("inf"), None
        if self.s.steep_end > 0 and len(st.times) >= 3:
            p = st.previous()
            for j, lim in enumerate(plan.limits):
                g_prev = lim.g(p.V, p.I, p.q)
                if g_new[j] < g_prev:
                    tc = t + g_new[j] / ((g_prev - g_new[j]) / (t - p.t))
                    if tc < t_cut:
                        t_cut, j_cut = tc, j
        return j_cut, t_cut

    def _end_at(self, st: StepState, lim: Limit, t_cut: float) -> None:
        """End the protocol step at ``t_cut`` (step time): V, I, q linear between the last
        state and the attempt past the limit (or, extrapolated, the last two states);
        the limit's own quantity takes the limit's value."""
        st.reason = lim.reason
        p0, land = st.last(), st.landing
        p1 = Point(land.t, *land.values) if land is not None else st.previous()
        w = (t_cut - p0.t) / (p1.t - p0.t) if p1.t != p0.t else 0.0
        st.end = lim.pin(Point(t_cut, p0.V + w * (p1.V - p0.V), p0.I + w * (p1.I - p0.I),
                               p0.q + w * (p1.q - p0.q)))

    def _events(self, plan: StepPlan, st: StepState, failed: bool = False) -> Outcome | None:
        """STEP_END if one of the model's run-wide stops is reached (after an accepted
        step, or where no step size converges: ``failed``), else None."""
        current = plan.current if plan.current is not None else st.currents[-1]
        for event in self.events:
            value = event.reached(current, failed)
            if value is None:
                continue
            st.reason = event.reason
            if event.warning and self.rank0:
                warnings.warn(f"{event.warning} = {value:.3g} at "
                              f"{self.run.q_state / MAH_PER_CM2:.4g} mAh/cm² (step "
                              f"'{plan.step.describe()}' stopped)", stacklevel=2)
            return Outcome.STEP_END
        return None
