"""Option groups shared by the commands (one definition each), and what they build:
the parameter set, the run options, the input file."""

from __future__ import annotations

import click

ELECTROLYTE_CHOICE = click.Choice(["solid", "liquid"])


def group(*options):
    """A decorator applying ``options`` in the order given (as listed in --help)."""
    def apply(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return apply


voxel_size = click.option("--voxel-size", type=float, default=None,
                          help="voxel edge in m (needed for .npy/.tif/.raw)")
mesh_unit = click.option(
    "--mesh-unit", type=click.Choice(["m", "mm", "um"]), default="m", show_default=True,
    help="length unit of an imported cell mesh's coordinates (FILE .msh, .vtu, .xdmf, …: "
         "tetrahedra tagged by phase, separator included, filling a box)")
interface = click.option(
    "--interface", type=click.Choice(["voxel", "smooth"]), default="voxel", show_default=True,
    help="phase boundaries of the mesh: the voxel staircase, or vertices moved onto smooth "
         "surfaces (about 2/3 of the staircase's area, as the shapes the voxels stand for)")
# runs: the continuum answer by default, or the voxel codes' discretisation
run_interface = click.option(
    "--interface", type=click.Choice(["voxel", "smooth"]), default=None,
    help="phase boundaries of the mesh: vertices moved onto smooth surfaces (about 2/3 of "
         "the staircase's area, as the shapes the voxels stand for), or the voxel "
         "staircase  [default: smooth; voxel with --voxel-code]")
voxel_code = click.option(
    "--voxel-code", is_flag=True,
    help="the voxel codes' discretisation (the study's): staircase interfaces and plain "
         "elements without the resolved CAM skin, for like-with-like comparisons; the "
         "default is the continuum answer (smoothed interfaces, resolved skin)")
json_flag = click.option("--json", "as_json", is_flag=True,
                         help="print one JSON object on stdout (progress stays on stderr)")

# what is simulated: the cell and its parameters (discharge and run)
cell_options = group(
    click.option("--electrolyte", type=ELECTROLYTE_CHOICE, required=True,
                 help="solid: ASSB (CBD becomes SE); liquid: LIB"),
    click.option("--parameters", type=click.Path(dir_okay=False), default=None,
                 help="TOML file overriding built-in parameters"),
    click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
                 help="override one parameter (repeatable; after --parameters), KEY dotted "
                      "as in the parameter TOML: solid_electrolyte.conductivity=0.0233"),
    click.option("--film-thickness-nm", type=float, default=None,
                 help="resistive CAM|SE interphase thickness in nm"),
    click.option("--film-conductivity", type=float, default=None,
                 help="interphase conductivity in S/m"),
    click.option("--transference-number", type=float, default=None,
                 help="LIB: constant t+ instead of the concentration-dependent fit"),
    click.option("--separator-um", type=float, default=None, help="separator thickness in µm"),
    click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True),
    run_interface, voxel_code, voxel_size, mesh_unit)

# how a run is carried out: ``RunOptions`` (discharge and run)
run_options = group(
    click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
                 help="directory for voltage.csv (written as it goes), summary.json, "
                      "profiles.json, parameters.json"),
    click.option("--fields-every", type=click.IntRange(min=0), default=None,
                 help="write 3D fields (VTX, for ParaView) every N steps; 0: end state only"),
    click.option("--linear-solver", type=click.Choice(["auto", "direct", "iterative"]),
                 default="auto", show_default=True,
                 help="MUMPS, or GMRES + field split with GAMG per field; auto: by size"),
    click.option("--petsc-option", "petsc_options", multiple=True, metavar="KEY=VALUE",
                 help="PETSc option for the Newton solver (repeatable), e.g. ksp_rtol=1e-8"),
    click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                 help="save the state to OUTPUT/checkpoint every N steps"),
    click.option("--checkpoint-minutes", type=click.FloatRange(min=0, min_open=True),
                 default=None, help="save the state every M minutes of wall time"),
    click.option("--resume", is_flag=True,
                 help="continue the run saved in OUTPUT/checkpoint (the same run in every "
                      "respect: a difference is refused)"),
    click.option("--render", is_flag=True,
                 help="draw the end state (lithiation, Φ_e, |i_e|) to OUTPUT/fields.png"),
    click.option("--quiet", is_flag=True, help="no progress on stderr"),
    json_flag)


def parameters(kw: dict):
    """The parameter set of the cell options: built-in, then --parameters, then --set,
    then the options that name one parameter (film, t+, --petsc-option)."""
    from fem_assb.materials import load_parameters, parse_assignments
    from fem_assb.numerics.options import parse_petsc_options

    if kw["transference_number"] is not None and kw["electrolyte"] != "liquid":
        raise click.UsageError("--transference-number applies to --electrolyte liquid only")
    overrides: dict = {}
    film = {k: v for k, v in (("thickness_nm", kw["film_thickness_nm"]),
                              ("conductivity", kw["film_conductivity"])) if v is not None}
    if film:
        overrides["film"] = film
    if kw["transference_number"] is not None:
        overrides["liquid_electrolyte"] = {"transference_number": kw["transference_number"]}
    if kw["petsc_options"]:
        overrides["solver"] = {"petsc_options": parse_petsc_options(kw["petsc_options"])}
    params = load_parameters(kw["parameters"])
    if kw["assignments"]:
        params = params.updated(parse_assignments(kw["assignments"]), "--set")
    return params.updated(overrides) if overrides else params


def run_options_of(kw: dict):
    """``RunOptions`` from the run options."""
    from fem_assb.protocol.run_options import RunOptions

    return RunOptions(output=kw["output"], progress=not kw["quiet"],
                      linear=kw["linear_solver"], fields_every=kw["fields_every"],
                      render=kw["render"], checkpoint_every=kw["checkpoint_every"],
                      checkpoint_minutes=kw["checkpoint_minutes"], resume=kw["resume"])


def load(path, voxel_size):
    from fem_assb.structure import load_structure

    return load_structure(path, voxel_size=voxel_size)


def load_cell(path, voxel_size, mesh_unit):
    """A voxel structure, or an imported tetrahedral cell mesh (.msh, .vtu, .xdmf, …)."""
    from fem_assb.mesh.imported import is_mesh_file, read_mesh

    if is_mesh_file(path):
        return read_mesh(path, unit=mesh_unit)
    return load(path, voxel_size)


def floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError as err:
        raise click.BadParameter(f"expected numbers separated by commas, got '{text}'",
                                 param_hint=name) from err
