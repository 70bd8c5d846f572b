"""Facet terms assembled vertex by vertex (vertex quadrature, evaluated in numpy).

A facet integral of a P1 test function with vertex quadrature,

    ∫_Γ w f(u) v ds  ≈  Σ_f w_f |f|/3 Σ_{vertices k of f} f(u_k) v(k),

gives the unknown at vertex k the residual W_k f(u_k), with the nodal weight
W_k = Σ_{f ∋ k} w_f |f|/3 (m²); its Jacobian couples only unknowns at the same vertex
(one entry per vertex and pair of unknowns). The derivatives of f are taken by complex
step (exact to round-off): the material functions accept complex numpy arrays.

Every facet term of a cell model is written this way (the Butler–Volmer interface, the
collector contact, the anode kinetics), so the UFL forms hold cell integrals only and
DOLFINx never makes the facets of the mesh (about 80 bytes per cell).

Each rank handles the facets it owns; contributions to dofs owned elsewhere are sent to
their owners (reverse scatter of the residual, PETSc's stash for the Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, dolfinx
from fem_assb.physics.domains import facet_areas

_H = 1e-30  # complex step, relative to each argument's scale


def _is_real_space(V) -> bool:
    """One dof per cell, the same on every cell: a global ('Real') unknown."""
    return V.dofmap.list.shape[1] == 1 and V.dofmap.index_map.size_global == 1


def facet_vertex_dofs(V, doms, ents: np.ndarray) -> np.ndarray:
    """Dofs (n, 3) of V at the three vertices of each facet. ``ents`` rows: (cell, local
    facet) or (cell+, facet+, cell−, facet−); the first side whose cell belongs to V's
    mesh is used. A global unknown (Real space on the parent mesh) gives its one dof at
    every vertex."""
    n = ents.shape[0]
    if V.mesh is doms.mesh:
        cells, lfacet = ents[:, 0], ents[:, 1]
        sub = cells
    else:
        emap = doms.entity_map(V.mesh)
        for s in range(ents.shape[1] // 2):
            cells, lfacet = ents[:, 2 * s], ents[:, 2 * s + 1]
            sub = emap.sub_topology_to_topology(cells.astype(np.int32), True)
            if np.all(sub >= 0):
                break
        else:
            raise RuntimeError("facet without a cell of the unknown's submesh")
    if _is_real_space(V):
        return np.repeat(V.dofmap.list[sub][:, :1], 3, axis=1)
    keep = np.ones((n, 4), dtype=bool)
    keep[np.arange(n), lfacet] = False  # facet i of a tetrahedron is opposite vertex i
    local = np.broadcast_to(np.arange(4), (n, 4))[keep].reshape(n, 3)
    # the facet's vertices in one order whichever side lists them (by global vertex
    # number: the two cells of an interface facet order its vertices differently)
    top = doms.mesh.topology
    verts = np.asarray(top.connectivity(3, 0).array).reshape(-1, 4)[cells]
    glob = top.index_map(0).local_to_global(
        np.take_along_axis(verts, local, axis=1).ravel().astype(np.int32)).reshape(n, 3)
    local = np.take_along_axis(local, np.argsort(glob, axis=1), axis=1)
    return np.take_along_axis(V.dofmap.list[sub], local, axis=1)


def _owned_offsets(model) -> dict:
    """Start of each unknown's owned dofs in the block vector's local array."""
    out, start = {}, 0
    for k, u in enumerate(model.unknowns):
        out[k] = start
        start += u.function_space.dofmap.index_map.size_local * \
            u.function_space.dofmap.index_map_bs
    return out


class NodalTerm:
    """A facet term W_k f(u_k) added vertex by vertex to some unknowns' residual rows.

    Args:
        model: the cell model (``doms``, ``unknowns``, ``bcs``).
        facets: [(entity rows (n, 2) or (n, 4): exterior (cell, local facet) or interior
            (cell+, facet+, cell−, facet−), weight w of those facets: a number or one
            per facet)].
        args: names of the unknowns f depends on (``model.fields``), in the order of
            f's arguments (held as block indices in ``self.args``).
        rows: {unknown name: sign}: the rows that receive sign · W_k f(u_k).
        function: f(*nodal values) (numpy, complex too), per unit area.
        sources: {unknown name: g() -> float}: a constant per unit area added to f in
            that unknown's rows (no derivative), read at each assembly.
    """

    def __init__(self, model, facets: list, args, rows: dict, function: Callable,
                 sources: dict | None = None):
        doms = model.doms
        msh = doms.mesh
        self.model = model
        index = model.fields.index
        self.args = [index(a) for a in args]
        self.rows = {index(k): sign for k, sign in rows.items()}
        self.sources = {index(k): g for k, g in (sources or {}).items()}
        self.function = function
        spaces = [model.unknowns[k].function_space for k in self.args]
        dof_cols, weights = [], []
        for ents, w in facets:
            if ents.shape[0] == 0:
                continue
            area = facet_areas(msh, ents[:, :2])
            dof_cols.append(np.stack([facet_vertex_dofs(V, doms, ents).ravel()
                                      for V in spaces], axis=1))
            weights.append(np.repeat(w * area / 3.0, 3))
        nargs = len(self.args)
        if dof_cols:
            inc = np.concatenate(dof_cols)
            wts = np.concatenate(weights)
            self.dofs, inverse = np.unique(inc, axis=0, return_inverse=True)
            self.weight = np.bincount(inverse.ravel(), weights=wts,
                                      minlength=self.dofs.shape[0])
        else:
            self.dofs = np.zeros((0, nargs), dtype=np.int32)
            self.weight = np.zeros(0)
        self._check_positions(spaces)
        # Dirichlet rows/columns (e.g. an ideal anode) take no nodal terms
        self._bc_masks = {}
        for k in set(self.args) | set(self.rows):
            V = model.unknowns[k].function_space
            n = V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts
            mask = np.zeros(n, dtype=bool)
            for bc in model.bcs:
                if bc.function_space is V:
                    mask[bc.dof_indices()[0]] = True
            self._bc_masks[k] = mask
        self._acc = {k: dolfinx.la.vector(model.unknowns[k].function_space.dofmap.index_map)
                     for k in self.rows}
        self.comm = msh.comm

    def _check_positions(self, spaces) -> None:
        """The unknowns of one vertex sit at one point (checks the dof maps)."""
        fields = [k for k, V in enumerate(spaces) if not _is_real_space(V)]
        if self.dofs.shape[0] == 0 or len(fields) < 2:
            return
        x0 = spaces[fields[0]].tabulate_dof_coordinates()[self.dofs[:, fields[0]]]
        for k in fields[1:]:
            xk = spaces[k].tabulate_dof_coordinates()[self.dofs[:, k]]
            if not np.allclose(x0, xk, rtol=0.0, atol=1e-6 * self.model.doms.vm.voxel_size):
                raise RuntimeError("facet dofs of different unknowns do not coincide")

    # -- evaluation -------------------------------------------------------------------
    def values(self) -> list:
        """Nodal values of f's arguments."""
        m = self.model
        return [m.unknowns[k].x.array[self.dofs[:, j]] for j, k in enumerate(self.args)]

    def evaluate(self) -> np.ndarray:
        """f at the local vertices (per unit area)."""
        return np.real(self.function(*self.values()))

    def evaluate_with_derivatives(self):
        """(f, [∂f/∂u_k for each argument]) at the local vertices (complex step)."""
        vals = self.values()
        f = self.function
        i = np.real(f(*vals))
        grads = []
        for j in range(len(vals)):
            scale = max(float(np.max(np.abs(vals[j]))) if vals[j].size else 1.0, 1.0)
            h = _H * scale
            pert = list(vals)
            pert[j] = vals[j] + 1j * h
            grads.append(np.imag(f(*pert)) / h)
        return i, grads

    def total(self) -> float:
        """Σ_k W_k f(u_k) = ∫ w f ds, summed over ranks (each facet counted by its owner)."""
        return self.comm.allreduce(float(np.dot(self.weight, self.evaluate())), op=MPI.SUM)

    # -- assembly ---------------------------------------------------------------------
    def row_terms(self) -> dict:
        """{row: the term at each vertex} (A): sign · W_k (f(u_k) + source)."""
        f = self.evaluate()
        return {k: sign * self.weight * (f + self.sources[k]() if k in self.sources else f)
                for k, sign in self.rows.items()}

    def row_derivatives(self) -> dict:
        """{row: [∂ term/∂ argument j at each vertex]}."""
        _, grads = self.evaluate_with_derivatives()
        return {k: [sign * self.weight * g for g in grads] for k, sign in self.rows.items()}

    def add_residual(self, b: PETSc.Vec) -> None:
        """b += the term (owned rows of DOLFINx's 'mpi' block vector)."""
        terms = self.row_terms()
        owned = _owned_offsets(self.model)
        arr = b.getArray(readonly=False)  # owned entries, block after block
        for k in self.rows:
            acc = self._acc[k]
            col = self.dofs[:, self.args.index(k)]
            vals = np.where(self._bc_masks[k][col], 0.0, terms[k])
            acc.array[:] = np.bincount(col, weights=vals, minlength=acc.array.size)
            acc.scatter_reverse(dolfinx.la.InsertMode.add)
            n = acc.index_map.size_local
            arr[owned[k]: owned[k] + n] += acc.array[:n]

    def add_jacobian(self, jac) -> None:
        """jac += ∂(term)/∂u; ``jac`` adds entries by unknown block in local dof numbers
        (``add_local(i, j, rows, cols, values)``). The caller assembles the matrix."""
        if not self.dofs.shape[0]:
            return
        derivatives = self.row_derivatives()
        for k in self.rows:
            rdof = self.dofs[:, self.args.index(k)]
            for j, a in enumerate(self.args):
                cdof = self.dofs[:, j]
                keep = ~(self._bc_masks[k][rdof] | self._bc_masks[a][cdof])
                jac.add_local(k, a, rdof[keep], cdof[keep], derivatives[k][j][keep])

    def pattern_pairs(self, i: int, j: int) -> np.ndarray | None:
        """(n, 2) local (row dof, column dof) pairs the term adds to block (i, j)."""
        if i not in self.rows or j not in self.args or self.dofs.shape[0] == 0:
            return None
        pairs = np.stack([self.dofs[:, self.args.index(i)], self.dofs[:, self.args.index(j)]],
                         axis=1)
        return np.unique(pairs, axis=0)


