"""The coupled nonlinear problem of a cell model: forms, Jacobian matrix, PETSc SNES.

The same as ``dolfinx.fem.petsc.NonlinearProblem(kind="mpi")`` (DOLFINx's residual and
Jacobian assemblers are the SNES callbacks), except that the facet terms (interface,
collector, anode) are added vertex by vertex (``model.nodal_terms``) and the Jacobian
matrix has the pattern of the terms (``fem_assb.numerics.jacobian``).
"""

from __future__ import annotations

import ufl
from dolfinx.fem.forms import derivative_block
from dolfinx.fem.forms import extract_function_spaces as _spaces
from ufl.algorithms import expand_derivatives

from fem_assb._dolfinx import PETSc, dolfinx, fem
from fem_assb._dolfinx_private import (
    assemble_block,
    ghost_update,
    insert_diagonal,
    set_vector_blocks,
    vector_blocks,
    zero_vector,
)
from fem_assb.numerics.elimination import InterfaceElimination
from fem_assb.numerics.heap import release_free_memory
from fem_assb.numerics.jacobian import JacobianMatrix

_petsc = dolfinx.fem.petsc


def _jacobian_blocks(residuals: list, unknowns: list) -> list:
    """∂F_i/∂u_j (UFL); a row of None for a residual without UFL terms (ZeroBaseForm)."""
    rows = [i for i, F in enumerate(residuals) if not isinstance(F, ufl.ZeroBaseForm)]
    blocks = derivative_block([residuals[i] for i in rows], unknowns)
    J = [[None] * len(unknowns) for _ in residuals]
    for r, i in enumerate(rows):
        # blocks whose derivative vanishes (∂F_c/∂V with c_s on its own mesh) are dropped
        J[i] = [None if a is None or expand_derivatives(a).empty() else a
                for a in blocks[r]]
    return J


