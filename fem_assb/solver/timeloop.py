"""The time loop: a protocol (``Experiment``) run step by step on a cell model.

One SNES (Newton + backtracking line search; MUMPS LU or field-split GMRES) solves the
coupled system of a time step; the forms are compiled once. Each protocol step sets the
model's operation (a current, or a held voltage) and runs backward-Euler time steps
from the state the previous protocol step left, until one of its limits
(``fem_assb.solver.events``). One place per concern:

- step size: ``StepController`` (``fem_assb.solver.control``): the distance of the
  solution from the linear extrapolation of the last accepted states is the local error
  estimate that accepts or rejects a time step and sizes the next; a failed solve is
  retried with half the step; no non-converged step is ever accepted;
- stop events: the step's limits (voltage, current, capacity, time) with the landing on
  them; run-wide: CAM saturated, electrolyte depleted (these end the protocol
  step), solver failure and the step limit (these end the run);
- observers (``fem_assb.solver.observers``): the voltage curve, progress, checkpoints,
  the caller's (3D fields), after each accepted step;
- state: the model's unknowns plus ``run`` (plain data: time, counters, the present
  protocol step's curve, the controller), all a restart needs (``fem_assb.solver.state``).

Each protocol step starts its step control afresh (a current switched on or off is a
jump: no extrapolation across it). The end point on a limit is located by the landing
(or extrapolated on a near-vertical end, ``StepControl.steep_end``); the next protocol
step starts from the last accepted state.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fem_assb._dolfinx import MPI, PETSc
from fem_assb.constants import FARADAY, MA_PER_CM2, MAH_PER_CM2
from fem_assb.solver.control import StepControl, StepController
from fem_assb.solver.events import (
    LANDING_SHARE,
    MAX_LANDING_ATTEMPTS,
    chord_crossing,
    landing_target,
    step_limits,
)
from fem_assb.solver.experiment import Experiment
from fem_assb.solver.heap import release_free_memory
from fem_assb.solver.observers import (
    Checkpointer,
    CurveWriter,
    Observer,
    ProgressObserver,
    StepRecord,
)
from fem_assb.solver.options import discharge_snes_options, unique_prefix
from fem_assb.solver.problem import CoupledProblem
from fem_assb.solver.state import load_checkpoint, save_checkpoint

# ends of a protocol step that let the protocol go on; the run's other stop reasons
# ('solver_failed', 'max_steps') end it
STEP_END_REASONS = ("voltage_limit", "current_limit", "capacity_limit", "time_limit",
                    "electrolyte_depleted", "cam_saturated")
# the run's stop reason when every protocol step reached its end
COMPLETED = "completed"
# Newton's current scale in rests and holds, as a share of the reference current
REST_TOLERANCE_SHARE = 0.01


class RunError(ValueError):
    """Invalid run input (a limit on the wrong side, a bad solver choice, ...)."""


@dataclass
class StepSummary:
    """One protocol step of a run (user units; charge and energy positive)."""

    kind: str
    text: str
    capacity_mAh_cm2: float  # charge passed in the step
    energy_mWh_cm2: float  # ∫ V |dq| over the step
    start_voltage_V: float
    end_voltage_V: float
    duration_s: float
    stop_reason: str
    mean_current_mA_cm2: float  # signed, > 0 discharge
    end_current_mA_cm2: float
    steps: int


@dataclass
class RunResult:
    """Summary of a run (user units in the names). ``capacity_mAh_cm2``,
    ``energy_mWh_cm2`` and the energy density count the discharging steps;
    ``charge_capacity_mAh_cm2`` the charging ones; ``steps_summary`` each protocol step."""

    capacity_mAh_cm2: float
    theoretical_capacity_mAh_cm2: float
    state_capacity_mAh_cm2: float  # net charge of the final state (profiles, fields)
    energy_mWh_cm2: float
    energy_density_Wh_kg: float
    mean_voltage_V: float
    end_voltage_V: float
    rest_voltage_V: float
    current_density_mA_cm2: float | None  # of the first constant-current step
    stop_reason: str
    steps: int
    rejected_steps: int
    newton_iterations: int  # all Newton iterations, rejected steps included
    linear_iterations: int  # all Krylov iterations (1 per Newton iteration with LU)
    wall_time_s: float
    max_charge_balance_error: float  # max |∫i dΓ − I A| / (I_ref A) over the steps
    lithium_balance_error: float  # |Li gained − ∫I dt A/F| / max(∫|I| dt A/F)
    salt_balance_error: float | None = None  # LIB: max |salt − salt0| / salt0 over the steps
    min_electrolyte_concentration_mol_m3: float | None = None  # LIB: lowest nodal c_e
    charge_capacity_mAh_cm2: float = 0.0
    steps_summary: list = field(default_factory=list)  # [StepSummary as dict]
    curve: dict = field(default_factory=dict, repr=False)
    provenance: dict = field(default_factory=dict, repr=False)  # ``fem_assb.provenance``
    write_error: str | None = field(default=None, repr=False)  # summary.json not written

    @property
    def complete(self) -> bool:
        """Did every protocol step reach one of its ends (not a solver failure or the
        step limit)?"""
        return self.stop_reason == COMPLETED

    def summary(self) -> dict:
        """The result as a dict for strict JSON (non-finite numbers become None):
        ``steps`` lists the protocol steps, ``time_steps`` counts the time steps."""
        d = self.numbers()
        d["time_steps"] = d.pop("steps")
        d["steps"] = d.pop("steps_summary")
        d["provenance"] = d.pop("provenance")  # last: the numbers first
        return d

    def numbers(self) -> dict:
        """The fields as plain strict-JSON data (non-finite numbers None; ``steps``: the
        number of time steps; no curve), plus ``complete``."""
        d = asdict(self)
        for k in ("curve", "write_error"):
            d.pop(k)
        d["steps_summary"] = [_finite(s) for s in d["steps_summary"]]
        d = _finite(d)
        d["complete"] = self.complete
        return d


def _finite(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v)
                else float(v) if isinstance(v, np.floating) else v) for k, v in d.items()}


def convergence_test(scale: float, rtol: float = 1e-10, atol: float = 1e-12,
                     floor: float = 1e-8, max_it: int = 25):
    """SNES convergence in units of a reference current ``scale`` (A).

    Converged when ‖F‖ < atol·scale or ‖F‖ < rtol·‖F0‖, or when ‖F‖ is already below
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
        if fnorm < rtol * hist["f0"]:
            return R.CONVERGED_FNORM_RELATIVE
        if fnorm < floor * scale and fnorm > 0.3 * prev:
            return R.CONVERGED_SNORM_RELATIVE
        if it >= test.max_it:
            return R.DIVERGED_MAX_IT
        return R.ITERATING

    test.max_it, test.scale = max_it, scale

    def converged(snes) -> bool:
        """The solve converged, or its line search failed at the rounding floor (a
        residual below floor·scale that no step can lower: the solution)."""
        reason = snes.getConvergedReason()
        return reason > 0 or (reason == R.DIVERGED_LINE_SEARCH
                              and snes.getFunctionNorm() < floor * scale)

    test.converged = converged
    return test


