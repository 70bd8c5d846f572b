"""Run a study case by case: every finished case is appended to ``results.csv`` at once
(with its curves and profiles in ``cases/<id>/``), so an interrupted study loses only the
case in progress, and running it again skips the finished ones.

Layout of the output directory::

    study.json        the resolved config and its provenance (``fem_assb.provenance``)
    structures.csv    per structure: volume fractions, theoretical capacity, σ_eff/σ_bulk
    results.csv       one row per finished case (case axes + discharge summary + version,
                      commit and checksums of the parameters and the structure)
    failed.csv        cases that raised or did not finish (retried on the next run)
    cases/<id>/       voltage.csv, summary.json, profiles.json (and, while the case
                      runs, checkpoint/: an interrupted case resumes from it)

Cases run one after another on all MPI ranks (``mpiexec -n N fem-assb study ...``), or
``jobs`` at a time in separate single-rank processes.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from fem_assb import __version__, provenance
from fem_assb.analysis.tables import append_row as _append
from fem_assb.analysis.tables import read_table
from fem_assb.analysis.tables import write_table as _write_table
from fem_assb.locking import locked_output
from fem_assb.materials import structure_capacity_mAh_cm2
from fem_assb.studies.cases import Case, build_structure, expand
from fem_assb.studies.config import StudyConfig, experiment_for

if TYPE_CHECKING:  # annotations only (MPI is imported through fem_assb._dolfinx)
    from mpi4py import MPI

    from fem_assb.protocol.control import StepControl

CASE_COLUMNS = ["case", "electrolyte", "current_density_mA_cm2", "radius_um", "f_l60",
                "reversed", "transference_number"]
RESULT_COLUMNS = ["capacity_mAh_cm2", "theoretical_capacity_mAh_cm2", "energy_mWh_cm2",
                  "energy_density_Wh_kg", "mean_voltage_V", "end_voltage_V", "stop_reason",
                  "steps", "newton_iterations", "wall_time_s", "max_charge_balance_error",
                  "lithium_balance_error", "salt_balance_error",
                  "min_electrolyte_concentration_mol_m3", "charge_capacity_mAh_cm2"]
PROVENANCE_COLUMNS = ["fem_assb_version", "git_commit", "parameters_sha256",
                      "structure_sha256"]
# σ_eff of the structure table: the voxel geometry's value (FV/FEM bracket midpoint)
CONDUCTIVITY_METHOD = "bracket"
FAILURE_COLUMNS = ["case", "error", "attempts"]
KEY_COLUMNS = ["case_key"]  # ``case_key``: what the finished case was computed with
# the built-in families' structure axes: columns of every structures.csv
STRUCTURE_AXES = ("radius_um", "f_l60", "reversed")
STRUCTURE_COLUMNS = ["structure", "electrolyte", *STRUCTURE_AXES,
                     "cam_fraction", "electrolyte_fraction", "cbd_fraction",
                     "theoretical_capacity_mAh_cm2", "relative_conductivity",
                     "structure_config_key"]


def columns(base: list[str], cfg: StudyConfig, parameters: bool = True) -> list[str]:
    """``base`` and the config's axis columns it lacks (a family's own structure axes,
    the parameter axes by their last name), after the axes of ``base``."""
    extra = list(cfg.structure_axes())
    if parameters:
        extra += [p.rsplit(".", 1)[-1] for p in cfg.parameter_axes()]
    new = [c for c in extra if c not in base]
    at = 2 + base[1:].index("electrolyte") if "electrolyte" in base else 1
    return base[:at + 1] + new + base[at + 1:] if new else list(base)


def _record_failure(path: Path, case_id: str, error: str) -> None:
    """failed.csv: one row per case that has not finished (its latest error and the
    number of attempts)."""
    rows = {r["case"]: r for r in read_table(path)}
    attempts = int(rows.get(case_id, {}).get("attempts") or 0) + 1
    rows[case_id] = {"case": case_id, "error": error, "attempts": attempts}
    _write_table(path, FAILURE_COLUMNS, rows.values())


def _forget_failures(path: Path, finished: set) -> None:
    """Drop the cases that have finished since from failed.csv (removed when empty)."""
    if not path.is_file():
        return
    rows = [r for r in read_table(path) if r["case"] not in finished]
    if rows:
        _write_table(path, FAILURE_COLUMNS, rows)
    else:
        path.unlink()


def _params(cfg: StudyConfig, case: Case):
    from fem_assb.materials import default_parameters
    from fem_assb.studies.config import _nested, merge_configs

    over = json.loads(json.dumps(cfg.parameters))
    for path, value in case.parameters:  # the case's values of the parameter axes
        over = merge_configs(over, _nested(path, value))
    return default_parameters().updated(over, f"study '{cfg.name}' [parameters]")


def structure_row(cfg: StudyConfig, case: Case, comm) -> dict:
    """Fractions, theoretical capacity and σ_eff/σ_bulk of a case's structure."""
    s = build_structure(cfg, case)
    fr = s.volume_fractions()
    row = {"structure": case.structure_key, "electrolyte": case.electrolyte,
           **dict.fromkeys(STRUCTURE_AXES), **dict(case.structure),
           "cam_fraction": fr.get("cam", 0.0), "electrolyte_fraction": fr.get("electrolyte", 0.0),
           "cbd_fraction": fr.get("cbd", 0.0),
           "theoretical_capacity_mAh_cm2": structure_capacity_mAh_cm2(s, _params(cfg, case)),
           "structure_config_key": structure_config_key(cfg, case)}
    if cfg.conductivity:
        from fem_assb.analysis.conductivity import PercolationError, effective_conductivity

        phases = case.chemistry.ion_conductors
        try:
            row["relative_conductivity"] = effective_conductivity(
                s, phases, comm=comm, method=CONDUCTIVITY_METHOD).relative_conductivity
        except PercolationError:
            row["relative_conductivity"] = 0.0
    return row


