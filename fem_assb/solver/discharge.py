"""Galvanostatic discharge: backward Euler with error-controlled steps, cut-off, outputs.

One SNES (Newton + backtracking line search; MUMPS LU or field-split GMRES) solves the
coupled system of a step; the forms are compiled once. Each step starts from the
extrapolation of the last accepted states (quadratic where three exist); the distance of
the solution from the linear extrapolation is the local error estimate that accepts or
rejects the step and sizes the next one (``fem_assb.solver.control``). A failed solve
(or a voltage change above ``max_voltage_step``) is retried with half the step; no
non-converged step is ever accepted. The end point at the cut-off is interpolated
linearly between the last two accepted steps (or extrapolated on the near-vertical end,
see ``StepControl.steep_end``). Rows of the voltage curve are written to CSV as they are
computed (rank 0); with checkpoints the state is saved every N steps / M minutes, and a
killed run resumes from it (``resume=True``) with the result of an uninterrupted one.
"""

from __future__ import annotations

import csv
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
from fem_assb.solver.heap import release_free_memory
from fem_assb.solver.options import discharge_snes_options, unique_prefix
from fem_assb.solver.problem import CoupledProblem
from fem_assb.solver.progress import Progress
from fem_assb.solver.state import load_checkpoint, save_checkpoint

__all__ = ["DischargeError", "DischargeResult", "StepControl", "run_discharge"]


class DischargeError(ValueError):
    """Invalid discharge input (cut-off above rest voltage, non-positive current, ...)."""


# stop reasons of a finished discharge, or of one ended at the requested time (the others:
# 'solver_failed', 'max_steps')
COMPLETE_REASONS = ("cutoff", "electrolyte_depleted", "cam_saturated", "max_time")


@dataclass
class DischargeResult:
    """Summary of one discharge (user units in the names)."""

    capacity_mAh_cm2: float
    theoretical_capacity_mAh_cm2: float
    state_capacity_mAh_cm2: float  # of the final state (profiles, fields): the last step
    energy_mWh_cm2: float
    energy_density_Wh_kg: float
    mean_voltage_V: float
    end_voltage_V: float
    rest_voltage_V: float
    current_density_mA_cm2: float
    stop_reason: str
    steps: int
    rejected_steps: int
    newton_iterations: int  # all Newton iterations, rejected steps included
    linear_iterations: int  # all Krylov iterations (1 per Newton iteration with LU)
    wall_time_s: float
    max_charge_balance_error: float  # max |∫i dΓ + I A| / (I A) over the steps
    lithium_balance_error: float  # |Li gained − ∫I dt A/F| / (∫I dt A/F)
    salt_balance_error: float | None = None  # LIB: max |salt − salt0| / salt0 over the steps
    min_electrolyte_concentration_mol_m3: float | None = None  # LIB: lowest nodal c_e
    curve: dict = field(default_factory=dict, repr=False)
    provenance: dict = field(default_factory=dict, repr=False)  # ``fem_assb.provenance``
    write_error: str | None = field(default=None, repr=False)  # summary.json not written

    @property
    def complete(self) -> bool:
        """Did the run end where a discharge ends (cut-off voltage, depleted
        electrolyte, the requested time), not by a solver failure or the step limit?"""
        return self.stop_reason in COMPLETE_REASONS

    def summary(self) -> dict:
        """The result as a dict for strict JSON: non-finite numbers become None."""
        d = asdict(self)
        d.pop("curve")
        d.pop("write_error")
        d = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in d.items()}
        d["complete"] = self.complete
        d["provenance"] = d.pop("provenance")  # last: the numbers first
        return d