class CoupledProblem:
    """Residual blocks, Jacobian blocks, matrix, vectors and SNES of a cell model.

    Attributes mirror ``NonlinearProblem``: ``F``, ``J`` (compiled forms), ``A``, ``b``,
    ``x`` (PETSc), ``solver`` (the SNES), ``u`` (the model's unknowns).
    """

    def __init__(self, model, prefix: str, petsc_options: dict | None = None,
                 eliminate_interface: bool = True, split_groups: dict | None = None):
        em = model.entity_maps
        self.u = model.unknowns
        self.bcs = list(model.bcs)
        self.F = fem.form(model.residuals, entity_maps=em)
        self.J = fem.form(_jacobian_blocks(model.residuals, model.unknowns), entity_maps=em)
        spaces = [u.function_space for u in self.u]
        self.nodal_terms = list(model.nodal_terms)
        # one AIJ matrix, or a nest of the field split's groups (iterative solver)
        self.jacobian = JacobianMatrix(self.J, spaces, self.nodal_terms, model.doms.mesh.comm,
                                       split_groups, f"{prefix}A_")
        self.A = self.jacobian.mat
        self.b = _petsc.create_vector(_spaces(self.F), kind="mpi")
        self.x = _petsc.create_vector(_spaces(self.F), kind="mpi")
        self._blocks = vector_blocks(self.b)
        snes = self.solver = PETSc.SNES().create(self.A.comm)
        snes.setJacobian(self._jacobian, self.A, None)
        self._reuse = {prefix + k for k, v in (petsc_options or {}).items()
                       if k.endswith("pc_gamg_reuse_interpolation")
                       and str(v).lower() in ("1", "true", "yes")}
        snes.setUpdate(self._refresh_preconditioner)
        snes.setFunction(self._residual, self.b)
        # each Newton direction's interface c_s corrected by a local nonlinear solve
        self.elimination = (InterfaceElimination(snes, model)
                            if eliminate_interface and model.skin is None else None)
        snes.setOptionsPrefix(prefix)
        # the options stay in PETSc's database (under this problem's unique prefix) until
        # destroy(): sub-solvers made later (field splits, rebuilt GAMG levels) read them
        self._options = {prefix + k: v for k, v in (petsc_options or {}).items()}
        opts = PETSc.Options()
        for k, v in self._options.items():
            opts[k] = v
        snes.setFromOptions()
        if self.elimination is not None:  # after the line search has its type
            snes.setLineSearchPreCheck(self.elimination)

    def _residual(self, snes, x, b) -> None:
        if self.bcs:  # DOLFINx's path (lifting of the Dirichlet values)
            _petsc.assemble_residual(snes, x, b, self.u, self.F, self.J, self.bcs,
                                     self._blocks)
        else:  # no lifting: it would pack the coefficients of every Jacobian block
            ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
            _petsc.assign(x, self.u)
            zero_vector(b)
            set_vector_blocks(b, self._blocks)  # SNES passes work vectors too
            _petsc.assemble_vector(b, self.F)
            ghost_update(b, PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        for term in self.nodal_terms:
            term.add_residual(b)

    def _jacobian(self, snes, x, A, P) -> None:
        """Block by block, packing one block's coefficients at a time (DOLFINx packs all
        blocks' first: a memory peak of several matrices' size)."""
        ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        _petsc.assign(x, self.u)
        jac = self.jacobian
        jac.mat.zeroEntries()
        bcs = self.bcs
        for i, row in enumerate(self.J):
            for j, a in enumerate(row):
                sub = None if a is None else jac.local_block(i, j)
                if sub is None:
                    continue
                assemble_block(sub, a, bcs)
                jac.restore_local_block(i, j, sub)
        jac.mat.assemble(PETSc.Mat.AssemblyType.FLUSH)
        if bcs:
            for i in range(len(self.J)):
                sub = jac.local_block(i, i)
                insert_diagonal(sub, self.u[i].function_space, bcs, 1.0)
                jac.restore_local_block(i, i, sub)
        for term in self.nodal_terms:
            term.add_jacobian(jac)
        jac.mat.assemble()

    def set_field_splits(self) -> None:
        """Give the field split (the KSP's PC) the groups' index sets."""
        self.solver.getKSP().getPC().setFieldSplitIS(*self.jacobian.split_index_sets())

    def _refresh_preconditioner(self, snes, it: int) -> None:
        """GAMG's interpolation is rebuilt at the first Newton iteration of each solve and
        reused in the others where the options ask for reuse (PETSc alone keeps the first
        one for the whole run: 2-5x the Krylov iterations late in a discharge, when the
        interface coupling has grown). Before a rebuild the old hierarchy is freed (PCReset
        and the heap trimmed): otherwise old and new levels coexist during the set-up, the
        run's memory peak (measured: -100 MiB per rank at 1.2e5 voxels per rank, same
        Krylov iterations)."""
        if not self._reuse or it > 1:  # iteration 0 rebuilds, 1 turns reuse back on
            return
        pc = snes.getKSP().getPC()
        try:
            subs = pc.getFieldSplitSubKSP()
        except PETSc.Error:  # not set up yet: the first set-up builds everything anyway
            return
        opts = PETSc.Options()
        freed = False
        for ksp in subs:
            sub = ksp.getPC()
            if sub.getType() != "gamg":  # not set up yet, or not GAMG
                continue
            key = f"{sub.getOptionsPrefix()}pc_gamg_reuse_interpolation"
            if key in self._reuse:
                if it == 0:
                    sub.reset()
                    freed = True
                opts[key] = it > 0
                sub.setFromOptions()
        if freed:
            release_free_memory()

    def solve(self) -> None:
        """Newton from the present values of the unknowns; results back in them."""
        _petsc.assign(self.u, self.x)
        self.solver.solve(None, self.x)
        ghost_update(self.x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        _petsc.assign(self.x, self.u)

    def destroy(self) -> None:
        if self.elimination is not None:
            self.elimination.destroy()
        for obj in (self.solver, self.b, self.x):
            obj.destroy()
        self.jacobian.destroy()
        opts = PETSc.Options()
        for k in self._options:
            opts.delValue(k)
