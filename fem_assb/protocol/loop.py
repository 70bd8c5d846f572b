"""The time loop: a protocol (``Experiment``) run step by step on a cell model.

For each protocol step the loop switches the model's collector condition (a current,
or a held voltage) and lets the ``Stepper`` advance backward-Euler time steps until
one of the step's ends (``fem_assb.protocol.events``); observers see every accepted
step. Each protocol step starts its step control afresh (a current switched on or off
is a jump: no extrapolation across it) and starts from the state the previous one left.
The loop talks to the model through ``fem_assb.physics.contract.CellModel`` only.
"""

from __future__ import annotations

import json
import signal
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from fem_assb._dolfinx import MPI
from fem_assb.constants import FARADAY, MA_PER_CM2, MAH_PER_CM2
from fem_assb.errors import ConfigError, RunError
from fem_assb.numerics.newton import NewtonSolver
from fem_assb.protocol.control import StepController
from fem_assb.protocol.events import StopReason, step_limits
from fem_assb.protocol.experiment import Experiment, Step
from fem_assb.protocol.interrupts import interruptible, requested
from fem_assb.protocol.observers import (
    Checkpointer,
    CurveWriter,
    Observer,
    ProgressObserver,
    StepRecord,
)
from fem_assb.protocol.result import RunResult
from fem_assb.protocol.run_options import RunOptions
from fem_assb.protocol.state import (
    Balances,
    RunState,
    StepState,
    StepSummary,
    check_identity,
    load_checkpoint,
    save_checkpoint,
)
from fem_assb.protocol.stepper import Outcome, Stepper, StepPlan

# a surface-resolution figure above this is under-resolved (see worst_resolution)
UNRESOLVED = 0.5
FRONT_UNRESOLVED = 0.5  # the particle: 0.36 at 0.2C (+1.3 %), 1.3 with 0.1 µm columns (+39 %)

# Newton's current scale in rests and holds, as a share of the reference current
REST_TOLERANCE_SHARE = 0.01


class Interrupted(RunError):  # noqa: N818 (what the user did, not a failure)
    """The run was stopped by Ctrl-C or SIGTERM (``signal``; the message says where, and
    whether the state was saved)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signal = signum


@dataclass
class RunInputs:
    """What a run needs: the cell model at rest, the protocol, the cell's theoretical
    capacity (C/m²) and mass basis (kg/m²), the run options, the run's identity (what a
    checkpoint must match), extra observers and the provenance record."""

    model: object  # ``fem_assb.physics.contract.CellModel``
    experiment: Experiment
    theoretical_capacity: float
    mass_per_area: float
    options: RunOptions = field(default_factory=RunOptions)
    identity: dict = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def reference_current(experiment: Experiment, theoretical_C_m2: float) -> float:
    """A/m²: the largest constant current of the protocol (1C if it has none): the scale
    of Newton's tolerance, the charge balance and the step sizes of holds and rests."""
    cc = [abs(s.current_A_m2(theoretical_C_m2)) for s in experiment if s.sign]
    return max(cc) if cc else theoretical_C_m2 / 3600.0


def run_protocol(inputs: RunInputs) -> RunResult:
    """Run the protocol on the model (at rest); see the module docstring."""
    run = Run(inputs)
    reason = None
    try:
        with interruptible():
            while run.state.k < len(inputs.experiment) and reason is None:
                reason = run.protocol_step()
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM
        signum = run.model.comm.allreduce(requested() or 0, op=MPI.MAX)
        raise run.interrupted(signum or signal.SIGINT) from err
    finally:
        run.close()
    if reason is not None and run.state.step is not None:  # the step cut short: its part
        run.state.step.reason = reason
        run.close_step(run.plan(inputs.experiment[run.state.k]), run.state.step)
    return run.finish(reason)


def run_identity(inputs: RunInputs) -> dict:
    """What a checkpoint must match to be resumed by this run: the caller's identity
    (structure, parameters, discretisation, code version) and the run's (unknowns,
    protocol, ranks, solver and step-control settings)."""
    model, opts = inputs.model, inputs.options
    return {**inputs.identity,
            "unknowns": [u.function_space.dofmap.index_map.size_global
                         for u in model.unknowns],
            "experiment": [s.as_dict() for s in inputs.experiment],
            "theoretical_capacity_C_m2": float(inputs.theoretical_capacity),
            "ranks": model.comm.size, "linear": opts.linear,
            "control": vars(opts.control).copy()}


