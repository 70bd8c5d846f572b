"""``fem-assb generate ...``, ``info`` and ``render``: voxel structures (no DOLFINx)."""

from __future__ import annotations

from pathlib import Path

import click

from fem_assb.cli import options
from fem_assb.cli.output import echo, emit_json, rank

structure_options = options.group(
    click.option("--size-um", nargs=3, type=float, default=(106.0, 60.0, 60.0),
                 show_default=True, help="box size x y z in µm (x: thickness)"),
    click.option("--voxel-size-um", type=float, default=1.0, show_default=True),
    click.option("--cbd-fraction", type=float, default=0.21, show_default=True,
                 help="CBD volume fraction (0 for a binder-free cathode)"),
    click.option("--mean-diameter-um", type=float, default=8.0, show_default=True),
    click.option("--diameter-std-um", type=float, default=2.0, show_default=True),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--electrolyte", type=options.ELECTROLYTE_CHOICE, default="liquid",
                 show_default=True, help="solid: CBD voxels become solid electrolyte"),
    click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
                 help="output file (.npz native; .npy, .tif, .vti, .raw also written)"))


def _write(structure, electrolyte: str, output: str) -> None:
    """Write the structure in the chemistry's phases (no DOLFINx: the ASSB's mapping is
    the structure stage's own ``to_solid_electrolyte``)."""
    from fem_assb.materials import structure_capacity_mAh_cm2
    from fem_assb.structure import save_structure, to_solid_electrolyte

    if electrolyte == "solid":
        structure = to_solid_electrolyte(structure)
    if rank() == 0:
        path = save_structure(structure, output)
        fr = ", ".join(f"{k} {v:.3f}" for k, v in structure.volume_fractions().items())
        click.echo(f"wrote {path}: {structure.shape} voxels of "
                   f"{structure.voxel_size * 1e6:g} µm; {fr}; theoretical capacity "
                   f"{structure_capacity_mAh_cm2(structure):.3f} mAh/cm²")


def _base(kw: dict) -> dict:
    return {"size_um": tuple(kw["size_um"]), "voxel_size_um": kw["voxel_size_um"],
            "cbd_fraction": kw["cbd_fraction"], "mean_diameter_um": kw["mean_diameter_um"],
            "diameter_std_um": kw["diameter_std_um"], "seed": kw["seed"]}


@click.group()
def generate():
    """Generate a voxel structure (homogeneous, perforated or layered) or a gmsh particle
    cell (particle)."""


@generate.command()
@click.option("--cam-fraction", type=float, default=0.65, show_default=True)
@structure_options
def homogeneous(cam_fraction, **kw):
    """Homogeneous cathode of random polydisperse CAM spheres, CBD and electrolyte."""
    from fem_assb.structure import homogeneous as gen

    _write(gen(cam_fraction=cam_fraction, **_base(kw)), kw["electrolyte"], kw["output"])


@generate.command()
@click.option("--radius-um", type=float, required=True, help="channel radius in µm")
@click.option("--layout", type=click.Choice(["corners", "single"]), default="corners",
              show_default=True,
              help="quarter holes at the four y/z corners, or one at (0, 0) (the study's)")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False),
              help="perforate this structure instead of generating one")
@click.option("--cam-fraction", type=float, default=0.65, show_default=True)
@structure_options
def perforated(radius_um, layout, input_file, cam_fraction, **kw):
    """Homogeneous cathode with electrolyte channels along x (quarter holes)."""
    from fem_assb.structure import homogeneous as gen
    from fem_assb.structure import load_structure, perforate

    base = (load_structure(input_file) if input_file else
            gen(cam_fraction=cam_fraction, **_base(kw)))
    _write(perforate(base, radius_um, layout=layout), kw["electrolyte"], kw["output"])


@generate.command()
@click.option("--layer-fractions", default="0.5,0.5", show_default=True,
              help="layer thickness fractions from separator to collector, e.g. 0.3,0.7")
@click.option("--cam-fractions", default="0.6,0.7", show_default=True,
              help="CAM volume fraction of each layer, from separator to collector")
@click.option("--reverse", is_flag=True, help="stack the layers in reverse order")
@structure_options
def layered(layer_fractions, cam_fractions, reverse, **kw):
    """Cathode of layers with different CAM content stacked along x."""
    from fem_assb.structure import layered as gen

    fr = options.floats(layer_fractions, "--layer-fractions")
    cam = options.floats(cam_fractions, "--cam-fractions")
    if len(fr) != len(cam):
        raise click.BadParameter("give as many --cam-fractions as --layer-fractions")
    _write(gen(fractions=fr, cam_fractions=cam, reverse=reverse, **_base(kw)),
           kw["electrolyte"], kw["output"])


