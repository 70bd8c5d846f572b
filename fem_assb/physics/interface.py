"""The Butler–Volmer interface, assembled vertex by vertex.

The interface terms of the cell model are facet integrals with vertex quadrature
(``fem_assb.physics.nodal``),

    ∫_Γ w i(c_s, Φ_s, Φ_e[, c_e]) v dS  ≈  Σ_f w_f |f|/3 Σ_{vertices k of f} i(u_k) v(k),

so the residual of a P1 unknown at interface vertex k is W_k i(u_k), and the Jacobian
couples only unknowns on the same vertex. Evaluating i once per vertex in numpy (instead
of once per facet and quadrature point in each of the nine interface blocks of UFL
forms) is the same discretisation, costs a small fraction of it, and gives the
Jacobian's interface pattern directly (one entry per vertex and pair of unknowns).
"""

from __future__ import annotations

from fem_assb.physics.nodal import NodalTerm


class NodalInterface(NodalTerm):
    """Interface vertices of a cell model, their weights, and the assembly of the
    Butler–Volmer terms into a residual vector and a Jacobian matrix.

    The model provides ``interface_arguments`` (indices of the unknowns the current
    depends on, in the order of ``model.interface_current_density``'s arguments),
    ``interface_rows`` ({unknown name: ±1}, the sign of W i in its residual),
    ``interface_current_density(*values)`` (numpy) and ``interface_weights()``.
    """

    def __init__(self, model):
        doms = model.doms
        ents = doms.interface_entities
        facets = [(ents[tag].reshape(-1, 4), w * doms.area_factor(tag, ents[tag]))
                  for tag, w in model.interface_weights().items()]
        super().__init__(model, facets, model.interface_arguments, model.interface_rows,
                         model.interface_current_density)

    def values(self) -> list:
        """Nodal values of the current's arguments (Φ_s absolute, V)."""
        vals = super().values()
        j = self.args.index(self.model.fields.index("phi_s"))
        vals[j] = vals[j] + float(self.model.v_ref.value)
        return vals

    def total_current(self) -> float:
        """∫_Γ w i dS (A), summed over ranks (each facet counted by its owner)."""
        return self.total()
