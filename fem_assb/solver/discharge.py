"""Galvanostatic discharge: backward Euler with step control, cut-off detection, outputs.

One SNES (Newton + backtracking line search; MUMPS LU or field-split GMRES) solves the
coupled system of a step; the forms are compiled once. Each step starts from the linear
extrapolation of the last two states, the Jacobian is rebuilt every second iteration.
Steps grow after easy Newton solves and shrink after hard ones; a failed solve (or a
voltage change above ``max_voltage_step``) is rejected and retried with half the step,
and no non-converged step is ever accepted. The end point at the cut-off is
interpolated linearly between the last two accepted steps (or extrapolated on the
near-vertical end, see ``StepControl.steep_end``). Rows of the voltage curve are
written to CSV as they are computed (rank 0).
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, dolfinx
from fem_assb.constants import FARADAY, MA_PER_CM2, MAH_PER_CM2
from fem_assb.solver.options import DIRECT_DOF_LIMIT, unique_prefix


class DischargeError(ValueError):
    """Invalid discharge input (cut-off above rest voltage, non-positive current, ...)."""


@dataclass
class StepControl:
    """Time-step control (s, V)."""

    initial_fraction: float = 2e-3  # first dt as a fraction of the nominal discharge time
    max_fraction: float = 0.02  # largest dt as a fraction of the nominal discharge time
    min_dt: float = 1e-4  # s
    grow: float = 1.5
    max_voltage_step: float = 0.05  # V per accepted step
    easy_newton: int = 5  # grow the step by ``grow`` after at most this many iterations
    moderate_newton: int = 8  # ... by ``grow_moderate`` after at most this many
    grow_moderate: float = 1.2
    hard_newton: int = 12  # shrink the next step (x0.6) when Newton needed more than this
    max_newton: int = 16  # reject the step (halve dt) when Newton has not converged by then
    max_relative: float = 0.2  # dt <= max_relative * t: resolves the √t start-up transient
    overfill: float = 0.01  # guard: stop when c_s exceeds (1 + overfill) c_max anywhere
    predictor: bool = True  # start Newton from the linear extrapolation of the last steps
    depletion: float = 0.01  # LIB: stop when min c_e < depletion × c_e0 (electrolyte empty)
    # stop when the voltage, extrapolated linearly from the last two steps, reaches the
    # cut-off within steep_end × t (the near-vertical end costs many tiny steps and adds
    # < steep_end of the capacity); 0 resolves the end step by step
    steep_end: float = 1e-3


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
    newton_iterations: int
    linear_iterations: int
    wall_time_s: float
    max_charge_balance_error: float  # max |∫i dΓ + I A| / (I A) over the steps
    lithium_balance_error: float  # |Li gained − ∫I dt A/F| / (∫I dt A/F)
    salt_balance_error: float | None = None  # LIB: max |salt − salt0| / salt0 over the steps
    min_electrolyte_concentration_mol_m3: float | None = None  # LIB: lowest nodal c_e
    curve: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("curve")
        return d


def _set_field_splits(problem, model, comm) -> None:
    """Index sets of the model's field-split groups in DOLFINx's 'mpi' block layout: on
    each rank the owned dofs of block 0, then block 1, ...; the rank's offset sums the
    blocks' offsets."""
    spaces = [u.function_space for u in model.unknowns]
    sizes = [V.dofmap.index_map.size_local * V.dofmap.index_map_bs for V in spaces]
    start = sum(V.dofmap.index_map.local_range[0] * V.dofmap.index_map_bs for V in spaces)
    blocks = []
    for n in sizes:
        blocks.append(np.arange(start, start + n, dtype=PETSc.IntType))
        start += n
    splits = [(name, PETSc.IS().createGeneral(np.concatenate([blocks[b] for b in group]),
                                              comm=comm))
              for name, group in model.splits.items()]
    problem.solver.getKSP().getPC().setFieldSplitIS(*splits)


def _snes_options(linear: str, split_names=()) -> dict:
    # the Jacobian is rebuilt every second iteration (assembly + factorisation are ~80 %
    # of a Newton iteration; the in-between chord step costs a residual and a solve):
    # -37 % wall time on a 3D ASSB discharge, same capacity within the time error
    opts = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_max_it": 100,
            "snes_rtol": 1e-10, "snes_stol": 0.0, "snes_lag_jacobian": 2}
    if linear == "iterative":
        # GMRES + multiplicative field split, one GAMG V-cycle per field group (c_s,
        # (Φ_s, V), Φ_e [, c_e]); the splits are set by index sets
        opts.update({"ksp_type": "gmres", "ksp_rtol": 1e-6, "ksp_atol": 0.0,
                     "ksp_max_it": 1000, "ksp_gmres_restart": 200,
                     "pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative",
                     # an inexact Newton with a stale Jacobian needs too many iterations
                     # on the first step from rest: rebuild it every iteration
                     "snes_lag_jacobian": 1})
        for name in split_names:
            opts.update({f"fieldsplit_{name}_ksp_type": "preonly",
                         f"fieldsplit_{name}_pc_type": "gamg"})
    else:
        opts.update({"ksp_type": "preonly", "pc_type": "lu",
                     "pc_factor_mat_solver_type": "mumps"})
    return opts


