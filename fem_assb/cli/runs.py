"""``fem-assb discharge`` and ``fem-assb run``: the same cell and run options; a
discharge is the one-step protocol. Both print the same JSON (``Solution.summary``)."""

from __future__ import annotations

import sys

import click

from fem_assb.cli import options
from fem_assb.cli.errors import EXIT_INCOMPLETE, EXIT_INPUT
from fem_assb.cli.output import echo, emit_json


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--current-density", type=float, required=True,
              help="applied current density in mA/cm² (> 0 discharges)")
@click.option("--cutoff", type=float, default=None,
              help="lower cut-off voltage in V (default: the parameter set's, 3.0 V)")
@options.cell_options
@options.run_options
def discharge(file, current_density, cutoff, **kw):
    """Galvanostatic discharge of a cathode structure in a virtual cell (or of an imported
    cell mesh)."""
    sol = _simulation(file, kw).discharge(current_density, cutoff,
                                          options=options.run_options_of(kw))
    if kw["as_json"]:
        emit_json(sol.summary())
    else:
        echo(f"{file}: {kw['electrolyte']} electrolyte, {current_density:g} mA/cm², "
             f"stopped by {sol.stop_reason}")
        echo(f"  capacity        {sol.capacity_mAh_cm2:.4f} mAh/cm² of "
             f"{sol.theoretical_capacity_mAh_cm2:.4f} theoretical")
        echo(f"  energy          {sol.energy_mWh_cm2:.4f} mWh/cm²  "
             f"({sol.energy_density_Wh_kg:.1f} Wh/kg)")
        echo(f"  mean voltage    {sol.mean_voltage_V:.4f} V (end {sol.end_voltage_V:.4f} V)")
        if sol.min_electrolyte_concentration_mol_m3 is not None:
            echo(f"  min c_e         {sol.min_electrolyte_concentration_mol_m3:.1f} mol/m³ "
                 f"(salt balance {sol.salt_balance_error:.1e})")
        echo(f"  time steps      {sol.time_steps} ({sol.newton_iterations} Newton "
             f"iterations, {sol.wall_time_s:.1f} s)")
    finish(sol, kw["output"], "discharge", kw["as_json"])


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--experiment", "steps", multiple=True, metavar="STEP",
              help="a protocol step, repeatable, in order: 'Discharge at 8 mA/cm2 until "
                   "3.0 V', 'Rest for 30 minutes', 'Charge at C/3 until 4.3 V', 'Hold at "
                   "4.3 V until C/50', '5 x (Discharge at C/20 for 30 minutes; Rest for 2 "
                   "hours)'")
@click.option("--experiment-file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with experiment = [steps as strings or tables]")
@options.cell_options
@options.run_options
def run_protocol(file, steps, experiment_file, **kw):
    """Run a protocol (discharge, charge, rest, CV holds, pulses) on a cathode structure."""
    from fem_assb.protocol.experiment import Experiment, load_experiment

    if bool(steps) == bool(experiment_file):
        raise click.UsageError("give the protocol as --experiment STEP (repeatable) or "
                               "--experiment-file FILE")
    experiment = load_experiment(experiment_file) if experiment_file else \
        Experiment(list(steps), source="--experiment")
    sol = _simulation(file, kw).run(experiment, options.run_options_of(kw))
    if kw["as_json"]:
        emit_json(sol.summary())
    else:
        echo(f"{file}: {kw['electrolyte']} electrolyte, {len(sol.steps)} of "
             f"{len(experiment)} steps run ({sol.stop_reason})")
        for k, st in enumerate(sol.steps, start=1):
            echo(f"  {k:3d}. {st.text:<44s} {st.capacity_mAh_cm2:8.4f} mAh/cm²  "
                 f"{st.start_voltage_V:.3f} -> {st.end_voltage_V:.3f} V  "
                 f"{st.duration_s:9.1f} s  {st.stop_reason}")
        echo(f"  discharged {sol.capacity_mAh_cm2:.4f} mAh/cm² ({sol.energy_mWh_cm2:.4f} "
             f"mWh/cm²), charged {sol.charge_capacity_mAh_cm2:.4f} mAh/cm²; lithium "
             f"balance {sol.lithium_balance_error:.1e}; {sol.time_steps} time steps, "
             f"{sol.wall_time_s:.1f} s")
    finish(sol, kw["output"], "protocol", kw["as_json"])


def _simulation(file, kw: dict):
    """The ``Simulation`` of the cell options (a voxel structure or an imported mesh)."""
    from fem_assb.simulation import simulation

    if kw["voxel_code"] and (kw["interface"] or any(
            a.split("=")[0].strip() == "resolution.skin" for a in kw["assignments"])):
        raise click.UsageError("--voxel-code sets the interface and resolution.skin itself: "
                               "drop --interface / --set resolution.skin")
    return simulation(options.load_cell(file, kw["voxel_size"], kw["mesh_unit"]),
                      kw["electrolyte"], options.parameters(kw), kw["separator_um"],
                      kw["refine"], kw["interface"], progress=not kw["quiet"],
                      voxel_code=kw["voxel_code"])


def finish(sol, output, what: str, quiet: bool) -> None:
    """The files written, a summary.json that could not be written (exit 2), an
    unfinished run (exit 4)."""
    if output and not quiet:
        echo(f"  wrote           {output}/voltage.csv, summary.json, profiles.json")
    if sol.write_error:
        echo(f"Error: could not write {sol.write_error} (the result is printed above)",
             err=True)
        sys.exit(EXIT_INPUT)
    if not sol.complete:
        echo(f"Error: the {what} did not finish ({sol.stop_reason})", err=True)
        sys.exit(EXIT_INCOMPLETE)