class CaseIncomplete(RuntimeError):
    """A case's discharge did not finish (solver failure, step limit)."""


def run_case(cfg: StudyConfig, case: Case, out: Path, comm, control=None) -> dict:
    """Discharge one case; its files go to ``out/cases/<id>``. Returns its table row.

    With ``cfg.checkpoint_minutes`` the case saves its state as it runs and a case left
    unfinished by an interrupted study continues from its checkpoint (one written by
    another number of ranks or another configuration is set aside: the case starts
    again); the checkpoint is removed once the case has finished."""
    import shutil

    from fem_assb.errors import CheckpointError
    from fem_assb.protocol.run_options import RunOptions
    from fem_assb.simulation import Simulation

    case_dir = out / "cases" / case.id
    ck_dir = case_dir / "checkpoint"
    render = cfg.render and case.current_density_mA_cm2 == max(cfg.current_axis())
    sim = Simulation(build_structure(cfg, case), case.electrolyte, _params(cfg, case),
                     separator_um=cfg.separator_um, refine=cfg.refine, comm=comm,
                     progress=False, voxel_code=cfg.voxel_code)
    # a protocol (its whole-run summary is the case's result), or one discharge
    experiment = experiment_for(cfg, case.current_density_mA_cm2) if cfg.experiment else \
        [sim.discharge_step(case.current_density_mA_cm2, cfg.cutoff_V)]

    def run(resume: bool):
        return sim.run(experiment, RunOptions(
            output=case_dir, progress=False, render=render, resume=resume,
            checkpoint_minutes=cfg.checkpoint_minutes,
            **({"control": control} if control is not None else {})))

    resume = cfg.checkpoint_minutes is not None and (ck_dir / "state.json").is_file()
    try:
        res = run(resume)
    except CheckpointError as err:  # another rank count or run: start the case again
        if comm.rank == 0:
            warnings.warn(f"case {case.id}: {err}; running it from the start", stacklevel=2)
        res = run(False)
    if not res.complete:  # recorded in failed.csv and run again next time, not a result
        raise CaseIncomplete(f"case {case.id} stopped by {res.stop_reason} at "
                             f"{res.capacity_mAh_cm2:.4g} mAh/cm²")
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(ck_dir, ignore_errors=True)
    origin = {k: res.provenance.get(k) for k in PROVENANCE_COLUMNS}
    summary = res.summary()  # the whole run's numbers; results.csv's ``steps``: time steps
    summary["steps"] = summary.pop("time_steps")
    return {**case.row(), **summary, **origin, "case_key": case_key(cfg, case)}