def _convergence_test(scale: float, rtol: float = 1e-10, atol: float = 1e-12,
                      floor: float = 1e-8, max_it: int = 25):
    """SNES convergence in units of the applied current ``scale`` (A).

    Converged when ‖F‖ < atol·scale or ‖F‖ < rtol·‖F0‖, or when ‖F‖ is already below
    floor·scale and stops decreasing (the rounding floor of the residual). Diverged after
    ``test.max_it`` iterations (an attribute: the caller may change it between solves).
    ``test.converged(snes)`` judges a finished solve (a line search that fails below the
    floor counts as converged).
    """
    R = PETSc.SNES.ConvergedReason
    hist: dict = {}

    def test(_snes, it, norms):
        fnorm = norms[2]
        if it == 0:
            hist["f0"], hist["prev"] = fnorm, fnorm
            return R.CONVERGED_FNORM_ABS if fnorm < atol * scale else R.ITERATING
        prev, hist["prev"] = hist["prev"], fnorm
        if not np.isfinite(fnorm):
            return R.DIVERGED_FNORM_NAN
        if fnorm < atol * scale:
            return R.CONVERGED_FNORM_ABS
        if fnorm < rtol * hist["f0"]:
            return R.CONVERGED_FNORM_RELATIVE
        if fnorm < floor * scale and fnorm > 0.3 * prev:
            return R.CONVERGED_SNORM_RELATIVE
        if it >= test.max_it:
            return R.DIVERGED_MAX_IT
        return R.ITERATING

    test.max_it = max_it

    def converged(snes) -> bool:
        """The solve converged, or its line search failed at the rounding floor (a
        residual below floor·scale that no step can lower: the solution)."""
        reason = snes.getConvergedReason()
        return reason > 0 or (reason == R.DIVERGED_LINE_SEARCH
                              and snes.getFunctionNorm() < floor * scale)

    test.converged = converged
    return test


MAX_LANDING_ATTEMPTS = 12  # landing solves before the chord's crossing is taken as the end
LANDING_TOLERANCE = 1e-3  # V: a step this close below the cut-off ends the run on it
# the run ends when the cut-off is located within this share of ``steep_end`` × t of the
# last state (its capacity then within ~steep_end/2 of the reported one)
LANDING_SHARE = 0.5


def _chord_crossing(t_lo: float, f_lo: float, t_hi: float, f_hi: float) -> float:
    """Where the chord from (t_lo, f_lo > 0) to (t_hi, f_hi < 0) crosses zero."""
    return t_lo + (t_hi - t_lo) * f_lo / (f_lo - f_hi) if f_lo != f_hi else t_hi


def _landing_target(t: float, f: float, land: dict) -> float:
    """The next attempt's end time: the crossing of the chord from the state (t, f) to
    the last attempt past the cut-off, each end's f weighted (Illinois: an end that kept
    its place twice counts half, so that regula falsi does not stall on a curved end)."""
    return _chord_crossing(t, land["w_lo"] * f, land["t"], land["w_hi"] * land["f"])


def _identity(model, theoretical_capacity: float, cutoff: float) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    sizes = [u.function_space.dofmap.index_map.size_global for u in model.unknowns]
    return {"unknowns": sizes, "current_A_m2": float(model.current_density),
            "cutoff_V": float(cutoff), "theoretical_capacity_C_m2": float(theoretical_capacity),
            "model": type(model).__name__}


