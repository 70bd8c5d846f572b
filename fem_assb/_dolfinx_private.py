"""The one adapter to DOLFINx's private API (checked against 0.11).

fem_assb needs a few things DOLFINx 0.11 does not offer publicly: an entity map built
from given cell indices, a sparsity pattern of no form, the C++ adjacency list of a
custom partitioner, assembling one Jacobian block into a matrix we own, and the block
layout of a nested-free 'mpi' vector. They live here, behind functions; a DOLFINx of
another minor version is refused at import with one line (``check_version``) rather
than failing deep inside a solve.
"""

from __future__ import annotations

from fem_assb._dolfinx import dolfinx
from fem_assb.errors import ConfigError

SUPPORTED = (0, 11)  # DOLFINx major.minor this adapter was written against


def check_version(version: str = dolfinx.__version__) -> None:
    """``ConfigError`` unless DOLFINx is 0.11.x."""
    major_minor = tuple(int(v) for v in version.split(".")[:2])
    if major_minor != SUPPORTED:
        raise ConfigError(f"fem_assb needs DOLFINx {SUPPORTED[0]}.{SUPPORTED[1]}.x (its "
                          f"private API is used in fem_assb._dolfinx_private); found "
                          f"DOLFINx {version}")


check_version()

_cpp = dolfinx.cpp
_petsc = dolfinx.fem.petsc


def cpp_adjacency(data, offsets):
    """The C++ adjacency list a custom cell partitioner returns."""
    adj = dolfinx.graph.adjacencylist(data, offsets)
    return getattr(adj, "_cpp_object", adj)


def entity_map(parent, submesh, sub_to_parent) -> dolfinx.mesh.EntityMap:
    """The cell map of ``submesh`` into ``parent`` from the parent's local cell indices."""
    cpp = _cpp.mesh.EntityMap(parent.topology._cpp_object, submesh.topology._cpp_object,
                              3, sub_to_parent)
    return dolfinx.mesh.EntityMap(cpp)


def sparsity_pattern(comm, space_i, space_j):
    """An empty sparsity pattern of the block (space_i rows, space_j columns)."""
    return _cpp.la.SparsityPattern(
        comm, [space_i.dofmap.index_map, space_j.dofmap.index_map],
        [space_i.dofmap.index_map_bs, space_j.dofmap.index_map_bs])


def assemble_block(mat, form, bcs) -> None:
    """Add the compiled bilinear ``form`` into the PETSc matrix ``mat`` (Dirichlet rows
    and columns of ``bcs`` zeroed), packing only this form's coefficients."""
    from dolfinx.fem import pack_coefficients, pack_constants

    _cpp.fem.petsc.assemble_matrix(mat, form._cpp_object, pack_constants(form),
                                   pack_coefficients(form), [bc._cpp_object for bc in bcs],
                                   True)


def insert_diagonal(mat, space, bcs, value: float = 1.0) -> None:
    """``value`` on the diagonal of the Dirichlet rows of ``bcs`` in ``space``."""
    _cpp.fem.petsc.insert_diagonal(mat, space._cpp_object, [bc._cpp_object for bc in bcs],
                                   value)


def vector_blocks(vec):
    """The block layout DOLFINx attaches to an 'mpi' block vector."""
    return vec.getAttr("_blocks")


def set_vector_blocks(vec, blocks) -> None:
    """Attach the block layout to a vector SNES made (its work vectors have none)."""
    vec.setAttr("_blocks", blocks)


def ghost_update(vec, insert_mode, scatter_mode) -> None:
    dolfinx.la.petsc._ghost_update(vec, insert_mode, scatter_mode)


def zero_vector(vec) -> None:
    dolfinx.la.petsc._zero_vector(vec)
