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

One module per command group (``structures``, ``geometry``, ``runs``, ``studies``),
the shared option groups in ``options``, endings and exit codes in ``errors``. Every
command works under ``mpiexec -n N``; output is printed and files are written by rank 0
only. With ``--json`` stdout holds one JSON object (strict JSON: null, never NaN) and
nothing else; progress goes to stderr unless ``--quiet``.
"""

from __future__ import annotations

import click

from fem_assb.cli import geometry, runs, structures, studies
from fem_assb.cli.errors import Errors


@click.group(cls=Errors)
@click.version_option(package_name="fem_assb")
def main():
    """fem_assb: structure-resolved simulation of battery composite cathodes."""


for command in (structures.generate, structures.info, structures.render, geometry.mesh,
                geometry.conductivity, runs.discharge, runs.run_protocol, studies.study,
                studies.optimise_layers_cmd, studies.plot):
    main.add_command(command)

__all__ = ["main"]