@generate.command()
@click.option("--radius-um", type=float, default=5.0, show_default=True,
              help="particle radius in µm")
@click.option("--mesh-size-um", type=float, default=1.0, show_default=True,
              help="element size in µm (at the particle's surface and inside it)")
@click.option("--box-um", type=float, default=None,
              help="edge of the cubic SE box in µm [default: radius + 1 µm]")
@click.option("--separator-um", type=float, default=2.0, show_default=True,
              help="dense SE separator in front of the box, µm")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="output mesh (.msh, coordinates in µm)")
def particle(radius_um, mesh_size_um, box_um, separator_um, output):
    """One spherical CAM particle (an octant, at the collector corner of an SE box behind
    a separator) as a gmsh mesh: run it with ``run FILE.msh --mesh-unit um --electrolyte
    solid``."""
    from fem_assb.mesh.gmsh_shapes import particle_cell

    box = radius_um + 1.0 if box_um is None else box_um
    for name, value in (("--radius-um", radius_um), ("--mesh-size-um", mesh_size_um),
                        ("--separator-um", separator_um)):
        if not value > 0:
            raise click.BadParameter(f"must be > 0, got {value}", param_hint=name)
    if not box > radius_um:
        raise click.BadParameter(f"the box ({box} µm) must be larger than the radius "
                                 f"({radius_um} µm)", param_hint="--box-um")
    if not output.endswith(".msh"):
        raise click.BadParameter(f"'{output}': the particle mesh is written as .msh",
                                 param_hint="--output")
    if rank() == 0:
        path = particle_cell(output, radius_um=radius_um, box_um=box,
                             separator_um=separator_um, surface_size_um=mesh_size_um,
                             bulk_size_um=max(mesh_size_um, 1.5))
        echo(f"wrote {path}: an octant of a {radius_um:g} µm particle in a {box:g} µm SE "
             f"box behind {separator_um:g} µm of separator, elements of "
             f"{mesh_size_um:g} µm")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@options.voxel_size
@options.json_flag
@click.option("--png", type=click.Path(dir_okay=False), help="write cross-sections here")
def info(file, voxel_size, as_json, png):
    """Size, phase fractions and theoretical capacity of a structure."""
    from fem_assb.analysis.percolation import percolating_mask
    from fem_assb.materials import structure_capacity_mAh_cm2
    from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, PHASE_NAMES

    s = options.load(file, voxel_size)
    summary = s.summary()
    summary["theoretical_capacity_mAh_cm2"] = structure_capacity_mAh_cm2(s)
    summary["percolates_along_x"] = {
        PHASE_NAMES[pid]: bool(percolating_mask(s.labels == pid).any())
        for pid in (CAM, ELECTROLYTE, CBD) if (s.labels == pid).any()}
    if png and rank() == 0:
        from fem_assb.viz import plot_sections

        plot_sections(s, png, title=Path(file).name)
    if as_json:
        emit_json(summary)
        return
    lx, ly, lz = summary["size_um"]
    echo(f"{file}")
    echo(f"  voxels        {s.shape[0]} x {s.shape[1]} x {s.shape[2]} = {s.labels.size:,} "
         f"of {summary['voxel_size_um']:g} µm  ({lx:g} x {ly:g} x {lz:g} µm)")
    for name, frac in summary["volume_fractions"].items():
        perc = summary["percolates_along_x"].get(name)
        note = "" if perc is None else ("  percolates along x" if perc else "  isolated along x")
        echo(f"  {name:<12}  {100 * frac:6.2f} vol%{note}")
    echo(f"  theoretical capacity  {summary['theoretical_capacity_mAh_cm2']:.3f} mAh/cm²")
    if png:
        echo(f"  wrote {png}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@options.voxel_size
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.option("--sections", is_flag=True, help="2D cross-sections instead of a 3D render")
def render(file, voxel_size, output, sections):
    """Picture of a structure (PNG, off-screen)."""
    from fem_assb.viz import plot_sections, render_structure

    s = options.load(file, voxel_size)
    if rank() == 0:
        (plot_sections if sections else render_structure)(s, output)
    echo(f"wrote {output}")