def reference_current(experiment: Experiment, theoretical_C_m2: float) -> float:
    """A/m²: the largest constant current of the protocol (1C if it has none): the scale
    of Newton's tolerance, the charge balance and the step sizes of holds and rests."""
    cc = [abs(s.current_A_m2(theoretical_C_m2)) for s in experiment if s.sign]
    return max(cc) if cc else theoretical_C_m2 / 3600.0


def _identity(model, theoretical_capacity: float, experiment: Experiment) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    sizes = [u.function_space.dofmap.index_map.size_global for u in model.unknowns]
    return {"unknowns": sizes, "experiment": [s.as_dict() for s in experiment],
            "theoretical_capacity_C_m2": float(theoretical_capacity),
            "model": type(model).__name__}


def run_experiment(model, experiment: Experiment, theoretical_capacity: float,
                   mass_per_area: float, output: str | Path | None = None,
                   control: StepControl | None = None, linear: str = "auto",
                   progress: bool = True, max_steps: int = 2000, solver=None,
                   observers: list[Observer] | None = None,
                   checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
                   resume: bool = False, provenance: dict | None = None) -> RunResult:
    """Run the protocol ``experiment`` on ``model`` (at rest).

    Args:
        model: a physics model (``SolidCellModel``, ``LiquidCellModel``) at rest.
        experiment: the protocol steps.
        theoretical_capacity: C/m²: C-rates, and the nominal time of the step sizes.
        mass_per_area: kg/m² of the energy-density mass basis.
        output: directory for ``voltage.csv`` (written as it goes) and ``summary.json``.
        linear: 'direct', 'iterative' or 'auto' (by ``solver.direct_dof_limit``).
        observers: called after each accepted time step and at the end (e.g. 3D fields).
        checkpoint_every, checkpoint_minutes: save the state to ``output/checkpoint``
            every N accepted steps and/or M minutes of wall time (needs ``output``).
        resume: continue from ``output/checkpoint`` (same structure, protocol, rank
            count; a clear ``CheckpointError`` otherwise).
        provenance: where the run comes from (``fem_assb.provenance.record``).
    """
    settings_ctl = control or StepControl()
    settings = solver if solver is not None else model.params.solver
    comm = model.doms.mesh.comm
    rank0 = comm.rank == 0
    area = model.doms.cross_section
    u_rest = model.set_rest_state()
    i_ref = reference_current(experiment, theoretical_capacity)
    first = experiment[0]
    if first.until_voltage_V is not None and first.sign * (u_rest - first.until_voltage_V) <= 0:
        side = "below" if first.sign > 0 else "above"
        raise RunError(f"'{first.describe()}': the limit {first.until_voltage_V} V is not "
                       f"{side} the rest voltage {u_rest:.4f} V")

    linear = settings.linear if linear == "auto" else linear
    if linear == "auto":  # MUMPS up to direct_dof_limit unknowns, field-split GMRES above
        ndofs = sum(u.function_space.dofmap.index_map.size_global for u in model.unknowns)
        linear = "direct" if ndofs <= settings.direct_dof_limit else "iterative"
    if linear not in ("direct", "iterative"):
        raise RunError(f"linear solver must be auto, direct or iterative, got '{linear}'")
    out = Path(output) if output is not None else None
    ck_dir = out / "checkpoint" if out is not None else None
    if (checkpoint_every or checkpoint_minutes or resume) and out is None:
        raise RunError("checkpoints need an output directory (-o DIR)")
    identity = _identity(model, theoretical_capacity, experiment)
    resumed = load_checkpoint(ck_dir, comm, identity, len(model.unknowns)) if resume else None

    prefix = unique_prefix("discharge")
    v_index = model.fields.index("V")
    v_group = next((g for g, members in model.splits.items() if v_index in members), None)
    problem = CoupledProblem(model, prefix, discharge_snes_options(
        linear, tuple(model.splits), settings.ksp_rtol, dict(settings.petsc_options),
        voltage_group=v_group,
        voltage_couplings=model.collector_dof_count() if linear == "iterative" else 0),
        eliminate_interface=settings.interface_elimination,
        split_groups=model.splits if linear == "iterative" else None)
    snes = problem.solver
    release_free_memory()  # the set-up's freed heap, before the solver maps its own
    # the rounding floor of the residual is absolute (G A_coll V ε from the collector
    # contact): its scale is the 1C current at the least
    converged = convergence_test(max(i_ref, theoretical_capacity / 3600.0) * area,
                                 rtol=settings.newton_rtol,
                                 atol=settings.newton_atol, max_it=settings_ctl.max_newton)
    snes.setConvergenceTest(converged)
    if linear == "iterative":
        problem.set_field_splits()

    liquid = "salt_mol" in model.diagnostics
    c_e0 = model.params.liquid_electrolyte.initial_concentration
    c_max = model.params.cam.c_max
    run = {"t": 0.0, "steps": 0, "rejected": 0, "newton": 0, "linear": 0,
           "max_charge_err": 0.0, "salt_err": 0.0, "min_ce": c_e0 if liquid else None,
           "li0": model.integral("lithium_mol"),
           "salt0": model.integral("salt_mol") if liquid else None,
           "q_state": 0.0, "q_abs": 0.0, "wall_before": 0.0, "k": 0, "step": None,
           "done": [], "curve": {"time_s": [0.0], "capacity_mAh_cm2": [0.0],
                                 "voltage_V": [u_rest], "newton_iterations": [0],
                                 "step": [0], "current_mA_cm2": [0.0]}}
    history, hist_times = [], []  # up to two earlier accepted states (the predictor's)
    ctl = None
    if resumed is not None:
        doc, arrays, history = resumed
        model.restore(arrays)
        run.update(doc["run"])
        hist_times = list(doc["history_times"])

    writer = CurveWriter(out, rank0, len(run["curve"]["time_s"]) if resumed else None)
    if resumed is None:
        writer.point(0.0, 0.0, u_rest, 0, 0, 0.0)
    watchers = [writer, ProgressObserver(theoretical_capacity / MAH_PER_CM2,
                                         progress and rank0), *(observers or [])]
    t_wall = time.perf_counter()

    def save() -> None:
        nonlocal t_wall
        now = time.perf_counter()
        run["wall_before"] += now - t_wall
        t_wall = now
        save_checkpoint(ck_dir, comm, identity,
                        {"run": run, "controller": ctl.state(), "history_times": hist_times},
                        model.state(), history)

    if checkpoint_every or checkpoint_minutes:
        watchers.append(Checkpointer(save, comm, checkpoint_every, checkpoint_minutes))

    def record(newton: int) -> StepRecord:
        c = run["curve"]
        return StepRecord(c["time_s"][-1], c["capacity_mAh_cm2"][-1], c["voltage_V"][-1],
                          c["current_mA_cm2"][-1], newton, run["k"], run["steps"])

    def point(t, q_net, v, newton, i_a_m2) -> None:
        """A row of the run's curve (global time, net charge in C/m²)."""
        c = run["curve"]
        for key, val in (("time_s", t), ("capacity_mAh_cm2", q_net / MAH_PER_CM2),
                         ("voltage_V", v), ("newton_iterations", newton),
                         ("step", run["k"]), ("current_mA_cm2", i_a_m2 / MA_PER_CM2)):
            c[key].append(val)

    reason = COMPLETED
    while run["k"] < len(experiment):
        step = experiment[run["k"]]
        limits, t_end = step_limits(step, theoretical_capacity)
        i_set = step.current_A_m2(theoretical_capacity) if step.kind != "hold" else None
        if step.kind == "hold":
            model.hold_voltage(step.voltage_V)
        else:
            model.set_current(i_set)
        st = run["step"]
        if st is None:  # a new protocol step (else: resumed in the middle of one)
            v0 = model.cell_voltage()
            i0 = i_set if i_set is not None else run["curve"]["current_mA_cm2"][-1] * MA_PER_CM2
            st = run["step"] = {"t0": run["t"], "q0": run["q_state"], "n": 0,
                                "times": [0.0], "volts": [v0], "currents": [i0],
                                "charge": [0.0], "newton": [0], "landing": None,
                                "landings": 0, "end": None, "reason": None,
                                "controller": None}
            history, hist_times = [], []
            already = [lim for lim in limits
                       if lim.reason == "voltage_limit" and lim.g(v0, i0, 0.0) <= 0]
            if already and run["k"] > 0:  # nothing to do: the step ends where it starts
                if rank0:
                    warnings.warn(f"'{step.describe()}': the cell is already at "
                                  f"{v0:.4f} V, past the limit: step skipped", stacklevel=2)
                st["reason"] = "voltage_limit"
        # step sizes from the step's own time scale: a constant current's time to pass
        # the theoretical capacity; a rest's duration; a hold's time to pass it at its
        # limit current (else its duration, else the reference current's)
        i_lim = step.current_limit_A_m2(theoretical_capacity)
        if i_set:
            t_nominal = theoretical_capacity / abs(i_set)
        elif step.kind == "rest" and t_end is not None:
            t_nominal = t_end
        elif i_lim is not None:
            t_nominal = theoretical_capacity / i_lim
        else:
            t_nominal = t_end if t_end is not None else theoretical_capacity / i_ref
        # Newton's tolerance in the step's current (rests and holds: 1 % of the
        # reference): a rest's lithium drifts by no more than a discharge's per unit time
        converged.scale = (abs(i_set) if i_set else REST_TOLERANCE_SHARE * i_ref) * area
        ctl = StepController(settings_ctl, t_nominal)
        # the first step: a share of the step's own current's time scale (rests and
        # holds: the reference current's: they start with a switching transient)
        ctl.dt = settings_ctl.initial_fraction * theoretical_capacity / (abs(i_set or 0.0)
                                                                         or i_ref)
        if st["controller"] is not None:
            ctl.restore(st["controller"])
        outcome = None if st["reason"] is None else "step_end"
        while outcome is None:
            if run["steps"] >= max_steps:
                outcome, reason = "run_end", "max_steps"
                break
            outcome = _time_step(model, problem, snes, converged, ctl, settings_ctl, run, st,
                                 step, limits, t_end, i_set, history, hist_times, area,
                                 i_ref, c_max, c_e0, liquid, rank0, comm)
            if outcome in ("accepted", "step_end"):
                if outcome == "step_end" and st["end"] is not None \
                        and st["end"] < st["times"][-1]:  # the end point replaces it
                    e = st["end_values"]
                    point(st["t0"] + st["end"], _net_at_end(st), e["V"], st["newton"][-1],
                          e["I"])
                    st["end_written"] = True
                else:
                    point(st["t0"] + st["times"][-1], run["q_state"], st["volts"][-1],
                          st["newton"][-1], st["currents"][-1])
                st["controller"] = ctl.state()  # before the checkpoint (an observer)
                c_rec = record(st["newton"][-1])
                for w in watchers:
                    w.accepted(c_rec)
                outcome = None if outcome == "accepted" else outcome
            elif outcome == "rejected":
                outcome = None
            elif outcome == "failed":
                outcome, reason = "run_end", "solver_failed"
        # the step's end located beyond the last state: a row of its own
        if st["end"] is not None and not st.get("end_written"):
            t_e, end, q_end = st["t0"] + st["end"], st["end_values"], _net_at_end(st)
            point(t_e, q_end, end["V"], 0, end["I"])
            writer.point(t_e, q_end / MAH_PER_CM2, end["V"], 0, run["k"],
                         end["I"] / MA_PER_CM2)
        run["done"].append(asdict(_summarise(step, st)))
        # the next protocol step starts from the last accepted state, at the later of
        # its time and the located end point's (within steep_end/2 of each other)
        run["t"] = st["t0"] + max(st["times"][-1], st["end"] or 0.0)
        run["step"] = None
        run["k"] += 1
        if outcome == "run_end":
            break
    wall = run["wall_before"] + time.perf_counter() - t_wall
    final = record(0)
    for w in watchers:
        w.finished(final)

    # whole-run figures
    li_gain = model.integral("lithium_mol") - run["li0"]
    li_expected = run["q_state"] * area / FARADAY
    li_scale = max(run["q_abs"] * area / FARADAY, 1e-300)
    done = run["done"]
    dis = [s for s in done if s["mean_current_mA_cm2"] > 0]
    chg = [s for s in done if s["mean_current_mA_cm2"] < 0]
    capacity = sum(s["capacity_mAh_cm2"] for s in dis)
    energy = sum(s["energy_mWh_cm2"] for s in dis)
    mass_g_cm2 = mass_per_area * 1e3 / 1e4
    first_cc = next((s for s in experiment if s.sign), None)
    res = RunResult(
        capacity_mAh_cm2=capacity,
        theoretical_capacity_mAh_cm2=theoretical_capacity / MAH_PER_CM2,
        state_capacity_mAh_cm2=run["q_state"] / MAH_PER_CM2,
        energy_mWh_cm2=energy, energy_density_Wh_kg=energy / mass_g_cm2,
        mean_voltage_V=energy / capacity if capacity > 0 else float("nan"),
        end_voltage_V=float(run["curve"]["voltage_V"][-1]), rest_voltage_V=u_rest,
        current_density_mA_cm2=(first_cc.current_A_m2(theoretical_capacity) / MA_PER_CM2
                                if first_cc else None),
        stop_reason=reason, steps=run["steps"], rejected_steps=run["rejected"],
        newton_iterations=run["newton"], linear_iterations=run["linear"],
        wall_time_s=wall, max_charge_balance_error=run["max_charge_err"],
        lithium_balance_error=abs(li_gain - li_expected) / li_scale,
        salt_balance_error=run["salt_err"] if liquid else None,
        min_electrolyte_concentration_mol_m3=run["min_ce"],
        charge_capacity_mAh_cm2=sum(s["capacity_mAh_cm2"] for s in chg),
        steps_summary=done, curve={k: list(v) for k, v in run["curve"].items()},
        provenance=dict(provenance or {}))
    problem.destroy()
    error = None
    if out is not None and rank0:  # a failed write loses nothing: the result is returned
        try:
            (out / "summary.json").write_text(json.dumps(res.summary(), indent=2,
                                                         allow_nan=False))
        except OSError as err:
            error = f"{out / 'summary.json'}: {err.strerror or err}"
    res.write_error = comm.bcast(error, root=0)
    return res


