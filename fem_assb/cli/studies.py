"""``fem-assb study``, ``optimise-layers`` and ``plot``: sweeps, optimisation, figures."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fem_assb.cli import options
from fem_assb.cli.errors import EXIT_INCOMPLETE
from fem_assb.cli.output import echo, rank


@click.command()
@click.argument("name", type=click.Choice(["perforated", "transference", "layered"]),
                required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML study config (instead of or on top of a built-in NAME)")
@click.option("--quick", is_flag=True, help="the config's coarse [quick] variant")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="override one parameter of every case (repeatable), KEY dotted as in "
                   "the parameter TOML")
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="study directory (results.csv, structures.csv, cases/); re-running "
                   "skips finished cases")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="cases at once in separate single-rank processes (without mpiexec)")
@click.option("--max-cases", type=click.IntRange(min=1), default=None,
              help="stop after this many new cases")
@click.option("--plot/--no-plot", default=True, show_default=True,
              help="write the figures when done")
def study(name, config_file, quick, assignments, output, jobs, max_cases, plot):
    """Run (or resume) a parameter study; under mpiexec every case uses all ranks."""
    from fem_assb.materials import default_parameters, parse_assignments
    from fem_assb.studies import load_config, run_study
    from fem_assb.studies.config import merge_configs, read_config
    from fem_assb.studies.runner import pending_cases

    if name is None and config_file is None:
        raise click.UsageError("give a built-in study NAME or --config FILE")
    overrides = read_config(config_file) if name and config_file else {}
    if assignments:  # on top of the config's [parameters] table
        sets = parse_assignments(assignments)
        default_parameters().updated(sets, "--set")  # unknown keys: named as --set's
        overrides = merge_configs(overrides, {"parameters": sets})
    cfg = load_config(name or config_file, quick, overrides=overrides,
                      overrides_source=config_file if name and config_file else None)
    before = len(pending_cases(cfg, Path(output)))
    table = run_study(cfg, output, jobs=jobs, max_cases=max_cases)
    echo(f"results: {table}")
    if plot and rank() == 0:
        from fem_assb.viz.study_plots import plot_study

        paths = plot_study(output)
        echo(f"figures: {len(paths)} files in {Path(output) / 'figures'}")
    ran = before if max_cases is None else min(before, max_cases)
    failed = ran - (before - len(pending_cases(cfg, Path(output))))
    if failed > 0:
        echo(f"Error: {failed} of {ran} cases did not finish (see {Path(output) / 'failed.csv'}"
              "; they run again next time)", err=True)
        sys.exit(EXIT_INCOMPLETE)


@click.command("optimise-layers")
@click.option("--current-density", type=float, required=True, help="mA/cm²")
@click.option("--layers", "n_layers", type=int, default=2, show_default=True)
@click.option("--cam-fractions", default="0.6,0.7", show_default=True,
              help="CAM content per layer, separator side first (start values with "
                   "--optimise-composition)")
@click.option("--optimise-composition", is_flag=True, help="also vary the CAM contents")
@click.option("--electrolyte", type=options.ELECTROLYTE_CHOICE, default="solid",
              show_default=True)
@click.option("--size-um", nargs=3, type=float, default=(100.0, 80.0, 80.0), show_default=True)
@click.option("--voxel-size-um", type=float, default=1.0, show_default=True)
@click.option("--separator-um", type=float, default=25.0, show_default=True)
@click.option("--max-evaluations", type=int, default=12, show_default=True,
              help="discharges to spend (finished ones in DIR are reused)")
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True)
def optimise_layers_cmd(current_density, n_layers, cam_fractions, optimise_composition,
                        electrolyte, size_um, voxel_size_um, separator_um, max_evaluations,
                        output):
    """Layer thicknesses (and CAM contents) of maximal energy density (Wh/kg)."""
    from fem_assb.physics.chemistry import chemistry
    from fem_assb.structure.generate import DEFAULT_CBD_FRACTION
    from fem_assb.studies.optimise import optimise_layers, stick_breaking

    cams = options.floats(cam_fractions, "--cam-fractions")
    # the ASSB's cathode is binder-free (its CBD would become SE anyway)
    cbd_fraction = 0.0 if chemistry(electrolyte).solid_electrolyte else DEFAULT_CBD_FRACTION
    res = optimise_layers(current_density, output, n_layers=n_layers, cam_fractions=cams,
                          optimise_composition=optimise_composition, electrolyte=electrolyte,
                          geometry={"size_um": size_um, "voxel_size_um": voxel_size_um,
                                    "cbd_fraction": cbd_fraction},
                          separator_um=separator_um, max_evaluations=max_evaluations)
    fr = stick_breaking(res.x[:n_layers - 1])
    echo(f"best: thickness fractions {', '.join(f'{f:.3f}' for f in fr)}"
          + (f", CAM {', '.join(f'{c:.3f}' for c in res.x[n_layers - 1:])}"
             if optimise_composition else "")
          + f": {res.value:.1f} Wh/kg ({res.evaluations} discharges; {output}/best.json)")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="figure directory (default DIRECTORY/figures)")
def plot(directory, output):
    """Figures (PNG + SVG) of a study directory or of one discharge directory."""
    from fem_assb.viz.curves import plot_run
    from fem_assb.viz.study_plots import plot_study

    if rank() == 0:
        single = not (Path(directory) / "study.json").is_file()
        paths = (plot_run if single else plot_study)(directory, output)
        echo(f"wrote {len(paths)} files: " + ", ".join(p.name for p in paths))