def verify_resume(inputs: RunInputs) -> None:
    """``CheckpointError`` (one line, the first difference) unless the checkpoint in the
    output directory belongs to this run; nothing is written."""
    check_identity(inputs.options.checkpoint_dir, run_identity(inputs))


def check_experiment(experiment: Experiment, model, u_rest: float) -> None:
    """Refuse, before anything runs, a first limit on the wrong side of the rest voltage
    and a hold outside the CAM's open-circuit range (no state of rest there)."""
    first = experiment[0]
    if first.until_voltage_V is not None and \
            first.sign * (u_rest - first.until_voltage_V) <= 0:
        side = "below" if first.sign > 0 else "above"
        raise ConfigError(f"'{first.describe()}': the limit {first.until_voltage_V} V is not "
                          f"{side} the rest voltage {u_rest:.4f} V")
    lo, hi = model.ocv_window()
    for step in experiment:
        if step.kind == "hold" and not lo <= step.voltage_V <= hi:
            raise ConfigError(f"'{step.describe()}': {step.voltage_V} V lies outside the "
                              f"CAM's open-circuit range {lo:.3f}-{hi:.3f} V: the hold "
                              "would never come to rest")


class Run:
    """One run in progress: the model, its Newton solver, the stepper, the named state
    (``RunState``) and the observers."""

    def __init__(self, inputs: RunInputs):
        self.inputs, opts = inputs, inputs.options
        model, Q = inputs.model, inputs.theoretical_capacity
        self.model, self.opts, self.rank0 = model, opts, model.comm.rank == 0
        self.u_rest = model.set_rest_state()
        check_experiment(inputs.experiment, model, self.u_rest)
        self.i_ref = reference_current(inputs.experiment, Q)
        self.identity = run_identity(inputs)
        resumed = load_checkpoint(opts.checkpoint_dir, model.comm, self.identity,
                                  len(model.state()) - 1) if opts.resume else None
        settings = model.params.solver
        # the rounding floor of the residual is absolute (G A_coll V ε from the collector
        # contact): its scale is the 1C current at the least
        self.newton = NewtonSolver(model, settings, opts.linear,
                                   max(self.i_ref, Q / 3600.0) * model.cross_section,
                                   opts.control.max_newton)
        self.state = RunState(self._balances0())
        self.state.curve.append(0.0, 0.0, self.u_rest, 0, 0, 0.0)
        history = []
        if resumed is not None:
            self.state, arrays, history = resumed
            model.restore(arrays)
        self.stepper = Stepper(model, self.newton, opts.control, self.state, self.i_ref,
                               model.stop_events(opts.control), self.rank0)
        self.stepper.history = history
        self._watchers(resumed is not None)

    def _balances0(self) -> Balances:
        """The balances' reference: what the cell holds at rest."""
        inv = self.model.inventory()
        return Balances(lithium0_mol=inv.lithium_mol, salt0_mol=inv.salt_mol,
                        min_electrolyte_concentration=inv.min_electrolyte_concentration)

    def _watchers(self, resumed: bool) -> None:
        opts, Q = self.opts, self.inputs.theoretical_capacity
        self.writer = CurveWriter(opts.output, self.rank0,
                                  len(self.state.curve) if resumed else None)
        if not resumed:
            self.writer.row(self.state.curve, -1)
        self.watchers = [self.writer, ProgressObserver(Q / MAH_PER_CM2,
                                                       opts.progress and self.rank0),
                         *self.inputs.observers]
        if opts.checkpointing:
            self.watchers.append(Checkpointer(self.save, self.model.comm,
                                              opts.checkpoint_every, opts.checkpoint_minutes))
        self.t_wall = time.perf_counter()

    # -- one protocol step -------------------------------------------------------------
    def plan(self, step: Step) -> StepPlan:
        limits, t_end = step_limits(step, self.inputs.theoretical_capacity)
        current = step.current_A_m2(self.inputs.theoretical_capacity) \
            if step.kind != "hold" else None
        return StepPlan(step, limits, t_end, current)

    def protocol_step(self) -> StopReason | None:
        """Run the present protocol step to its end. Returns the run's stop reason when
        the run cannot go on (solver failure, step limit), else None."""
        run = self.state
        plan = self.plan(self.inputs.experiment[run.k])
        if plan.held:
            self.model.hold_voltage(plan.step.voltage_V)
        else:
            self.model.set_current(plan.current)
        st = run.step = run.step or self._new_step(plan)
        ctl = self._controller(plan, st)
        outcome = None if st.reason is None else Outcome.STEP_END
        while outcome is None:
            if run.steps >= self.opts.max_steps:
                return StopReason.MAX_STEPS
            if self.model.comm.allreduce(requested() is not None, op=MPI.LOR):
                raise KeyboardInterrupt  # Ctrl-C or SIGTERM (on any rank): all stop here
            outcome = self.stepper.attempt(plan, st, ctl)
            if outcome in (Outcome.ACCEPTED, Outcome.STEP_END) and st.n > 0:
                self._record(st, ctl, outcome)
            if outcome == Outcome.FAILED:
                return StopReason.SOLVER_FAILED
            outcome = None if outcome in (Outcome.ACCEPTED, Outcome.REJECTED) else outcome
        self.close_step(plan, st)
        return None

    def _new_step(self, plan: StepPlan) -> StepState:
        run, model = self.state, self.model
        v0 = model.cell_voltage()
        i0 = plan.current if not plan.held else run.curve.current_mA_cm2[-1] * MA_PER_CM2
        st = StepState.start(run.t, run.q_state, v0, i0)
        self.stepper.reset_history()
        already = [lim for lim in plan.limits
                   if lim.reason == StopReason.VOLTAGE_LIMIT and lim.g(v0, i0, 0.0) <= 0]
        if already and run.k > 0:  # nothing to do: the step ends where it starts
            if self.rank0:
                warnings.warn(f"'{plan.step.describe()}': the cell is already at "
                              f"{v0:.4f} V, past the limit: step skipped", stacklevel=2)
            st.reason = StopReason.VOLTAGE_LIMIT
        return st

    def _controller(self, plan: StepPlan, st: StepState) -> StepController:
        """The step control of a protocol step, from its own time scale: a constant
        current's time to pass the theoretical capacity; a rest's duration; a hold's
        time to pass it at its limit current (else its duration, else the reference
        current's). The first step: a share of the step's current's time scale (rests
        and holds: the reference current's: they start with a switching transient)."""
        s, Q, step = self.opts.control, self.inputs.theoretical_capacity, plan.step
        i_lim = step.current_limit_A_m2(Q)
        if plan.current:
            t_nominal = Q / abs(plan.current)
        elif step.kind == "rest" and plan.t_end is not None:
            t_nominal = plan.t_end
        elif i_lim is not None:
            t_nominal = Q / i_lim
        else:
            t_nominal = plan.t_end if plan.t_end is not None else Q / self.i_ref
        # Newton's tolerance in the step's current (rests and holds: 1 % of the
        # reference): a rest's lithium drifts by no more than a discharge's per unit time
        self.newton.scale = (abs(plan.current) if plan.current
                             else REST_TOLERANCE_SHARE * self.i_ref) * self.model.cross_section
        ctl = StepController(s, t_nominal, remember_failures=not plan.current)
        ctl.dt = s.initial_fraction * Q / (abs(plan.current or 0.0) or self.i_ref)
        if st.controller is not None:
            ctl.restore(st.controller)
        return ctl

    def _record(self, st: StepState, ctl: StepController, outcome: Outcome) -> None:
        """The curve's row of an accepted step (or the located end point that replaces
        it), then the observers (the checkpoint among them)."""
        run = self.state
        if outcome == Outcome.STEP_END and st.end is not None and st.end.t < st.times[-1]:
            e = st.end
            run.curve.append(st.t0 + e.t, st.end_net_charge(), e.V, st.newton[-1], run.k, e.I)
            st.end_written = True
        else:
            run.curve.append(st.t0 + st.times[-1], run.q_state, st.volts[-1], st.newton[-1],
                             run.k, st.currents[-1])
        self.writer.row(run.curve, -1)
        st.controller = ctl.state()  # before the checkpoint (an observer)
        rec = self.record(st.newton[-1])
        for w in self.watchers:
            w.accepted(rec)

    def close_step(self, plan: StepPlan, st: StepState) -> None:
        """The step's summary; its located end point beyond the last state as a row of
        its own; the next step starts from the last accepted state, at the later of its
        time and the located end point's (within steep_end/2 of each other)."""
        run = self.state
        if st.end is not None and not st.end_written:
            e = st.end
            run.curve.append(st.t0 + e.t, st.end_net_charge(), e.V, 0, run.k, e.I)
            self.writer.row(run.curve, -1)
        summary = summarise(plan.step, st)
        summary.surface_resolution = self.model.surface_resolution(summary.duration_s)
        summary.front_resolution = self.model.front_resolution()
        run.done.append(summary)
        run.t = st.t0 + max(st.times[-1], st.end.t if st.end is not None else 0.0)
        run.step = None
        run.k += 1

    def record(self, newton: int) -> StepRecord:
        c, run = self.state.curve, self.state
        return StepRecord(c.time_s[-1], c.capacity_mAh_cm2[-1], c.voltage_V[-1],
                          c.current_mA_cm2[-1], newton, run.k, run.steps)

    # -- checkpoints, interrupts, the end -----------------------------------------------
    def save(self) -> None:
        now = time.perf_counter()
        self.state.wall_before += now - self.t_wall
        self.t_wall = now
        save_checkpoint(self.opts.checkpoint_dir, self.model.comm, self.identity, self.state,
                        self.model.state(), self.stepper.history)

    def interrupted(self, signum: int) -> Interrupted:
        """After Ctrl-C or SIGTERM (the model at its last accepted state): save it when
        checkpointing (serial runs; under MPI the last periodic checkpoint stands)."""
        run, saved = self.state, ""
        if self.opts.checkpointing and self.model.comm.size == 1:
            self.save()
            saved = f"; state saved in {self.opts.checkpoint_dir}, resume with --resume"
        elif self.opts.checkpointing:
            saved = "; resume from the last checkpoint with --resume"
        what = "terminated" if signum == signal.SIGTERM else "interrupted"
        return Interrupted(f"{what} at t = {run.curve.time_s[-1]:.6g} s, "
                           f"{run.curve.capacity_mAh_cm2[-1]:.6g} mAh/cm² "
                           f"(protocol step {run.k + 1}){saved}", signum)

    def close(self) -> None:
        self.newton.destroy()

    def finish(self, reason: StopReason | None) -> RunResult:
        run = self.state
        wall = run.wall_before + time.perf_counter() - self.t_wall
        final = self.record(0)
        for w in self.watchers:
            w.finished(final)
        res = result(self.inputs, run, reason, wall, self.u_rest, self.model.inventory())
        out = self.opts.output
        if out is not None and self.rank0:  # a failed write loses nothing: it is returned
            try:
                (out / "summary.json").write_text(json.dumps(res.summary(), indent=2,
                                                             allow_nan=False))
            except OSError as err:
                res.write_error = f"{out / 'summary.json'}: {err.strerror or err}"
        res.write_error = self.model.comm.bcast(res.write_error, root=0)
        return res


