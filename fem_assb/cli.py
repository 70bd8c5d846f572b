"""The ``fem-assb`` command (a thin layer over the Python functions).

    fem-assb generate homogeneous|perforated|layered [options] -o FILE.npz
    fem-assb info FILE [--json] [--png PATH]
    fem-assb conductivity FILE [--phase electrolyte] [--axis x|all] [--method bracket] [--json]
    fem-assb mesh FILE -o MESH.xdmf
    fem-assb render FILE -o PICTURE.png
    fem-assb discharge FILE --electrolyte solid|liquid --current-density MA_PER_CM2
    fem-assb run FILE --electrolyte solid|liquid --experiment STEP [--experiment STEP ...]
    fem-assb study perforated|transference|layered [--config FILE] [--quick] -o DIR
    fem-assb plot DIR
    fem-assb optimise-layers --current-density 8 -o DIR

Every command works under ``mpiexec -n N``; output is printed and files are written by
rank 0 only. With ``--json`` stdout holds one JSON object (strict JSON: null, never NaN)
and nothing else.

Exit codes: 0 success; 2 invalid input (one line names it); 3 the phase does not
percolate (``conductivity``); 4 a discharge, protocol or study case that did not
finish (solver failure, step limit: ``stop_reason``, ``"complete": false``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click

from fem_assb.structure.voxels import StructureError

EXIT_INPUT, EXIT_NOT_PERCOLATING, EXIT_INCOMPLETE = 2, 3, 4
# rank variables of the MPI launchers (MPICH/Hydra, Open MPI, PMIx, SLURM srun)
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _rank() -> int:
    """This process's MPI rank, without importing MPI for commands that need none."""
    if "mpi4py" in sys.modules or "dolfinx" in sys.modules:
        from mpi4py import MPI

        return MPI.COMM_WORLD.rank
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _echo(msg: str = "", err: bool = False) -> None:
    if _rank() == 0:
        click.echo(msg, err=err)


