"""The Butler–Volmer interface, assembled vertex by vertex.

The interface terms of the cell model are facet integrals with vertex quadrature,

    ∫_Γ w i(c_s, Φ_s, Φ_e[, c_e]) v dS  ≈  Σ_f w_f |f|/3 Σ_{vertices k of f} i(u_k) v(k),

so the residual of a P1 unknown at interface vertex k is W_k i(u_k), with the nodal
weight W_k = Σ_{f ∋ k} w_f |f|/3 (m²), and the Jacobian couples only unknowns on the
same vertex. Evaluating i once per vertex in numpy (instead of once per facet and
quadrature point in each of the nine interface blocks of the UFL forms) is the same
discretisation, costs a small fraction of it, and gives the Jacobian's interface
pattern directly (one entry per vertex and pair of unknowns). The derivatives of i are
taken by complex step (exact to round-off): the material functions are written for
numpy and accept complex arrays.

Each rank handles the facets it owns; contributions to dofs owned elsewhere are sent
to their owners (reverse scatter of the residual, PETSc's stash for the Jacobian).
"""

from __future__ import annotations

import numpy as np

from fem_assb._dolfinx import MPI, PETSc, dolfinx

_H = 1e-30  # complex step, relative to each argument's scale


def facet_vertex_dofs(V, emap, ents: np.ndarray, top):
    """Dofs of a P1 space at the three vertices of each interface facet, and the parent
    vertices (n, 3) they sit on. ``ents`` rows: (cell+, facet+, cell−, facet−); the side
    whose cell belongs to V's submesh is used."""
    c2v = top.connectivity(3, 0)
    n = ents.shape[0]
    for s in (0, 1):
        cells, lfacet = ents[:, 2 * s], ents[:, 2 * s + 1]
        sub = emap.sub_topology_to_topology(cells.astype(np.int32), True)
        if np.all(sub >= 0):
            break
    else:
        raise RuntimeError("interface facet without a cell of the unknown's submesh")
    keep = np.ones((n, 4), dtype=bool)
    keep[np.arange(n), lfacet] = False  # facet i of a tetrahedron is opposite vertex i
    dofs = V.dofmap.list[sub][keep].reshape(n, 3)
    verts = c2v.array.reshape(-1, 4)[cells][keep].reshape(n, 3)
    return dofs, verts


def _vertex_coordinates(msh) -> np.ndarray:
    """Coordinates (m) of every local vertex of the parent mesh."""
    top, geo = msh.topology, msh.geometry
    c2v = top.connectivity(3, 0).array.reshape(-1, 4)
    nv = top.index_map(0).size_local + top.index_map(0).num_ghosts
    node = np.empty(nv, dtype=np.int64)
    node[c2v.ravel()] = geo.dofmaps[0].ravel()
    return geo.x[node]