def _convergence_test(scale: float, rtol: float = 1e-10, atol: float = 1e-12,
                      floor: float = 1e-8, max_it: int = 25):
    """SNES convergence in units of the applied current ``scale`` (A).

    Converged when ‖F‖ < atol·scale or ‖F‖ < rtol·‖F0‖, or when ‖F‖ is already below
    floor·scale and stops decreasing (the rounding floor of the residual). Diverged after
    ``test.max_it`` iterations (an attribute: the caller may change it between solves).
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
    return test


def run_discharge(model, theoretical_capacity: float, cutoff: float, mass_per_area: float,
                  output: str | Path | None = None, control: StepControl | None = None,
                  linear: str = "auto", progress: bool = True,
                  max_steps: int = 2000, fields_every: int | None = None,
                  max_time: float | None = None) -> DischargeResult:
    """Discharge ``model`` at its current density down to ``cutoff`` (V).

    Args:
        model: a physics model (``SolidCellModel``) at its initial state.
        theoretical_capacity: C/m², sets the nominal discharge time and step sizes.
        cutoff: lower cut-off voltage (V).
        mass_per_area: kg/m² of the energy-density mass basis.
        output: directory for ``voltage.csv`` (written as it goes) and ``summary.json``.
        fields_every: write 3D fields (``output/fields/*.bp``) every N steps and at the
            end; 0 writes the end state only; None writes none.
        max_time: stop after this time (s), the last step shortened to end on it.
    """
    ctl = control or StepControl()
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
    dt = ctl.initial_fraction * t_nominal
    dt_max = ctl.max_fraction * t_nominal

    if linear == "auto":  # MUMPS below DIRECT_DOF_LIMIT unknowns, field-split GMRES above
        ndofs = sum(u.function_space.dofmap.index_map.size_global for u in model.unknowns)
        linear = "direct" if ndofs <= DIRECT_DOF_LIMIT else "iterative"
    if linear not in ("direct", "iterative"):
        raise DischargeError(f"linear solver must be auto, direct or iterative, got '{linear}'")
    prefix = unique_prefix("discharge")
    problem = dolfinx.fem.petsc.NonlinearProblem(
        model.residuals, model.unknowns, bcs=model.bcs, entity_maps=model.doms.entity_maps,
        petsc_options_prefix=prefix, kind="mpi",
        petsc_options=_snes_options(linear, tuple(model.splits)))
    snes = problem.solver
    converged = _convergence_test(current * area, max_it=ctl.max_newton)
    snes.setConvergenceTest(converged)
    if linear == "iterative":
        _set_field_splits(problem, model, comm)

    out = Path(output) if output is not None else None
    writer = fh = None
    if out is not None and rank0:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / "voltage.csv", "w", newline="")  # noqa: SIM115
        writer = csv.writer(fh)
        writer.writerow(["time_s", "capacity_mAh_cm2", "voltage_V", "newton_iterations"])
        writer.writerow([0.0, 0.0, u_rest, 0])
        fh.flush()
    bar = None
    if progress and rank0:
        from tqdm import tqdm

        bar = tqdm(total=round(theoretical_capacity / MAH_PER_CM2, 3), unit="mAh/cm²",
                   disable=None, mininterval=0.5,  # off when stderr is not a terminal
                   bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} mAh/cm² [{elapsed}] {postfix}")

    fields = None
    if fields_every is not None and out is not None:
        from fem_assb.viz.fields import FieldWriter

        fields = FieldWriter(model, out / "fields")
        fields.write(0.0)
    t_wall = time.perf_counter()
    times, volts = [0.0], [u_rest]
    t = 0.0
    li0 = model.integral("lithium_mol")
    liquid = "salt_mol" in model.diagnostics
    salt0 = model.integral("salt_mol") if liquid else None
    salt_err = 0.0
    c_e0 = model.params.liquid_electrolyte.initial_concentration
    min_ce = c_e0 if liquid else None
    steps = rejected = newton = linear_its = 0
    max_charge_err = 0.0
    reason = "max_steps"
    c_max = model.params.cam.c_max
    previous, dt_prev = None, None  # last accepted state (for the predictor)
    while steps < max_steps:
        if max_time is not None:
            dt = min(dt, max_time - t)
        model.recenter()
        saved = model.state()
        model.begin_step(dt)
        if previous is not None and ctl.predictor:
            model.predict(previous, dt / dt_prev)
        # the first step starts from rest (no predictor): allow Newton more iterations
        converged.max_it = ctl.max_newton if steps else 2 * ctl.max_newton
        problem.solve()
        its = snes.getIterationNumber()
        ok = snes.getConvergedReason() > 0
        v_new = model.cell_voltage() if ok else float("nan")
        ok = ok and np.isfinite(v_new)
        # the first step's ohmic/kinetic drop is instantaneous: never reject it for size
        big_jump = (ok and steps > 0 and abs(v_new - volts[-1]) > ctl.max_voltage_step
                    and dt > 4 * ctl.min_dt)
        if not ok or big_jump:
            model.restore(saved)
            rejected += 1
            dt *= 0.5
            if dt < ctl.min_dt:
                reason = "solver_failed"
                break
            continue
        steps += 1
        previous, dt_prev = saved, dt
        newton += its
        linear_its += snes.getLinearSolveIterations()
        t += dt
        times.append(t)
        volts.append(v_new)
        i_if = model.integral("interface_current_A")
        max_charge_err = max(max_charge_err, abs(i_if + current * area) / (current * area))
        q = current * t / MAH_PER_CM2
        if writer is not None:
            writer.writerow([t, q, v_new, its])
            fh.flush()
        if bar is not None:
            bar.n = round(q, 3)
            bar.set_postfix_str(f"t={t:.0f} s, V={v_new:.3f}")
            bar.refresh()
        if fields is not None and fields_every and steps % fields_every == 0:
            fields.write(t)
        if liquid:
            salt_err = max(salt_err, abs(model.integral("salt_mol") - salt0) / salt0)
            min_ce = min(min_ce, model.minimum(model.c_e))
        if v_new <= cutoff:
            reason = "cutoff"
            break
        if ctl.steep_end > 0 and len(times) >= 3 and volts[-1] < volts[-2]:
            slope = (volts[-2] - volts[-1]) / (times[-1] - times[-2])  # V/s
            t_cut = t + (v_new - cutoff) / slope
            if t_cut - t < ctl.steep_end * t:
                times.append(t_cut)
                volts.append(cutoff)
                reason = "cutoff"
                break
        if liquid and min_ce < ctl.depletion * c_e0:
            reason = "electrolyte_depleted"
            if rank0:
                warnings.warn(f"the electrolyte is depleted: min c_e = {min_ce:.3g} mol/m³ "
                              f"at {q:.4g} mAh/cm² (stopped)", stacklevel=2)
            break
        if max_time is not None and t >= max_time * (1 - 1e-12):
            reason = "max_time"
            break
        c_loc = model.c.x.array
        c_top = comm.allreduce(c_loc.max() if c_loc.size else 0.0, op=MPI.MAX)
        # one saturated particle surface is no stop (the current moves elsewhere). Nodal
        # c_s settles where U(c_s) meets the local potential, a few 1e-3 above c_max with
        # the regularised kinetics; beyond 1 % the model has left its range: stop.
        if c_top >= (1.0 + ctl.overfill) * c_max:
            reason = "cam_saturated"
            break
        if its > ctl.hard_newton:
            dt *= 0.6
        elif its <= ctl.moderate_newton:
            g = ctl.grow if its <= ctl.easy_newton else ctl.grow_moderate
            dt = min(dt * g, dt_max, max(ctl.max_relative * t, dt))
    wall = time.perf_counter() - t_wall
    if fields is not None:
        fields.write(t)
        fields.close()
    if bar is not None:
        bar.close()
    if fh is not None:
        fh.close()

    li_gain = model.integral("lithium_mol") - li0
    li_expected = current * t * area / FARADAY
    li_err = abs(li_gain - li_expected) / li_expected if li_expected > 0 else 0.0
    times_a, volts_a = np.array(times), np.array(volts)
    if reason == "cutoff" and len(times) >= 2:  # interpolate the end point
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
        current_density_mA_cm2=current / MA_PER_CM2, stop_reason=reason, steps=steps,
        rejected_steps=rejected, newton_iterations=newton, linear_iterations=linear_its,
        wall_time_s=wall,
        max_charge_balance_error=max_charge_err, lithium_balance_error=li_err,
        salt_balance_error=salt_err if liquid else None,
        min_electrolyte_concentration_mol_m3=min_ce,
        curve={"time_s": times_a.tolist(), "capacity_mAh_cm2": q_curve.tolist(),
               "voltage_V": volts_a.tolist()})
    snes.destroy()
    if out is not None and rank0:
        (out / "summary.json").write_text(json.dumps(res.summary(), indent=2))
    return res