def _time_step(model, problem, snes, converged, ctl, s, run, st, step, limits, t_end,
               i_set, history, hist_times, area, i_ref, c_max, c_e0, liquid, rank0,
               comm) -> str:
    """One attempt of a time step of the present protocol step. Returns 'accepted',
    'rejected' (state unchanged, retry), 'step_end' (accepted, and the protocol step
    ends: ``st['reason']``, maybe ``st['end']``) or 'failed' (no step size converges)."""
    t = st["times"][-1]
    g_now = [lim.g(st["volts"][-1], st["currents"][-1], st["charge"][-1]) for lim in limits]
    land = st["landing"]
    if land is not None:
        dt = landing_target(t, g_now[land["limit"]], land) - t
    else:
        dt = ctl.dt
    if t_end is not None:
        dt = min(dt, t_end - t)
    ctl.dt = dt
    model.recenter()
    saved = model.state()
    model.begin_step(dt)
    predicted = None
    held = step.kind == "hold"
    if history and s.predictor:
        # the error estimate: distance from the linear extrapolation (BE's local error);
        # Newton starts from the quadratic one where there is history
        ratio = dt / (t - hist_times[-1])
        c_now = model.c.x.array.copy()
        out_now, out_prev = (st["currents"], st["currents"]) if held else \
            (st["volts"], st["volts"])
        predicted = (out_now[-1] + ratio * (out_now[-1] - out_prev[-2]),
                     c_now + ratio * (c_now - history[-1][0]))
        model.predict(history, [*hist_times, t], t + dt)
    # the first time step of a protocol step starts from a jump: Newton gets more room
    converged.max_it = s.max_newton if st["n"] else 2 * s.max_newton
    problem.solve()
    its = snes.getIterationNumber()
    run["newton"] += its  # the work done, rejected steps included
    run["linear"] += snes.getLinearSolveIterations()
    ok = converged.converged(snes)
    v_new = model.cell_voltage() if ok else float("nan")
    i_new = (model.cell_current() if held else i_set) if ok else float("nan")
    ok = ok and np.isfinite(v_new) and np.isfinite(i_new)
    q_new = st["charge"][-1] + abs(i_new) * dt if ok else float("nan")
    g_new = [lim.g(v_new, i_new, q_new) for lim in limits] if ok else []
    # past a limit (the first step's instantaneous jump excepted): not a step but a
    # bound of the crossing; the state goes back and the next attempt aims at it
    past = [j for j, g in enumerate(g_new) if g < -limits[j].tolerance] \
        if ok and st["n"] > 0 else []
    big_jump = (ok and not past and st["n"] > 0 and not held
                and abs(v_new - st["volts"][-1]) > s.max_voltage_step and dt > 4 * s.min_dt)
    if not ok or big_jump or past:
        model.restore(saved)
        run["rejected"] += 1
        if past:  # the far end moves; the state stays (its weight halves if again)
            j = min(past, key=lambda j: chord_crossing(t, g_now[j], t + dt, g_new[j]))
            again = land is not None and land["last"] == "past"
            land = st["landing"] = {"limit": j, "t": t + dt, "f": g_new[j], "w_hi": 1.0,
                                    "w_lo": 0.5 * land["w_lo"] if again else 1.0,
                                    "last": "past", "values": (v_new, i_new, q_new)}
            st["landings"] += 1
            t_cross = chord_crossing(t, g_now[j], land["t"], land["f"])
            near = t_cross - t <= LANDING_SHARE * s.steep_end * t
            if near or st["landings"] > MAX_LANDING_ATTEMPTS:  # state at the limit
                _end_at(st, limits[j], t_cross, land)
                return "step_end"
            return "rejected"
        if land is not None:  # a landing attempt failed: end at the chord's crossing
            j = land["limit"]
            _end_at(st, limits[j], chord_crossing(t, g_now[j], land["t"], land["f"]), land)
            return "step_end"
        return "rejected" if ctl.failed() else "failed"
    err = None
    if predicted is not None:
        dc = model.c.x.array - predicted[1]
        dc_max = comm.allreduce(float(np.abs(dc).max()) if dc.size else 0.0, op=MPI.MAX)
        if held:  # the output is the current: its error in V-equivalents
            dout = (i_new - predicted[0]) / max(abs(i_new), 1e-3 * i_ref) \
                * s.voltage_tolerance / s.current_tolerance
            slope = 0.0
        else:
            dout, slope = v_new - predicted[0], (v_new - st["volts"][-1]) / dt
        err = ctl.error(dout, dc_max / c_max, slope=slope, t=t + dt)
    # the first step's jump is no slope: it does not limit the next step
    dv = v_new - st["volts"][-1] if st["n"] > 0 and not held else None
    # landing steps are accepted as they come (they only shorten the last step)
    if land is None and not ctl.judge(t, its, err, dv=dv):
        model.restore(saved)
        run["rejected"] += 1
        return "rejected"
    # accepted
    run["steps"] += 1
    st["n"] += 1
    if st["n"] > 1:  # the first step holds the jump of switching: no history before it
        history[:] = [*history, saved][-2:]
        hist_times[:] = [*hist_times, t][-2:]
    t = t + dt
    st["times"].append(t)
    st["volts"].append(v_new)
    st["currents"].append(i_new)
    st["charge"].append(q_new)
    st["newton"].append(its)
    run["q_state"] += i_new * dt
    run["q_abs"] += abs(i_new) * dt
    i_if = model.integral("interface_current_A")
    run["max_charge_err"] = max(run["max_charge_err"],
                                abs(i_if + i_new * area) / (i_ref * area))
    if liquid:
        run["salt_err"] = max(run["salt_err"],
                              abs(model.integral("salt_mol") - run["salt0"]) / run["salt0"])
        run["min_ce"] = min(run["min_ce"], model.minimum(model.c_e))
    # the step's ends
    reached = [j for j, g in enumerate(g_new) if g <= 0]
    if reached:  # landed (within the tolerance), or the first step's jump crossed it
        j = reached[0]
        lim = limits[j]
        st["reason"] = lim.reason
        if g_new[j] < 0:  # slightly past: the crossing interpolated within the last step
            t_prev = st["times"][-2]
            t_e = chord_crossing(t_prev, g_now[j], t, g_new[j])
            w = (t_e - t_prev) / (t - t_prev)
            st["end"] = t_e
            st["end_values"] = {
                "V": st["volts"][-2] + w * (v_new - st["volts"][-2]),
                "I": st["currents"][-2] + w * (i_new - st["currents"][-2]),
                "q": st["charge"][-2] + w * (q_new - st["charge"][-2])}
            if lim.reason == "voltage_limit":
                st["end_values"]["V"] = lim.value
        return "step_end"
    if t_end is not None and t >= t_end * (1 - 1e-12):
        st["reason"] = "time_limit"
        return "step_end"
    t_cut, j_cut = float("inf"), None
    if land is not None:  # a landing step short of the limit: the chord to the attempt
        # past it says how far it still is; the state moved, the far end stayed (its
        # weight halves if again: the next chord turns towards it)
        j_cut = land["limit"]
        t_cut = chord_crossing(t, g_new[j_cut], land["t"], land["f"])
        again = land["last"] == "step"
        land.update(w_lo=1.0, w_hi=0.5 * land["w_hi"] if again else 1.0, last="step")
        st["landings"] += 1
    elif s.steep_end > 0 and len(st["times"]) >= 3:
        for j, lim in enumerate(limits):
            g_prev = lim.g(st["volts"][-2], st["currents"][-2], st["charge"][-2])
            if g_new[j] < g_prev:
                slope = (g_prev - g_new[j]) / (st["times"][-1] - st["times"][-2])
                tc = t + g_new[j] / slope
                if tc < t_cut:
                    t_cut, j_cut = tc, j
    near = t_cut - t < LANDING_SHARE * s.steep_end * t
    if j_cut is not None and (near or st["landings"] > MAX_LANDING_ATTEMPTS):
        lim = limits[j_cut]
        st["reason"] = lim.reason
        st["end"] = t_cut
        st["end_values"] = _values_at(lim, t_cut, st, land)
        return "step_end"
    if liquid and run["min_ce"] < s.depletion * c_e0:
        st["reason"] = "electrolyte_depleted"
        if rank0:
            warnings.warn(f"the electrolyte is depleted: min c_e = {run['min_ce']:.3g} "
                          f"mol/m³ at {run['q_state'] / MAH_PER_CM2:.4g} mAh/cm² (step "
                          f"'{step.describe()}' stopped)", stacklevel=3)
        return "step_end"
    # one saturated particle surface is no stop (the current moves elsewhere). Nodal
    # c_s settles where U(c_s) meets the local potential, a few 1e-3 above c_max with
    # the regularised kinetics; beyond 1 % the model has left its range: the step stops.
    if i_new > 0 and model.maximum(model.c) >= (1.0 + s.overfill) * c_max:
        st["reason"] = "cam_saturated"
        return "step_end"
    return "accepted"