class NodalInterface:
    """Interface vertices of a cell model, their weights, and the assembly of the
    Butler–Volmer terms into a residual vector and a Jacobian matrix.

    The model provides ``interface_arguments`` (indices of the unknowns the current
    depends on, in the order of ``model.interface_current_density``'s arguments),
    ``interface_rows`` ({unknown index: ±1}, the sign of W i in its residual) and
    ``interface_current_density(*values)`` (numpy).
    """

    def __init__(self, model):
        doms = model.doms
        msh = doms.mesh
        top = msh.topology
        top.create_connectivity(3, 0)
        self.model = model
        self.args = list(model.interface_arguments)
        self.rows = dict(model.interface_rows)
        spaces = [model.unknowns[k].function_space for k in self.args]
        xv = _vertex_coordinates(msh)
        dof_cols, weights = [], []
        for tag, w in model.interface_weights().items():
            ents = doms.interface_entities[tag].reshape(-1, 4)
            if ents.shape[0] == 0:
                continue
            per_arg, ref = [], None
            for V in spaces:
                dofs, verts = facet_vertex_dofs(V, doms.entity_map(V.mesh), ents, top)
                if ref is None:
                    ref = verts
                per_arg.append(dofs.ravel())
            a, b, c = xv[ref[:, 0]], xv[ref[:, 1]], xv[ref[:, 2]]
            area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
            dof_cols.append(np.stack(per_arg, axis=1))
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
        # Dirichlet rows/columns (e.g. an ideal anode) take no interface terms
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
        """The unknowns of one interface vertex sit at one point (checks the dof maps)."""
        if self.dofs.shape[0] == 0:
            return
        x0 = spaces[0].tabulate_dof_coordinates()[self.dofs[:, 0]]
        for k, V in enumerate(spaces[1:], start=1):
            xk = V.tabulate_dof_coordinates()[self.dofs[:, k]]
            if not np.allclose(x0, xk, rtol=0.0, atol=1e-6 * self.model.doms.vm.voxel_size):
                raise RuntimeError("interface dofs of different unknowns do not coincide")

    # -- evaluation -------------------------------------------------------------------
    def values(self) -> list:
        """Nodal values of the current's arguments (Φ_s absolute, V)."""
        m = self.model
        vals = [m.unknowns[k].x.array[self.dofs[:, j]] for j, k in enumerate(self.args)]
        vals[self.args.index(1)] = vals[self.args.index(1)] + float(m.v_ref.value)
        return vals

    def current(self) -> np.ndarray:
        """Interface current density i (A/m²) at the local interface vertices."""
        return np.real(self.model.interface_current_density(*self.values()))

    def current_and_derivatives(self):
        """(i, [∂i/∂u_k for each argument]) at the interface vertices (complex step)."""
        vals = self.values()
        f = self.model.interface_current_density
        i = np.real(f(*vals))
        grads = []
        for j in range(len(vals)):
            scale = max(float(np.max(np.abs(vals[j]))) if vals[j].size else 1.0, 1.0)
            h = _H * scale
            pert = list(vals)
            pert[j] = vals[j] + 1j * h
            grads.append(np.imag(f(*pert)) / h)
        return i, grads

    def total_current(self) -> float:
        """∫_Γ w i dS (A), summed over ranks (each facet counted by its owner)."""
        return self.comm.allreduce(float(np.dot(self.weight, self.current())), op=MPI.SUM)

    # -- assembly ---------------------------------------------------------------------
    def add_residual(self, b: PETSc.Vec) -> None:
        """b += the interface terms (owned rows of DOLFINx's 'mpi' block vector)."""
        r = self.weight * self.current()
        owned = _owned_offsets(self.model)
        arr = b.getArray(readonly=False)  # owned entries, block after block
        for k, sign in self.rows.items():
            acc = self._acc[k]
            col = self.dofs[:, self.args.index(k)]
            vals = np.where(self._bc_masks[k][col], 0.0, sign * r)
            acc.array[:] = np.bincount(col, weights=vals, minlength=acc.array.size)
            acc.scatter_reverse(dolfinx.la.InsertMode.add)
            n = acc.index_map.size_local
            arr[owned[k]: owned[k] + n] += acc.array[:n]

    def add_jacobian(self, jac) -> None:
        """jac += ∂(interface terms)/∂u and assemble it; ``jac`` adds entries by unknown
        block in local dof numbers (``add_local(i, j, rows, cols, values)``, ``mat``)."""
        if self.dofs.shape[0]:
            _, grads = self.current_and_derivatives()
            for k, sign in self.rows.items():
                rdof = self.dofs[:, self.args.index(k)]
                for j, a in enumerate(self.args):
                    cdof = self.dofs[:, j]
                    keep = ~(self._bc_masks[k][rdof] | self._bc_masks[a][cdof])
                    jac.add_local(k, a, rdof[keep], cdof[keep],
                                  sign * self.weight[keep] * grads[j][keep])
        jac.mat.assemble()

    def pattern_pairs(self, i: int, j: int) -> np.ndarray | None:
        """(n, 2) local (row dof, column dof) pairs the interface adds to block (i, j)."""
        if i not in self.rows or j not in self.args or self.dofs.shape[0] == 0:
            return None
        pairs = np.stack([self.dofs[:, self.args.index(i)], self.dofs[:, self.args.index(j)]],
                         axis=1)
        return np.unique(pairs, axis=0)


def _owned_offsets(model) -> dict:
    """Start of each unknown's owned dofs in the block vector's local array."""
    out, start = {}, 0
    for k, u in enumerate(model.unknowns):
        out[k] = start
        start += u.function_space.dofmap.index_map.size_local * \
            u.function_space.dofmap.index_map_bs
    return out