def _die_with_parent() -> None:
    """Worker initializer: end this process when the study process dies (Linux
    ``PR_SET_PDEATHSIG``), so that a killed ``study --jobs N`` leaves no worker behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _worker(cfg_json: str, case: dict, out: str, control) -> dict:
    """Entry point of a single-rank worker process (``jobs`` > 1)."""
    from fem_assb._dolfinx import MPI

    cfg = StudyConfig.model_validate_json(cfg_json)
    return run_case(cfg, Case.from_data(case), Path(out), MPI.COMM_SELF, control)


# the config entries that determine a case's result (the sweep axes, the name and the
# figure options do not: adding a radius to a sweep keeps the finished cases)
CASE_DETERMINANTS = {"family", "geometry", "layout", "layer_cam_fractions", "separator_um",
                     "refine", "voxel_code", "cutoff_V", "parameters", "experiment"}


class StudyMismatch(ValueError):
    """A study directory holds results of another configuration."""


def case_key(cfg: StudyConfig, case: Case) -> str:
    """Checksum of everything that determines a case's result: its axes, the config
    entries of ``CASE_DETERMINANTS`` and the fem_assb version."""
    config = cfg.model_dump(mode="json", include=CASE_DETERMINANTS)
    if not config["experiment"]:  # a discharge: the key of the versions before protocols
        del config["experiment"]
    if config["voxel_code"]:  # the key of the versions before the continuum defaults
        del config["voxel_code"]
    return provenance.digest({"config": config, "case": case.row(),
                              "version": __version__})[:16]


# what determines a structure row (its fractions, capacity and σ_eff/σ_bulk)
STRUCTURE_DETERMINANTS = {"family", "geometry", "layout", "layer_cam_fractions",
                          "conductivity", "parameters"}


def structure_config_key(cfg: StudyConfig, case: Case) -> str:
    """Checksum of everything that determines a structure row."""
    return provenance.digest({
        "config": cfg.model_dump(mode="json", include=STRUCTURE_DETERMINANTS),
        "structure": [case.structure_key, case.electrolyte], "version": __version__,
        "conductivity": CONDUCTIVITY_METHOD})[:16]


def pending_cases(cfg: StudyConfig, out: Path) -> list[Case]:
    """The cases without a result of this configuration in ``out/results.csv``."""
    done = {(r["case"], r.get("case_key")) for r in read_table(out / "results.csv")}
    return [c for c in expand(cfg) if (c.id, case_key(cfg, c)) not in done]


def _check_same_config(cfg: StudyConfig, out: Path) -> None:
    """Refuse a directory whose results or structures were computed with another
    configuration (they would stand beside the new ones while study.json claims the new
    config for all)."""
    cases = expand(cfg)
    for table, id_col, key_col, keys in (
            ("results.csv", "case", "case_key", {c.id: case_key(cfg, c) for c in cases}),
            ("structures.csv", "structure", "structure_config_key",
             {c.structure_key: structure_config_key(cfg, c) for c in cases})):
        for r in read_table(out / table):
            if r[id_col] in keys and r.get(key_col) != keys[r[id_col]]:
                raise StudyMismatch(
                    f"{out / table}: {id_col} {r[id_col]} was computed with another "
                    "configuration or fem_assb version (cut-off, parameters, geometry, ...);"
                    " give a new output directory, or remove the file to recompute")


class _Reporter:
    """Progress of a study on stderr (rank 0): the cases reused and to run, a line as
    each case starts, finishes or fails."""

    def __init__(self, name: str, total: int, enabled: bool):
        self.name, self.total, self.enabled = name, total, enabled
        self.done, self.t0 = 0, time.monotonic()

    def _line(self, text: str) -> None:
        if self.enabled:
            print(f"fem-assb: study {self.name}: {text}", file=sys.stderr, flush=True)

    def begin(self, reused: int, to_run: int) -> None:
        self.done = reused
        self._line(f"{self.total} cases; {reused} finished before (reused), {to_run} to run")

    def started(self, case: str) -> None:
        self._line(f"case {self.done + 1}/{self.total} {case} started")

    def finished(self, row: dict) -> None:
        self.done += 1
        self._line(f"case {self.done}/{self.total} {row['case']} finished: "
                   f"{float(row['capacity_mAh_cm2']):.4f} mAh/cm², {row['stop_reason']} "
                   f"({(time.monotonic() - self.t0) / 60:.1f} min so far)")

    def failed(self, case: str, err: str) -> None:
        self._line(f"case {case} did not finish ({err}); it runs again next time")


def run_study(cfg: StudyConfig, output: str | Path, comm: MPI.Comm | None = None,
              jobs: int = 1, progress: bool = True, control: StepControl | None = None,
              max_cases: int | None = None) -> Path:
    """Run (or resume) a study into ``output``: finished cases of the same configuration
    are reused, each new case's row is appended as it finishes.

    Parameters
    ----------
    cfg : StudyConfig
    output : str or Path
        The study directory (study.json, structures.csv, results.csv, cases/).
    comm : MPI communicator, optional
        Every case runs on all its ranks (default: COMM_WORLD).
    jobs : int
        Cases at once in separate single-rank processes (only without MPI).
    progress : bool
        A line per case on stderr (rank 0).
    control : StepControl, optional
        The step control of every case.
    max_cases : int, optional
        Stop after this many newly finished cases.

    Returns
    -------
    Path
        The results table.
    """
    from fem_assb._dolfinx import MPI

    comm = comm or MPI.COMM_WORLD
    with locked_output(output, comm):  # one run per study directory
        return _run_study(cfg, Path(output), comm, jobs, progress, control, max_cases)


def _run_study(cfg: StudyConfig, out: Path, comm, jobs: int, progress: bool, control,
               max_cases: int | None) -> Path:
    rank0 = comm.rank == 0
    _check_same_config(cfg, out)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        study = {**cfg.model_dump(mode="json"),
                 "provenance": provenance.record(ranks=comm.size)}
        (out / "study.json").write_text(json.dumps(study, indent=2))
    comm.barrier()
    cases = expand(cfg)
    # structures first: cheap, and the figures need them even for unfinished cases
    known = {(r["structure"], r.get("structure_config_key"))
             for r in read_table(out / "structures.csv")}
    for case in {c.structure_key: c for c in cases}.values():
        if (case.structure_key, structure_config_key(cfg, case)) not in known:
            row = structure_row(cfg, case, comm)
            if rank0:
                _append(out / "structures.csv", columns(STRUCTURE_COLUMNS, cfg, False), row)
    todo = pending_cases(cfg, out)
    say = _Reporter(cfg.name, len(cases), progress and rank0)
    say.begin(len(cases) - len(todo), len(todo) if max_cases is None else
              min(len(todo), max_cases))
    if max_cases is not None:
        todo = todo[:max_cases]

    def finished(row):
        if rank0:
            _append(out / "results.csv",
                    columns(CASE_COLUMNS, cfg) + RESULT_COLUMNS + PROVENANCE_COLUMNS
                    + KEY_COLUMNS, row)
        say.finished(row)

    def failed(case, err):
        if rank0:
            _record_failure(out / "failed.csv", case.id, err)
        say.failed(case.id, err)

    if jobs > 1 and comm.size == 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_die_with_parent) as pool:
            futs = {pool.submit(_worker, cfg.model_dump_json(), c.as_data(), str(out), control): c
                    for c in todo}
            for f in as_completed(futs):
                try:
                    finished(f.result())
                except Exception as err:  # noqa: BLE001 - recorded, retried next run
                    failed(futs[f], f"{type(err).__name__}: {err}")
    else:
        for case in todo:
            say.started(case.id)
            try:
                finished(run_case(cfg, case, out, comm, control))
            except (ValueError, RuntimeError) as err:
                failed(case, f"{type(err).__name__}: {err}")
    if rank0:
        _forget_failures(out / "failed.csv", {r["case"] for r in read_table(out / "results.csv")})
    comm.barrier()  # rank 0's last rows are written before any rank reads the tables
    return out / "results.csv"