class VoltageHold:
    """The cell voltage held at ``target`` (V; None: not held): the global unknown V's
    row becomes ``scale`` · (V − target) = 0 (A, with ``scale`` in S), added by the rank
    that owns V. The caller takes the collector's current balance off that row."""

    def __init__(self, model, name: str, scale: float):
        self.model, self.index, self.scale = model, model.fields.index(name), float(scale)
        self.target: float | None = None
        imap = model.unknowns[self.index].function_space.dofmap.index_map
        self.owner = imap.size_local == 1

    def _offset(self) -> float:
        """V − target, V absolute (the unknown is relative to the model's v_ref)."""
        v = self.model.unknowns[self.index].x.array[0]
        return float(v) + float(self.model.v_ref.value) - self.target

    def add_residual(self, b: PETSc.Vec) -> None:
        if self.target is None or not self.owner:
            return
        arr = b.getArray(readonly=False)
        arr[_owned_offsets(self.model)[self.index]] += self.scale * self._offset()

    def add_jacobian(self, jac) -> None:
        if self.target is not None and self.owner:
            jac.add_local(self.index, self.index, [0], [0], [self.scale])

    def pattern_pairs(self, i: int, j: int) -> np.ndarray | None:
        if i == j == self.index and self.owner:
            return np.zeros((1, 2), dtype=np.int32)
        return None
