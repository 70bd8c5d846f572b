"""Independent steady-state electrolyte profile of a planar cell (scipy), for the LIB tests.

With a constant current density I (A/m²) through a 1D electrolyte (anode at x = 0) and
no anion flux at either end, the steady anion flux vanishes everywhere:
    b D(c) dc/dx = −(1 − t+(c)) I / F,
and the salt content ∫ ε c dx keeps its initial value. The ODE is integrated with
solve_ivp from a trial c(0), which brentq adjusts to the salt content.
"""

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

FARADAY = 96485.33212


def steady_profile(layers, current, diffusivity, t_plus, c0, x_eval):
    """c(x) (mol/m³) at ``x_eval`` (m).

    layers: [(thickness m, porosity ε, transport factor b), ...] from the anode.
    diffusivity, t_plus: callables of c (mol/m³).
    """
    edges = np.concatenate([[0.0], np.cumsum([t for t, _, _ in layers])])

    def region(x):
        k = min(np.searchsorted(edges, x, side="right") - 1, len(layers) - 1)
        return layers[k]

    def rhs(x, c):
        _, _, b = region(x)
        return [-(1.0 - t_plus(c[0])) * current / (FARADAY * b * diffusivity(c[0]))]

    def solve(c_start):
        return solve_ivp(rhs, (0.0, edges[-1]), [c_start], dense_output=True, rtol=1e-11,
                         atol=1e-9, max_step=(edges[-1]) / 400)

    def salt_excess(c_start):
        sol = solve(c_start)
        total = 0.0
        for (t, eps, _), a in zip(layers, edges[:-1], strict=True):
            xs = np.linspace(a, a + t, 801)
            total += eps * np.trapezoid(sol.sol(xs)[0], xs)
        return total - c0 * sum(t * eps for t, eps, _ in layers)

    c_start = brentq(salt_excess, c0, 3 * c0, xtol=1e-10)
    return solve(c_start).sol(np.asarray(x_eval))[0]