class _CurveWriter:
    """voltage.csv, row by row (rank 0); on resume the rows after the checkpoint are
    dropped and the file is appended to."""

    HEADER = ["time_s", "capacity_mAh_cm2", "voltage_V", "newton_iterations"]

    def __init__(self, out: Path | None, rank0: bool, resume_rows: int | None):
        self.fh = self.writer = None
        if out is None or not rank0:
            return
        out.mkdir(parents=True, exist_ok=True)
        path = out / "voltage.csv"
        if resume_rows is not None and path.is_file():
            # the header, the rest row and one row per step up to the checkpoint
            lines = path.read_text().splitlines(keepends=True)[: resume_rows + 2]
            path.write_text("".join(lines))
            self.fh = open(path, "a", newline="")  # noqa: SIM115
            self.writer = csv.writer(self.fh)
        else:
            self.fh = open(path, "w", newline="")  # noqa: SIM115
            self.writer = csv.writer(self.fh)
            self.writer.writerow(self.HEADER)

    def row(self, *values) -> None:
        if self.writer is not None:
            self.writer.writerow(values)
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def run_discharge(model, theoretical_capacity: float, cutoff: float, mass_per_area: float,
                  output: str | Path | None = None, control: StepControl | None = None,
                  linear: str = "auto", progress: bool = True,
                  max_steps: int = 2000, fields_every: int | None = None,
                  max_time: float | None = None, solver=None,
                  checkpoint_every: int | None = None, checkpoint_minutes: float | None = None,
                  resume: bool = False, provenance: dict | None = None) -> DischargeResult:
    """Discharge ``model`` at its current density down to ``cutoff`` (V).

    Args:
        model: a physics model (``SolidCellModel``, ``LiquidCellModel``) at rest.
        theoretical_capacity: C/m², sets the nominal discharge time and step sizes.
        cutoff: lower cut-off voltage (V).
        mass_per_area: kg/m² of the energy-density mass basis.
        output: directory for ``voltage.csv`` (written as it goes) and ``summary.json``.
        linear: 'direct', 'iterative' or 'auto' (by ``solver.direct_dof_limit``).
        fields_every: write 3D fields (``output/fields/*.bp``) every N steps and at the
            end; 0 writes the end state only; None writes none.
        max_time: stop after this time (s), the last step shortened to end on it.
        solver: solver settings (``Parameters.solver``; default: the model's).
        checkpoint_every, checkpoint_minutes: save the state to ``output/checkpoint``
            every N accepted steps and/or M minutes of wall time (needs ``output``).
        resume: continue from ``output/checkpoint`` (same structure, current, cut-off,
            rank count; a clear ``CheckpointError`` otherwise).
        provenance: where the run comes from (``fem_assb.provenance.record``), kept in
            the result and summary.json.
    """
    ctl_settings = control or StepControl()
    settings = solver if solver is not None else model.params.solver
    comm = model.doms.mesh.comm
    rank0 = comm.rank == 0
    current = float(model.current_density)  # A/m²
    if not current > 0:
        raise DischargeError(f"current density must be > 0 mA/cm², got {current / MA_PER_CM2}")
    area = model.doms.cross_section
    u_rest = model.set_rest_state()
    if cutoff >= u_rest:
        raise DischargeError(f"cut-off voltage {cutoff} V is not below the rest voltage "
                             f"{u_rest:.4f} V")
    t_nominal = theoretical_capacity / current
    ctl = StepController(ctl_settings, t_nominal)

    linear = settings.linear if linear == "auto" else linear
    if linear == "auto":  # MUMPS up to direct_dof_limit unknowns, field-split GMRES above
        ndofs = sum(u.function_space.dofmap.index_map.size_global for u in model.unknowns)
        linear = "direct" if ndofs <= settings.direct_dof_limit else "iterative"
    if linear not in ("direct", "iterative"):
        raise DischargeError(f"linear solver must be auto, direct or iterative, got '{linear}'")
    out = Path(output) if output is not None else None
    ck_dir = out / "checkpoint" if out is not None else None
    if (checkpoint_every or checkpoint_minutes or resume) and out is None:
        raise DischargeError("checkpoints need an output directory (-o DIR)")
    identity = _identity(model, theoretical_capacity, cutoff)
    resumed = None
    if resume:
        resumed = load_checkpoint(ck_dir, comm, identity, len(model.unknowns))

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
    converged = _convergence_test(current * area, rtol=settings.newton_rtol,
                                  atol=settings.newton_atol, max_it=ctl_settings.max_newton)
    snes.setConvergenceTest(converged)
    if linear == "iterative":
        problem.set_field_splits()

    # the run's state: curve, counters, conservation diagnostics
    li0 = model.integral("lithium_mol")
    liquid = "salt_mol" in model.diagnostics
    salt0 = model.integral("salt_mol") if liquid else None
    c_e0 = model.params.liquid_electrolyte.initial_concentration
    run = {"times": [0.0], "volts": [u_rest], "newton_per_step": [0], "t": 0.0, "steps": 0,
           "rejected": 0, "newton": 0, "linear": 0, "max_charge_err": 0.0, "salt_err": 0.0,
           "min_ce": c_e0 if liquid else None, "li0": li0, "salt0": salt0,
           "wall_before": 0.0}
    history, hist_times = [], []  # up to two earlier accepted states (the predictor's)
    if resumed is not None:
        doc, arrays, history = resumed
        model.restore(arrays)
        run.update(doc["run"])
        hist_times = list(doc["history_times"])
        ctl.restore(doc["controller"])

    writer = _CurveWriter(out, rank0, run["steps"] if resumed is not None else None)
    if resumed is None:
        writer.row(0.0, 0.0, u_rest, 0)
    report = Progress(theoretical_capacity / MAH_PER_CM2, enabled=progress and rank0)
    fields = None
    if fields_every is not None and out is not None:
        from fem_assb.viz.fields import FieldWriter

        fields = FieldWriter(model, out / "fields")
        fields.write(run["t"])

    def checkpoint() -> None:
        scalars = {"run": run, "controller": ctl.state(), "history_times": hist_times}
        save_checkpoint(ck_dir, comm, identity, scalars, model.state(), history)

    t_wall = time.perf_counter()
    last_ck = t_wall
    c_max = model.params.cam.c_max
    reason = "max_steps"
    while run["steps"] < max_steps:
        t = run["t"]
        # landing on the cut-off: time t and f = V − cut-off < 0 of the last attempt past
        # it, and the Illinois weights of the two ends' f (see ``_landing_target``)
        land = run.get("landing")
        if land is not None:
            dt = _landing_target(t, run["volts"][-1] - cutoff, land) - t
        else:
            dt = ctl.dt
        dt = dt if max_time is None else min(dt, max_time - t)
        ctl.dt = dt
        model.recenter()
        saved = model.state()
        model.begin_step(dt)
        predicted = None
        if history and ctl_settings.predictor:
            # the error estimate: distance from the linear extrapolation (BE's local
            # error); Newton starts from the quadratic one where there is history
            ratio = dt / (t - hist_times[-1])
            c_now = model.c.x.array.copy()
            predicted = (run["volts"][-1] + ratio * (run["volts"][-1] - run["volts"][-2]),
                         c_now + ratio * (c_now - history[-1][0]))
            model.predict(history, [*hist_times, t], t + dt)
        # the first step starts from rest (no predictor): allow Newton more iterations
        converged.max_it = ctl_settings.max_newton if run["steps"] else \
            2 * ctl_settings.max_newton
        problem.solve()
        its = snes.getIterationNumber()
        # the work done, rejected steps included
        run["newton"] += its
        run["linear"] += snes.getLinearSolveIterations()
        ok = converged.converged(snes)
        v_new = model.cell_voltage() if ok else float("nan")
        ok = ok and np.isfinite(v_new)
        # past the cut-off by more than LANDING_TOLERANCE (the first step's instantaneous
        # drop excepted): not a step but a bound of the crossing; the state goes back and
        # the next attempt aims at the crossing
        past = ok and run["steps"] > 0 and v_new < cutoff - LANDING_TOLERANCE
        # the first step's ohmic/kinetic drop is instantaneous: never reject it for size
        big_jump = (ok and not past and run["steps"] > 0
                    and abs(v_new - run["volts"][-1]) > ctl_settings.max_voltage_step
                    and dt > 4 * ctl_settings.min_dt)
        if not ok or big_jump or past:
            model.restore(saved)
            run["rejected"] += 1
            if past:  # the far end moves; the state stays (its weight halves if again)
                again = land is not None and land["last"] == "past"
                land = run["landing"] = {"t": t + dt, "f": v_new - cutoff, "w_hi": 1.0,
                                         "w_lo": 0.5 * land["w_lo"] if again else 1.0,
                                         "last": "past"}
                run["landings"] = run.get("landings", 0) + 1
                t_cross = _chord_crossing(t, run["volts"][-1] - cutoff, land["t"], land["f"])
                near = t_cross - t <= LANDING_SHARE * ctl_settings.steep_end * t
                if near or run["landings"] > MAX_LANDING_ATTEMPTS:  # state at the cut-off
                    run["end"] = t_cross
                    reason = "cutoff"
                    break
                continue
            if land is not None:  # a landing attempt failed: end at the chord's crossing
                run["end"] = _chord_crossing(t, run["volts"][-1] - cutoff, land["t"],
                                             land["f"])
                reason = "cutoff"
                break
            if not ctl.failed():
                reason = "solver_failed"
                break
            continue
        err = None
        if predicted is not None:
            dc = model.c.x.array - predicted[1]
            dc_max = comm.allreduce(float(np.abs(dc).max()) if dc.size else 0.0, op=MPI.MAX)
            err = ctl.error(v_new - predicted[0], dc_max / c_max,
                            slope=(v_new - run["volts"][-1]) / dt, t=t + dt)
        # the first step's drop is no slope: it does not limit the next step
        dv = v_new - run["volts"][-1] if run["steps"] > 0 else None
        # landing steps are accepted as they come (they only shorten the last step)
        if land is None and not ctl.judge(t, its, err, dv=dv):
            model.restore(saved)
            run["rejected"] += 1
            continue
        run["steps"] += 1
        # the first step holds the instantaneous ohmic/kinetic drop of switching on: no
        # smooth history to extrapolate from yet
        if run["steps"] > 1:
            history, hist_times = [*history, saved][-2:], [*hist_times, t][-2:]
        t = run["t"] = t + dt
        run["times"].append(t)
        run["volts"].append(v_new)
        run["newton_per_step"].append(its)
        i_if = model.integral("interface_current_A")
        run["max_charge_err"] = max(run["max_charge_err"],
                                    abs(i_if + current * area) / (current * area))
        q = current * t / MAH_PER_CM2
        writer.row(t, q, v_new, its)
        report.update(t, q, v_new, run["steps"])
        if fields is not None and fields_every and run["steps"] % fields_every == 0:
            fields.write(t)
        if liquid:
            run["salt_err"] = max(run["salt_err"],
                                  abs(model.integral("salt_mol") - salt0) / salt0)
            run["min_ce"] = min(run["min_ce"], model.minimum(model.c_e))
        times, volts = run["times"], run["volts"]
        if v_new <= cutoff:  # landed (within LANDING_TOLERANCE), or the first step
            reason = "cutoff"
            break
        if land is not None:  # a landing step short of the cut-off: the chord to the
            # attempt past it says how far it still is; the state moved, the far end
            # stayed (its weight halves if again: the next chord turns towards it)
            t_cut = _chord_crossing(t, v_new - cutoff, land["t"], land["f"])
            again = land["last"] == "step"
            land.update(w_lo=1.0, w_hi=0.5 * land["w_hi"] if again else 1.0, last="step")
            run["landings"] += 1
        elif ctl_settings.steep_end > 0 and len(times) >= 3 and volts[-1] < volts[-2]:
            slope = (volts[-2] - volts[-1]) / (times[-1] - times[-2])  # V/s
            t_cut = t + (v_new - cutoff) / slope
        else:
            t_cut = float("inf")
        near = t_cut - t < LANDING_SHARE * ctl_settings.steep_end * t  # state at the cut-off
        if near or run.get("landings", 0) > MAX_LANDING_ATTEMPTS:
            run["end"] = t_cut
            reason = "cutoff"
            break
        if liquid and run["min_ce"] < ctl_settings.depletion * c_e0:
            reason = "electrolyte_depleted"
            if rank0:
                warnings.warn(f"the electrolyte is depleted: min c_e = {run['min_ce']:.3g} "
                              f"mol/m³ at {q:.4g} mAh/cm² (stopped)", stacklevel=2)
            break
        if max_time is not None and t >= max_time * (1 - 1e-12):
            reason = "max_time"
            break
        # one saturated particle surface is no stop (the current moves elsewhere). Nodal
        # c_s settles where U(c_s) meets the local potential, a few 1e-3 above c_max with
        # the regularised kinetics; beyond 1 % the model has left its range: stop.
        if model.maximum(model.c) >= (1.0 + ctl_settings.overfill) * c_max:
            reason = "cam_saturated"
            break
        now = time.perf_counter()
        due = ((checkpoint_every and run["steps"] % checkpoint_every == 0)
               or (checkpoint_minutes and now - last_ck >= 60.0 * checkpoint_minutes))
        if comm.allreduce(bool(due), op=MPI.LOR):
            run["wall_before"] += now - t_wall
            t_wall = now
            checkpoint()
            last_ck = time.perf_counter()
    wall = run["wall_before"] + time.perf_counter() - t_wall
    if fields is not None:
        fields.write(run["t"])
        fields.close()
    report.close()
    if reason == "cutoff" and run.get("end") is not None:  # the located end point
        writer.row(run["end"], current * run["end"] / MAH_PER_CM2, cutoff, 0)
    writer.close()

    t = run["t"]
    li_gain = model.integral("lithium_mol") - run["li0"]
    li_expected = current * t * area / FARADAY
    li_err = abs(li_gain - li_expected) / li_expected if li_expected > 0 else 0.0
    times_a, volts_a = np.array(run["times"]), np.array(run["volts"])
    if reason == "cutoff" and run.get("end") is not None:  # the located end point
        times_a, volts_a = np.append(times_a, run["end"]), np.append(volts_a, cutoff)
    elif reason == "cutoff" and len(times_a) >= 2:  # the first step, or one landed within
        # LANDING_TOLERANCE below the cut-off: the crossing interpolated
        t0, t1, v0, v1 = times_a[-2], times_a[-1], volts_a[-2], volts_a[-1]
        t_end = t0 + (t1 - t0) * (v0 - cutoff) / (v0 - v1) if v0 != v1 else t1
        times_a[-1], volts_a[-1] = t_end, cutoff
    q_curve = current * times_a / MAH_PER_CM2  # mAh/cm²
    capacity = float(q_curve[-1])
    energy = float(np.trapezoid(volts_a, q_curve))  # mWh/cm²
    mass_g_cm2 = mass_per_area * 1e3 / 1e4
    res = DischargeResult(
        capacity_mAh_cm2=capacity,
        theoretical_capacity_mAh_cm2=theoretical_capacity / MAH_PER_CM2,
        state_capacity_mAh_cm2=current * t / MAH_PER_CM2,
        energy_mWh_cm2=energy, energy_density_Wh_kg=energy / mass_g_cm2,
        mean_voltage_V=energy / capacity if capacity > 0 else float("nan"),
        end_voltage_V=float(volts_a[-1]), rest_voltage_V=u_rest,
        current_density_mA_cm2=current / MA_PER_CM2, stop_reason=reason,
        steps=run["steps"], rejected_steps=run["rejected"],
        newton_iterations=run["newton"], linear_iterations=run["linear"],
        wall_time_s=wall, max_charge_balance_error=run["max_charge_err"],
        lithium_balance_error=li_err,
        salt_balance_error=run["salt_err"] if liquid else None,
        min_electrolyte_concentration_mol_m3=run["min_ce"],
        curve={"time_s": times_a.tolist(), "capacity_mAh_cm2": q_curve.tolist(),
               "voltage_V": volts_a.tolist(), "newton_iterations": run["newton_per_step"],
               "step_errors": [h[3] for h in ctl.history]},
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
