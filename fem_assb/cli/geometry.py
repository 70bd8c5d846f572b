"""``fem-assb mesh`` and ``fem-assb conductivity``: meshes and effective conductivity."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from fem_assb.cli import options
from fem_assb.cli.errors import EXIT_NOT_PERCOLATING
from fem_assb.cli.output import echo, emit_json


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@options.voxel_size
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="XDMF file (mesh, phase cell tags, facet tags)")
@click.option("--separator-um", type=float, default=None,
              help="assemble a virtual cell with a separator of this thickness first")
@click.option("--electrolyte", type=options.ELECTROLYTE_CHOICE, default="solid",
              show_default=True, help="the chemistry of the virtual cell (with --separator-um)")
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True)
@options.interface
@options.mesh_unit
@click.option("--png", type=click.Path(dir_okay=False), default=None,
              help="also draw the CAM|electrolyte interface to this PNG (off-screen)")
@options.json_flag
def mesh(file, voxel_size, output, separator_um, electrolyte, refine, interface, mesh_unit,
         png, as_json):
    """Tetrahedral mesh of a structure (or virtual cell) written as XDMF for ParaView; of
    an imported cell mesh: its check, tags and numbers."""
    from fem_assb.mesh import build_mesh, tags
    from fem_assb.mesh.imported import is_mesh_file
    from fem_assb.physics.chemistry import chemistry
    from fem_assb.structure import CAM

    s = options.load_cell(file, voxel_size, mesh_unit)
    if is_mesh_file(file):
        vm, interface = s, "imported"
    else:
        if separator_um is not None:
            s = chemistry(electrolyte).virtual_cell(s, separator_um)
        vm = build_mesh(s, refine=refine, interface=interface)
    areas = {name: vm.facet_area(tag) for name, tag in (
        ("cam_electrolyte", tags.CAM_ELECTROLYTE), ("cam_separator", tags.CAM_SEPARATOR),
        ("cam_cbd", tags.CAM_CBD))}
    info = {"interface": interface, "num_cells": vm.num_cells_global(),
            "num_vertices": vm.mesh.topology.index_map(0).size_global,
            # every CAM|electrolyte facet: in the cathode and against the separator
            "interface_area_m2": areas["cam_electrolyte"] + areas["cam_separator"],
            **{f"{k}_area_m2": v for k, v in areas.items()},
            # the surface the facets stand for (smoothed: their folds taken out)
            "surface_area_m2": sum(vm.surface_area(t) for t in (tags.CAM_ELECTROLYTE,
                                                                tags.CAM_SEPARATOR)),
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
        emit_json(info)
        return
    echo(f"wrote {output}: {info['num_cells']:,} tetrahedra ({interface} interfaces), "
          f"CAM|electrolyte area {info['interface_area_m2'] * 1e12:.1f} µm² (standing for "
          f"{info['surface_area_m2'] * 1e12:.1f} µm²), min quality "
          f"{info['min_cell_quality']:.3f}")


@click.command()
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
@options.interface
@options.voxel_size
@click.option("--cbd-factor", type=click.FloatRange(min=0, min_open=True), default=None,
              help="CBD conductivity relative to bulk (default 0.12)")
@click.option("--refine", type=click.IntRange(min=1), default=1, show_default=True,
              help="subdivide every voxel into N³ voxels")
@click.option("--solver", type=click.Choice(["auto", "direct", "iterative"]), default="auto",
              show_default=True, help="linear solver of the finite-element method")
@options.json_flag
def conductivity(file, phases, axis, method, interface, voxel_size, cbd_factor, refine,
                 solver, as_json):
    """Normalised effective conductivity σ_eff/σ_bulk of a phase set along an axis."""
    from fem_assb.analysis.conductivity import effective_conductivity
    from fem_assb.analysis.percolation import PercolationError

    if cbd_factor is not None and not math.isfinite(cbd_factor):
        raise click.BadParameter(f"must be a finite number > 0, got {cbd_factor}",
                                 param_hint="--cbd-factor")
    names = [p for item in phases for p in item.replace(",", " ").split()]
    if method is None:
        method = "fem" if interface == "smooth" else "bracket"
    elif interface == "smooth" and method != "fem":
        raise click.UsageError(f"--interface smooth needs --method fem (the finite volumes "
                               f"of '{method}' live on the voxel grid)")
    s = options.load(file, voxel_size)
    factors = {"cbd": cbd_factor} if cbd_factor is not None and "cbd" in names else None
    results = {}
    for ax in ("x", "y", "z") if axis == "all" else (axis,):
        try:
            results[ax] = effective_conductivity(s, names, axis=ax, factors=factors,
                                                 refine=refine, solver=solver, method=method,
                                                 interface=interface)
        except PercolationError as err:
            echo(f"Error: {err}", err=True)
            sys.exit(EXIT_NOT_PERCOLATING)
    if as_json:
        emit_json({ax: r.to_dict() for ax, r in results.items()} if axis == "all"
                   else results[axis].to_dict())
        return
    for ax, r in results.items():
        echo(f"{file}: {'+'.join(r.phases)} along {ax} ({r.method}, {r.interface} "
              "interfaces)")
        echo(f"  volume fraction          {r.volume_fraction:.4f}")
        echo(f"  sigma_eff / sigma_bulk   {r.relative_conductivity:.5f}")
        if r.lower_bound is not None:
            echo(f"    bracket [fv, fem]      [{r.lower_bound:.5f}, {r.upper_bound:.5f}]"
                  f"  (width {r.upper_bound - r.lower_bound:.5f})")
        echo(f"  tortuosity factor        {r.tortuosity_factor:.3f}")
        echo(f"  percolating share        {r.percolating_fraction:.3f}  ({r.num_dofs:,} dofs)")