def _values_at(lim, t_cut: float, st: dict, land: dict | None) -> dict:
    """V, I and the step's charge q at the located end point ``t_cut`` (step time):
    linear between the last state and the attempt past the limit (or, extrapolated,
    the last two states); the limit's own quantity takes the limit's value."""
    if land is not None:
        t1, (v1, i1, q1) = land["t"], land["values"]
    else:
        t1, v1, i1, q1 = st["times"][-2], st["volts"][-2], st["currents"][-2], st["charge"][-2]
    t0, v0, i0, q0 = st["times"][-1], st["volts"][-1], st["currents"][-1], st["charge"][-1]
    w = (t_cut - t0) / (t1 - t0) if t1 != t0 else 0.0
    v, i, q = v0 + w * (v1 - v0), i0 + w * (i1 - i0), q0 + w * (q1 - q0)
    if lim.reason == "voltage_limit":
        v = lim.value
    elif lim.reason == "current_limit":
        i = math.copysign(lim.value, i0)
    elif lim.reason == "capacity_limit":
        q = lim.value
    return {"V": v, "I": i, "q": q}


def _net_at_end(st: dict) -> float:
    """The run's net charge (C/m², > 0 discharged) at the step's located end point."""
    e = st["end_values"]
    return st["q0"] + math.copysign(e["q"], e["I"]) if e["I"] else st["q0"]


