"""The one place that imports DOLFINx, PETSc and MPI.

With the pip wheel ``dolfinx-solver-real`` the module ``dolfinx_solver`` must be imported
before ``dolfinx`` (it loads the bundled PETSc/MPI libraries). A system, conda or Docker
DOLFINx has no such module; then the plain imports are used. Every other module of
fem_assb imports DOLFINx through here::

    from fem_assb._dolfinx import MPI, PETSc, dolfinx, fem, mesh
"""

try:  # pip route: bundled PETSc + MPICH
    import dolfinx_solver  # noqa: F401
except ImportError:  # system / conda / Docker DOLFINx
    pass

import sys  # noqa: E402

if "petsc4py.PETSc" not in sys.modules:  # PETSc's own signal handlers off: SIGTERM and
    # SIGINT are Python's (the command line ends a run with one line, not a crash banner)
    import petsc4py  # noqa: E402

    petsc4py.init(["fem_assb", "-no_signal_handler"])

import dolfinx  # noqa: E402
import dolfinx.fem.petsc  # noqa: E402,F401
from dolfinx import fem, io, mesh, plot  # noqa: E402
from mpi4py import MPI  # noqa: E402
from petsc4py import PETSc  # noqa: E402

__all__ = ["MPI", "PETSc", "dolfinx", "fem", "io", "mesh", "plot"]