def summarise(step: Step, st: StepState) -> StepSummary:
    """The protocol step's summary from its curve (and its located end point)."""
    pts = st.with_end()
    duration = pts[-1].t
    charge = np.array([p.q for p in pts])
    energy = float(np.trapezoid([p.V for p in pts], charge / MAH_PER_CM2)) \
        if len(pts) > 1 else 0.0
    sign = step.sign if step.sign else float(np.sign(np.mean([p.I for p in pts[1:]]))) \
        if len(pts) > 1 else 0.0
    mean_i = sign * pts[-1].q / duration if duration > 0 else 0.0
    return StepSummary(kind=step.kind, text=step.describe(),
                       capacity_mAh_cm2=pts[-1].q / MAH_PER_CM2, energy_mWh_cm2=energy,
                       start_voltage_V=pts[0].V, end_voltage_V=pts[-1].V,
                       duration_s=duration, stop_reason=str(st.reason),
                       mean_current_mA_cm2=mean_i / MA_PER_CM2,
                       end_current_mA_cm2=pts[-1].I / MA_PER_CM2, time_steps=st.n,
                       newton_iterations=int(sum(st.newton)), rejected_steps=st.rejected)


def result(inputs: RunInputs, run: RunState, reason: StopReason | None, wall: float,
           u_rest: float, inventory) -> RunResult:
    """The run's summary from its state (and the final lithium inventory)."""
    area, b = inputs.model.cross_section, run.balances
    li_expected = run.q_state * area / FARADAY
    li_scale = max(run.q_abs * area / FARADAY, 1e-300)
    dis = [s for s in run.done if s.mean_current_mA_cm2 > 0]
    capacity = sum(s.capacity_mAh_cm2 for s in dis)
    energy = sum(s.energy_mWh_cm2 for s in dis)
    first_cc = next((s for s in inputs.experiment if s.sign), None)
    Q = inputs.theoretical_capacity
    last = StopReason(run.done[-1].stop_reason) if run.done else StopReason.MAX_STEPS
    return RunResult(
        capacity_mAh_cm2=capacity, theoretical_capacity_mAh_cm2=Q / MAH_PER_CM2,
        state_capacity_mAh_cm2=run.q_state / MAH_PER_CM2, energy_mWh_cm2=energy,
        energy_density_Wh_kg=energy / (inputs.mass_per_area * 1e3 / 1e4),
        mean_voltage_V=energy / capacity if capacity > 0 else float("nan"),
        end_voltage_V=float(run.curve.voltage_V[-1]), rest_voltage_V=u_rest,
        current_density_mA_cm2=(first_cc.current_A_m2(Q) / MA_PER_CM2 if first_cc else None),
        stop_reason=str(reason or last), complete=reason is None, time_steps=run.steps,
        rejected_steps=run.rejected, newton_iterations=run.newton,
        linear_iterations=run.linear, wall_time_s=wall,
        max_charge_balance_error=b.max_charge_error,
        lithium_balance_error=abs(inventory.lithium_mol - b.lithium0_mol - li_expected)
        / li_scale,
        salt_balance_error=b.max_salt_error if b.salt0_mol is not None else None,
        min_electrolyte_concentration_mol_m3=b.min_electrolyte_concentration,
        charge_capacity_mAh_cm2=sum(s.capacity_mAh_cm2 for s in run.done
                                    if s.mean_current_mA_cm2 < 0),
        surface_resolution=worst_resolution(run.done),
        front_resolution=worst_front(run.done),
        steps=list(run.done), curve=run.curve, provenance=dict(inputs.provenance))