def _end_at(st: dict, lim, t_cross: float, land: dict) -> None:
    """End the protocol step at the crossing ``t_cross`` located by a landing."""
    st["reason"] = lim.reason
    st["end"] = t_cross
    st["end_values"] = _values_at(lim, t_cross, st, land)


def _with_end(st: dict) -> tuple[list, list, list, list]:
    """(times, volts, currents, charge) of a protocol step up to its located end point
    (which replaces the last state's point when it lies before it)."""
    times, volts = list(st["times"]), list(st["volts"])
    currents, charge = list(st["currents"]), list(st["charge"])
    if st["end"] is not None:
        e = st["end_values"]
        if st["end"] < times[-1]:
            for arr in (times, volts, currents, charge):
                arr.pop()
        times.append(st["end"])
        volts.append(e["V"])
        currents.append(e["I"])
        charge.append(e["q"])
    return times, volts, currents, charge


def _summarise(step, st: dict) -> StepSummary:
    """The protocol step's summary from its curve (and its located end point)."""
    times, volts, currents, charge = _with_end(st)
    duration = times[-1]
    energy = float(np.trapezoid(volts, np.array(charge) / MAH_PER_CM2)) \
        if len(charge) > 1 else 0.0
    sign = step.sign if step.sign else float(np.sign(np.mean(currents[1:]))) \
        if len(currents) > 1 else 0.0
    mean_i = sign * charge[-1] / duration if duration > 0 else 0.0
    return StepSummary(kind=step.kind, text=step.describe(),
                       capacity_mAh_cm2=charge[-1] / MAH_PER_CM2, energy_mWh_cm2=energy,
                       start_voltage_V=volts[0], end_voltage_V=volts[-1],
                       duration_s=duration, stop_reason=st["reason"],
                       mean_current_mA_cm2=mean_i / MA_PER_CM2,
                       end_current_mA_cm2=currents[-1] / MA_PER_CM2, steps=st["n"])
