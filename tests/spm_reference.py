"""Independent 1D reference for a planar CAM slab (the single-particle limit in slab
geometry): finite volumes in x + scipy's BDF integrator, closed-form overpotentials."""

import numpy as np
from scipy.integrate import solve_ivp

from fem_assb.constants import FARADAY, GAS_CONSTANT
from fem_assb.materials import make_function


def slab_voltage(params, thickness, current, separator, t_end, n=400, times=None):
    """Cell voltage V(t) (V) of a CAM slab of ``thickness`` (m) discharged at ``current``
    (A/m²) behind a dense SE separator (m); Li enters through the slab's separator face."""
    p = params
    cmax, x0, T = p.cam.c_max, p.operation.initial_stoichiometry, p.operation.temperature
    D = make_function(p.cam.diffusivity_solid, "D")
    U = make_function(p.cam.ocv, "U")
    sigma_s = make_function(p.cam.conductivity, "sigma")
    h = thickness / n
    flux_in = current / FARADAY  # mol/m²/s into the slab at x = 0

    def rhs(_t, c):
        cf = 0.5 * (c[1:] + c[:-1])
        q = -D(cf / cmax) * np.diff(c) / h  # flux between cells
        q = np.concatenate([[flux_in], q, [0.0]])
        return -(q[1:] - q[:-1]) / h

    c0 = np.full(n, x0 * cmax)
    sol = solve_ivp(rhs, (0, t_end), c0, method="BDF", t_eval=times, rtol=1e-9,
                    atol=1e-6, dense_output=False)
    f = FARADAY / (GAS_CONSTANT * T)
    out = []
    for k in range(sol.t.size):
        c = sol.y[:, k]
        # surface value from the flux condition −D dc/dx = flux_in over half a cell
        cs = min(c[0] + flux_in * h / (2 * D(c[0] / cmax)), cmax * (1 - 1e-9))
        i0 = p.cam.k_solid * p.solid_electrolyte.li_concentration**0.5 * cs**0.5 * (
            cmax - cs) ** 0.5
        eta_c = 2 / f * np.arcsinh(-current / (2 * i0))
        eta_a = 2 / f * np.arcsinh(current / (2 * p.anode.exchange_current_solid))
        drop_s = current * h * np.sum(1.0 / sigma_s(c / cmax))
        ohm = current * separator / p.solid_electrolyte.conductivity + drop_s
        ohm += current / p.collector.contact_conductance
        out.append(U(cs / cmax) + eta_c - eta_a - ohm)
    return sol.t, np.array(out)