def _strict(value):
    """NaN and ±inf (not JSON) become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def _emit_json(obj: dict) -> None:
    if _rank() == 0:
        sys.stdout.write(json.dumps(_strict(obj), default=float, allow_nan=False) + "\n")
        sys.stdout.flush()


_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


def _launched_by_mpi() -> bool:
    """Started by an MPI launcher with more than one rank?"""
    sizes = (os.environ.get(name, "") for name in _SIZE_VARIABLES)
    return any(v.isdigit() and int(v) > 1 for v in sizes)


_ERROR_COMM = []  # a communicator of its own for error handling (set up by _Errors)
ERROR_GRACE_S = 5.0  # how long failing ranks wait for the others before aborting all


def _fail(message: str, code: int) -> None:
    """Print ``message`` once and end with ``code``. Under MPI, when not every rank
    reaches this point within ``ERROR_GRACE_S`` (an error on some ranks only, e.g. a file
    rank 0 cannot write), the failing rank prints it and aborts all ranks: the others
    would wait forever in their next collective operation."""
    comm = _ERROR_COMM[0] if _ERROR_COMM else None
    if comm is None or comm.size == 1:
        _echo(message, err=True)
        sys.exit(code)
    import time

    if comm.rank == 0:
        click.echo(message, err=True)
    request = comm.Ibarrier()
    deadline = time.monotonic() + ERROR_GRACE_S
    while not request.Test():
        if time.monotonic() > deadline:
            if comm.rank != 0:
                click.echo(f"{message} (rank {comm.rank})", err=True)
            sys.stderr.flush()
            comm.Abort(code)
        time.sleep(0.02)
    sys.exit(code)


class _Errors(click.Group):
    """Turn errors into one clear line (rank 0) and an exit code: 2 for the package's
    input errors, 1 for anything else under MPI (where a traceback on one rank would
    leave the others waiting); serial runs keep the traceback of unexpected errors."""

    def invoke(self, ctx):
        from fem_assb.materials.parameters import ParameterError

        if _launched_by_mpi() and not _ERROR_COMM:
            from mpi4py import MPI

            _ERROR_COMM.append(MPI.COMM_WORLD.Dup())
        try:
            return super().invoke(ctx)
        except (StructureError, ParameterError, ValueError, FileNotFoundError) as err:
            if isinstance(err, click.ClickException):
                raise
            _fail(f"Error: {err}", EXIT_INPUT)
        except OSError as err:  # an unwritable directory, a full disk, ...
            where = f"{err.filename}: " if err.filename else ""
            _fail(f"Error: {where}{err.strerror or err}", EXIT_INPUT)
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:
            if not _ERROR_COMM:
                raise
            _fail(f"Error: {type(err).__name__}: {err}", 1)


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError as err:
        raise click.BadParameter(f"expected numbers separated by commas, got '{text}'",
                                 param_hint=name) from err


@click.group(cls=_Errors)
@click.version_option(package_name="fem_assb")
def main():
    """fem_assb: structure-resolved simulation of battery composite cathodes."""


# ---------------------------------------------------------------------------- generate
def _structure_options(f):
    opts = [
        click.option("--size-um", nargs=3, type=float, default=(106.0, 60.0, 60.0),
                     show_default=True, help="box size x y z in µm (x: thickness)"),
        click.option("--voxel-size-um", type=float, default=1.0, show_default=True),
        click.option("--cbd-fraction", type=float, default=0.21, show_default=True,
                     help="CBD volume fraction (0 for a binder-free cathode)"),
        click.option("--mean-diameter-um", type=float, default=8.0, show_default=True),
        click.option("--diameter-std-um", type=float, default=2.0, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--electrolyte", type=click.Choice(["liquid", "solid"]), default="liquid",
                     show_default=True, help="solid: CBD voxels become solid electrolyte"),
        click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
                     help="output file (.npz native; .npy, .tif, .vti, .raw also written)"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _finish(structure, electrolyte: str, output: str) -> None:
    from fem_assb.structure import save_structure, to_solid_electrolyte

    if electrolyte == "solid":
        structure = to_solid_electrolyte(structure)
    if _rank() == 0:
        path = save_structure(structure, output)
        fr = ", ".join(f"{k} {v:.3f}" for k, v in structure.volume_fractions().items())
        click.echo(f"wrote {path}: {structure.shape} voxels of "
                   f"{structure.voxel_size * 1e6:g} µm; {fr}; theoretical capacity "
                   f"{structure.theoretical_capacity_mAh_cm2():.3f} mAh/cm²")


def _base_kwargs(kw: dict) -> dict:
    return {"size_um": tuple(kw["size_um"]), "voxel_size_um": kw["voxel_size_um"],
            "cbd_fraction": kw["cbd_fraction"], "mean_diameter_um": kw["mean_diameter_um"],
            "diameter_std_um": kw["diameter_std_um"]}


@main.group()
def generate():
    """Generate a voxel structure (homogeneous, perforated or layered)."""


@generate.command()
@click.option("--cam-fraction", type=float, default=0.65, show_default=True)
@_structure_options
def homogeneous(cam_fraction, **kw):
    """Homogeneous cathode of random polydisperse CAM spheres, CBD and electrolyte."""
    from fem_assb.structure import homogeneous as gen

    s = gen(cam_fraction=cam_fraction, seed=kw["seed"], **_base_kwargs(kw))
    _finish(s, kw["electrolyte"], kw["output"])


@generate.command()
@click.option("--radius-um", type=float, required=True, help="channel radius in µm")
@click.option("--layout", type=click.Choice(["corners", "single"]), default="corners",
              show_default=True,
              help="quarter holes at the four y/z corners, or one at (0, 0) (the study's)")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False),
              help="perforate this structure instead of generating one")
@click.option("--cam-fraction", type=float, default=0.65, show_default=True)
@_structure_options
def perforated(radius_um, layout, input_file, cam_fraction, **kw):
    """Homogeneous cathode with electrolyte channels along x (quarter holes)."""
    from fem_assb.structure import homogeneous as gen
    from fem_assb.structure import load_structure, perforate

    base = (load_structure(input_file) if input_file else
            gen(cam_fraction=cam_fraction, seed=kw["seed"], **_base_kwargs(kw)))
    _finish(perforate(base, radius_um, layout=layout), kw["electrolyte"], kw["output"])


@generate.command()
@click.option("--layer-fractions", default="0.5,0.5", show_default=True,
              help="layer thickness fractions from separator to collector, e.g. 0.3,0.7")
@click.option("--cam-fractions", default="0.6,0.7", show_default=True,
              help="CAM volume fraction of each layer, from separator to collector")
@click.option("--reverse", is_flag=True, help="stack the layers in reverse order")
@_structure_options
def layered(layer_fractions, cam_fractions, reverse, **kw):
    """Cathode of layers with different CAM content stacked along x."""
    from fem_assb.structure import layered as gen

    fr = _floats(layer_fractions, "--layer-fractions")
    cam = _floats(cam_fractions, "--cam-fractions")
    if len(fr) != len(cam):
        raise click.BadParameter("give as many --cam-fractions as --layer-fractions")
    s = gen(fractions=fr, cam_fractions=cam, reverse=reverse, seed=kw["seed"],
            **_base_kwargs(kw))
    _finish(s, kw["electrolyte"], kw["output"])


# --------------------------------------------------------------------- info / render
def _load(path, voxel_size):
    from fem_assb.structure import load_structure

    return load_structure(path, voxel_size=voxel_size)


def _load_cell(path, voxel_size, mesh_unit):
    """A voxel structure, or an imported tetrahedral cell mesh (.msh, .vtu, .xdmf, …)."""
    from fem_assb.mesh.imported import is_mesh_file, read_mesh

    if is_mesh_file(path):
        return read_mesh(path, unit=mesh_unit)
    return _load(path, voxel_size)


_voxel_size_option = click.option("--voxel-size", type=float, default=None,
                                  help="voxel edge in m (needed for .npy/.tif/.raw)")
_mesh_unit_option = click.option(
    "--mesh-unit", type=click.Choice(["m", "mm", "um"]), default="m", show_default=True,
    help="length unit of an imported cell mesh's coordinates (FILE .msh, .vtu, .xdmf, …: "
         "tetrahedra tagged by phase, separator included, filling a box)")
_set_option = click.option(
    "--set", "assignments", multiple=True, metavar="KEY=VALUE",
    help="override one parameter (repeatable; after --parameters), KEY dotted as in the "
         "parameter TOML: solid_electrolyte.conductivity=0.0233, cam.ocv=nmc811_table")
_interface_option = click.option(
    "--interface", type=click.Choice(["voxel", "smooth"]), default="voxel", show_default=True,
    help="phase boundaries of the mesh: the voxel staircase, or vertices moved onto smooth "
         "surfaces (about 2/3 of the staircase's area, as the shapes the voxels stand for)")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_voxel_size_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--png", type=click.Path(dir_okay=False), help="write cross-sections here")
def info(file, voxel_size, as_json, png):
    """Size, phase fractions and theoretical capacity of a structure."""
    from fem_assb.analysis.percolation import percolating_mask

    s = _load(file, voxel_size)
    summary = s.summary()
    summary["percolates_along_x"] = {
        name: bool(percolating_mask(s.labels == pid).any())
        for name, pid in (("cam", 1), ("electrolyte", 2), ("cbd", 3)) if (s.labels == pid).any()}
    if png and _rank() == 0:
        from fem_assb.viz import plot_sections

        plot_sections(s, png, title=Path(file).name)
    if as_json:
        _emit_json(summary)
        return
    lx, ly, lz = summary["size_um"]
    _echo(f"{file}")
    _echo(f"  voxels        {s.shape[0]} x {s.shape[1]} x {s.shape[2]} = {s.labels.size:,} "
          f"of {summary['voxel_size_um']:g} µm  ({lx:g} x {ly:g} x {lz:g} µm)")
    for name, frac in summary["volume_fractions"].items():
        perc = summary["percolates_along_x"].get(name)
        note = "" if perc is None else ("  percolates along x" if perc else "  isolated along x")
        _echo(f"  {name:<12}  {100 * frac:6.2f} vol%{note}")
    _echo(f"  theoretical capacity  {summary['theoretical_capacity_mAh_cm2']:.3f} mAh/cm²")
    if png:
        _echo(f"  wrote {png}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_voxel_size_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.option("--sections", is_flag=True, help="2D cross-sections instead of a 3D render")
def render(file, voxel_size, output, sections):
    """Picture of a structure (PNG, off-screen)."""
    from fem_assb.viz import plot_sections, render_structure

    s = _load(file, voxel_size)
    if _rank() == 0:
        (plot_sections if sections else render_structure)(s, output)
    _echo(f"wrote {output}")


# --------------------------------------------------------------- mesh / conductivity
@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_voxel_size_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="XDMF file (mesh, phase cell tags, facet tags)")
@click.option("--separator-um", type=float, default=None,
              help="assemble a virtual cell with a separator of this thickness first")
@click.option("--electrolyte", type=click.Choice(["liquid", "solid"]), default="solid",
              show_default=True)
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True)
@_interface_option
@_mesh_unit_option
@click.option("--png", type=click.Path(dir_okay=False), default=None,
              help="also draw the CAM|electrolyte interface to this PNG (off-screen)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def mesh(file, voxel_size, output, separator_um, electrolyte, refine, interface, mesh_unit,
         png, as_json):
    """Tetrahedral mesh of a structure (or virtual cell) written as XDMF for ParaView; of
    an imported cell mesh: its check, tags and numbers."""
    from fem_assb.mesh import build_mesh, tags
    from fem_assb.mesh.imported import is_mesh_file
    from fem_assb.structure import CAM, assemble_cell

    s = _load_cell(file, voxel_size, mesh_unit)
    if is_mesh_file(file):
        vm, interface = s, "imported"
    else:
        if separator_um is not None:
            s = assemble_cell(s, separator_um, electrolyte)
        vm = build_mesh(s, refine=refine, interface=interface)
    areas = {name: vm.facet_area(tag) for name, tag in (
        ("cam_electrolyte", tags.CAM_ELECTROLYTE), ("cam_separator", tags.CAM_SEPARATOR),
        ("cam_cbd", tags.CAM_CBD))}
    info = {"interface": interface, "num_cells": vm.num_cells_global(),
            "num_vertices": vm.mesh.topology.index_map(0).size_global,
            # every CAM|electrolyte facet: in the cathode and against the separator
            "interface_area_m2": areas["cam_electrolyte"] + areas["cam_separator"],
            **{f"{k}_area_m2": v for k, v in areas.items()},
            "cam_volume_m3": vm.phase_volume(CAM),
            "min_cell_quality": vm.min_cell_quality(), "output": str(output)}
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    vm.write_xdmf(output)
    if png:
        from fem_assb.viz.interfaces import render_interfaces

        render_interfaces({f"{Path(file).name}, {interface}": vm}, png,
                          window_size=(800, 700))
        info["png"] = str(png)
    if as_json:
        _emit_json(info)
        return
    _echo(f"wrote {output}: {info['num_cells']:,} tetrahedra ({interface} interfaces), "
          f"CAM|electrolyte area {info['interface_area_m2'] * 1e12:.1f} µm², min quality "
          f"{info['min_cell_quality']:.3f}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--phase", "phases", multiple=True, default=("electrolyte",), show_default=True,
              help="conducting phase(s); repeat or separate by commas (e.g. electrolyte,cbd)")
@click.option("--axis", type=click.Choice(["x", "y", "z", "all"]), default="x",
              show_default=True, help="direction; 'all': x, y and z (the tortuosity "
              "tensor's diagonal)")
@click.option("--method", type=click.Choice(["bracket", "fv", "fem", "extrapolated"]),
              default=None,
              help="fv: voxel finite volumes (TauFactor's convention, a lower value); fem: "
              "P1 finite elements (an upper bound); bracket: both, their midpoint as the "
              "geometry's value; extrapolated: both at --refine and twice it, extrapolated "
              "[default: bracket; fem with --interface smooth]")
@_interface_option
@_voxel_size_option
@click.option("--cbd-factor", type=float, default=None,
              help="CBD conductivity relative to bulk (default 0.12)")
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True,
              help="subdivide every voxel into N³ voxels")
@click.option("--solver", type=click.Choice(["auto", "direct", "iterative"]), default="auto",
              show_default=True, help="linear solver of the finite-element method")
@click.option("--json", "as_json", is_flag=True,
              help="print one JSON object (with --axis all: one object per axis, by name)")
def conductivity(file, phases, axis, method, interface, voxel_size, cbd_factor, refine,
                 solver, as_json):
    """Normalised effective conductivity σ_eff/σ_bulk of a phase set along an axis."""
    from fem_assb.analysis.conductivity import effective_conductivity
    from fem_assb.analysis.percolation import PercolationError

    names = [p for item in phases for p in item.replace(",", " ").split()]
    if method is None:
        method = "fem" if interface == "smooth" else "bracket"
    elif interface == "smooth" and method != "fem":
        raise click.UsageError(f"--interface smooth needs --method fem (the finite volumes "
                               f"of '{method}' live on the voxel grid)")
    s = _load(file, voxel_size)
    factors = {"cbd": cbd_factor} if cbd_factor is not None and "cbd" in names else None
    results = {}
    for ax in ("x", "y", "z") if axis == "all" else (axis,):
        try:
            results[ax] = effective_conductivity(s, names, axis=ax, factors=factors,
                                                 refine=refine, solver=solver, method=method,
                                                 interface=interface)
        except PercolationError as err:
            _echo(f"Error: {err}", err=True)
            sys.exit(EXIT_NOT_PERCOLATING)
    if as_json:
        _emit_json({ax: r.to_dict() for ax, r in results.items()} if axis == "all"
                   else results[axis].to_dict())
        return
    for ax, r in results.items():
        _echo(f"{file}: {'+'.join(r.phases)} along {ax} ({r.method}, {r.interface} "
              "interfaces)")
        _echo(f"  volume fraction          {r.volume_fraction:.4f}")
        _echo(f"  sigma_eff / sigma_bulk   {r.relative_conductivity:.5f}")
        if r.lower_bound is not None:
            _echo(f"    bracket [fv, fem]      [{r.lower_bound:.5f}, {r.upper_bound:.5f}]"
                  f"  (width {r.upper_bound - r.lower_bound:.5f})")
        _echo(f"  tortuosity factor        {r.tortuosity_factor:.3f}")
        _echo(f"  percolating share        {r.percolating_fraction:.3f}  ({r.num_dofs:,} dofs)")


# ------------------------------------------------------------------------- discharge
@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--electrolyte", type=click.Choice(["solid", "liquid"]), required=True)
@click.option("--current-density", type=float, required=True,
              help="applied current density in mA/cm² (> 0 discharges)")
@click.option("--cutoff", type=float, default=None,
              help="lower cut-off voltage in V (default: the parameter set's, 3.0 V)")
@click.option("--parameters", type=click.Path(dir_okay=False), default=None,
              help="TOML file overriding built-in parameters")
@_set_option
@click.option("--film-thickness-nm", type=float, default=None,
              help="resistive CAM|SE interphase thickness in nm")
@click.option("--film-conductivity", type=float, default=None,
              help="interphase conductivity in S/m")
@click.option("--transference-number", type=float, default=None,
              help="LIB: constant t+ instead of the concentration-dependent fit")
@click.option("--separator-um", type=float, default=None, help="separator thickness in µm")
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True)
@_interface_option
@_voxel_size_option
@_mesh_unit_option
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="directory for voltage.csv, summary.json, profiles.json")
@click.option("--fields-every", type=int, default=None,
              help="write 3D fields (VTX, for ParaView) every N steps; 0: end state only")
@click.option("--linear-solver", type=click.Choice(["auto", "direct", "iterative"]),
              default="auto", show_default=True,
              help="MUMPS, or GMRES + field split with GAMG per field; auto: by size")
@click.option("--petsc-option", "petsc_options", multiple=True, metavar="KEY=VALUE",
              help="PETSc option for the Newton solver (repeatable), e.g. "
                   "ksp_rtol=1e-8 or fieldsplit_phi_e_pc_gamg_threshold=0.05")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="save the state to OUTPUT/checkpoint every N steps")
@click.option("--checkpoint-minutes", type=click.FloatRange(min=0, min_open=True),
              default=None, help="save the state every M minutes of wall time")
@click.option("--resume", is_flag=True,
              help="continue the run saved in OUTPUT/checkpoint (same ranks, same input)")
@click.option("--render", is_flag=True,
              help="draw the end state (lithiation, Φ_e, |i_e|) to OUTPUT/fields.png (serial)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def discharge(file, electrolyte, current_density, cutoff, parameters, assignments,
              film_thickness_nm,
              film_conductivity, transference_number, separator_um, refine, interface,
              voxel_size, mesh_unit,
              output, fields_every, linear_solver, petsc_options, checkpoint_every,
              checkpoint_minutes, resume, render, as_json):
    """Galvanostatic discharge of a cathode structure in a virtual cell (or of an imported
    cell mesh)."""
    from fem_assb.simulation import discharge as run

    if transference_number is not None and electrolyte != "liquid":
        raise click.UsageError("--transference-number applies to --electrolyte liquid only")
    film = {}
    if film_thickness_nm is not None:
        film["thickness_nm"] = film_thickness_nm
    if film_conductivity is not None:
        film["conductivity"] = film_conductivity
    overrides = {"film": film} if film else {}
    if transference_number is not None:
        overrides["liquid_electrolyte"] = {"transference_number": transference_number}
    if petsc_options:
        from fem_assb.numerics.options import parse_petsc_options

        overrides["solver"] = {"petsc_options": parse_petsc_options(petsc_options)}
    params = _parameters(parameters, assignments, overrides)
    s = _load_cell(file, voxel_size, mesh_unit)
    res = run(s, current_density, electrolyte=electrolyte, params=params, cutoff_V=cutoff,
              separator_um=separator_um, refine=refine, output=output,
              progress=not as_json, fields_every=fields_every, linear=linear_solver,
              render=render, checkpoint_every=checkpoint_every,
              checkpoint_minutes=checkpoint_minutes, resume=resume, interface=interface)
    summary = res.summary()
    if as_json:
        _emit_json(summary)
        _check_written(res)
        if not res.complete:
            sys.exit(EXIT_INCOMPLETE)
        return
    _echo(f"{file}: {electrolyte} electrolyte, {current_density:g} mA/cm², "
          f"stopped by {res.stop_reason}")
    _echo(f"  capacity        {res.capacity_mAh_cm2:.4f} mAh/cm² of "
          f"{res.theoretical_capacity_mAh_cm2:.4f} theoretical")
    _echo(f"  energy          {res.energy_mWh_cm2:.4f} mWh/cm²  "
          f"({res.energy_density_Wh_kg:.1f} Wh/kg)")
    _echo(f"  mean voltage    {res.mean_voltage_V:.4f} V (end {res.end_voltage_V:.4f} V)")
    if res.min_electrolyte_concentration_mol_m3 is not None:
        _echo(f"  min c_e         {res.min_electrolyte_concentration_mol_m3:.1f} mol/m³ "
              f"(salt balance {res.salt_balance_error:.1e})")
    _echo(f"  steps           {res.steps} ({res.newton_iterations} Newton iterations, "
          f"{res.wall_time_s:.1f} s)")
    _finish_run(res, output, "discharge")


# ------------------------------------------------------------------------------- run
@main.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--electrolyte", type=click.Choice(["solid", "liquid"]), required=True)
@click.option("--experiment", "steps", multiple=True, metavar="STEP",
              help="a protocol step, repeatable, in order: 'Discharge at 8 mA/cm2 until "
                   "3.0 V', 'Rest for 30 minutes', 'Charge at C/3 until 4.3 V', 'Hold at "
                   "4.3 V until C/50', '5 x (Discharge at C/20 for 30 minutes; Rest for 2 "
                   "hours)'")
@click.option("--experiment-file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with experiment = [steps as strings or tables]")
@click.option("--parameters", type=click.Path(dir_okay=False), default=None,
              help="TOML file overriding built-in parameters")
@_set_option
@click.option("--separator-um", type=float, default=None, help="separator thickness in µm")
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True)
@_interface_option
@_voxel_size_option
@_mesh_unit_option
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="directory for voltage.csv (with step and current_mA_cm2 columns), "
                   "summary.json, profiles.json")
@click.option("--fields-every", type=int, default=None,
              help="write 3D fields (VTX, for ParaView) every N steps; 0: end state only")
@click.option("--linear-solver", type=click.Choice(["auto", "direct", "iterative"]),
              default="auto", show_default=True)
@click.option("--petsc-option", "petsc_options", multiple=True, metavar="KEY=VALUE",
              help="PETSc option for the Newton solver (repeatable)")
@click.option("--checkpoint-minutes", type=click.FloatRange(min=0, min_open=True),
              default=None, help="save the state every M minutes of wall time")
@click.option("--resume", is_flag=True,
              help="continue the run saved in OUTPUT/checkpoint (same ranks, same input)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def run_protocol(file, electrolyte, steps, experiment_file, parameters, assignments,
                 separator_um, refine,
                 interface, voxel_size, mesh_unit, output, fields_every, linear_solver,
                 petsc_options, checkpoint_minutes, resume, as_json):
    """Run a protocol (discharge, charge, rest, CV holds, pulses) on a cathode structure."""
    from fem_assb.protocol.experiment import load_experiment
    from fem_assb.simulation import run

    if bool(steps) == bool(experiment_file):
        raise click.UsageError("give the protocol as --experiment STEP (repeatable) or "
                               "--experiment-file FILE")
    experiment = load_experiment(experiment_file) if experiment_file else \
        _experiment(steps)
    overrides = {}
    if petsc_options:
        from fem_assb.numerics.options import parse_petsc_options

        overrides = {"solver": {"petsc_options": parse_petsc_options(petsc_options)}}
    params = _parameters(parameters, assignments, overrides)
    sol = run(_load_cell(file, voxel_size, mesh_unit), experiment, electrolyte=electrolyte,
              params=params, separator_um=separator_um, refine=refine, output=output,
              progress=not as_json, fields_every=fields_every, linear=linear_solver,
              checkpoint_minutes=checkpoint_minutes, resume=resume, interface=interface)
    res = sol.result
    if as_json:
        _emit_json(res.summary())
    else:
        _echo(f"{file}: {electrolyte} electrolyte, {len(res.steps_summary)} of "
              f"{len(experiment)} steps run ({res.stop_reason})")
        for k, st in enumerate(res.steps_summary, start=1):
            _echo(f"  {k:3d}. {st['text']:<44s} {st['capacity_mAh_cm2']:8.4f} mAh/cm²  "
                  f"{st['start_voltage_V']:.3f} -> {st['end_voltage_V']:.3f} V  "
                  f"{st['duration_s']:9.1f} s  {st['stop_reason']}")
        _echo(f"  discharged {res.capacity_mAh_cm2:.4f} mAh/cm² ({res.energy_mWh_cm2:.4f} "
              f"mWh/cm²), charged {res.charge_capacity_mAh_cm2:.4f} mAh/cm²; lithium "
              f"balance {res.lithium_balance_error:.1e}; {res.steps} time steps, "
              f"{res.wall_time_s:.1f} s")
    _finish_run(res, None if as_json else output, "protocol")


def _parameters(path, assignments, overrides: dict):
    """Built-in parameters, then the --parameters file, then --set, then the options that
    name one parameter (--transference-number, --petsc-option, ...)."""
    from fem_assb.materials import load_parameters, parse_assignments

    params = load_parameters(path)
    if assignments:
        params = params.updated(parse_assignments(assignments), "--set")
    return params.updated(overrides) if overrides else params


def _finish_run(res, output, what: str) -> None:
    """The files written, a summary.json that could not be written, an unfinished run."""
    if output:
        _echo(f"  wrote           {output}/voltage.csv, summary.json, profiles.json")
    _check_written(res)
    if not res.complete:
        _echo(f"Error: the {what} did not finish ({res.stop_reason})", err=True)
        sys.exit(EXIT_INCOMPLETE)


def _experiment(steps):
    from fem_assb.protocol.experiment import Experiment

    return Experiment(list(steps), source="--experiment")


def _check_written(res) -> None:
    """The result is printed; a summary.json that could not be written is an error."""
    if res.write_error:
        _echo(f"Error: could not write {res.write_error} (the result is printed above)",
              err=True)
        sys.exit(EXIT_INPUT)


# ---------------------------------------------------------------------- study / plot
@main.command()
@click.argument("name", type=click.Choice(["perforated", "transference", "layered"]),
                required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML study config (instead of or on top of a built-in NAME)")
@click.option("--quick", is_flag=True, help="the config's coarse [quick] variant")
@_set_option
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
    cfg = load_config(name or config_file, quick, overrides=overrides)
    before = len(pending_cases(cfg, Path(output)))
    table = run_study(cfg, output, jobs=jobs, max_cases=max_cases)
    _echo(f"results: {table}")
    if plot and _rank() == 0:
        from fem_assb.viz.study_plots import plot_study

        paths = plot_study(output)
        _echo(f"figures: {len(paths)} files in {Path(output) / 'figures'}")
    ran = before if max_cases is None else min(before, max_cases)
    failed = ran - (before - len(pending_cases(cfg, Path(output))))
    if failed > 0:
        _echo(f"Error: {failed} of {ran} cases did not finish (see {Path(output) / 'failed.csv'}"
              "; they run again next time)", err=True)
        sys.exit(EXIT_INCOMPLETE)


@main.command("optimise-layers")
@click.option("--current-density", type=float, required=True, help="mA/cm²")
@click.option("--layers", "n_layers", type=int, default=2, show_default=True)
@click.option("--cam-fractions", default="0.6,0.7", show_default=True,
              help="CAM content per layer, separator side first (start values with "
                   "--optimise-composition)")
@click.option("--optimise-composition", is_flag=True, help="also vary the CAM contents")
@click.option("--electrolyte", type=click.Choice(["solid", "liquid"]), default="solid",
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
    from fem_assb.studies.optimise import optimise_layers, stick_breaking

    cams = _floats(cam_fractions, "--cam-fractions")
    res = optimise_layers(current_density, output, n_layers=n_layers, cam_fractions=cams,
                          optimise_composition=optimise_composition, electrolyte=electrolyte,
                          geometry={"size_um": size_um, "voxel_size_um": voxel_size_um,
                                    "cbd_fraction": 0.0 if electrolyte == "solid" else 0.21},
                          separator_um=separator_um, max_evaluations=max_evaluations)
    fr = stick_breaking(res.x[:n_layers - 1])
    _echo(f"best: thickness fractions {', '.join(f'{f:.3f}' for f in fr)}"
          + (f", CAM {', '.join(f'{c:.3f}' for c in res.x[n_layers - 1:])}"
             if optimise_composition else "")
          + f": {res.value:.1f} Wh/kg ({res.evaluations} discharges; {output}/best.json)")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="figure directory (default DIRECTORY/figures)")
def plot(directory, output):
    """Figures (PNG + SVG) of a study directory or of one discharge directory."""
    from fem_assb.viz.curves import plot_run
    from fem_assb.viz.study_plots import plot_study

    if _rank() == 0:
        single = not (Path(directory) / "study.json").is_file()
        paths = (plot_run if single else plot_study)(directory, output)
        _echo(f"wrote {len(paths)} files: " + ", ".join(p.name for p in paths))


if __name__ == "__main__":
    main()