def _worst(values, limit: float, message) -> float | None:
    """The largest finite value (None: none known); warns ``message(worst)`` above
    ``limit``."""
    known = [v for v in values if v is not None and np.isfinite(v)]
    if not known:
        return None
    worst = max(known)
    if worst > limit:
        warnings.warn(message(worst), stacklevel=3)
    return worst


def worst_front(steps: list) -> float | None:
    """The largest front-resolution figure of the steps; warns above
    ``FRONT_UNRESOLVED``."""
    return _worst([s.front_resolution for s in steps], FRONT_UNRESOLVED, lambda w: (
        f"the lithium fronts have left the CAM skin's columns: the core's elements carry "
        f"them ({w:.2g}x the fronts' depth, area-weighted), the capacity is too high; "
        "refine (--refine 2) or see the docs (modelling, the continuum answer)"))


def worst_resolution(steps: list) -> float | None:
    """The largest surface-resolution figure of the steps; warns above ``UNRESOLVED``."""
    return _worst([s.surface_resolution for s in steps], UNRESOLVED, lambda w: (
        f"the CAM surface is under-resolved: its finest storage is {w:.2g}x the diffusion "
        "length sqrt(D_s t) (worst vertex), the capacity is too high; set "
        "resolution.skin=true (docs: modelling, resolved CAM skin)"))
