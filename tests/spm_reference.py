"""Independent 1D references: a planar CAM slab (the single-particle limit in slab
geometry: finite volumes in x + scipy's BDF integrator, closed-form overpotentials),
and diffusion in a sphere (finite volumes in r) for the relaxation of a particle."""

import numpy as np
from scipy.integrate import solve_ivp

from fem_assb.constants import FARADAY, GAS_CONSTANT
from fem_assb.materials import make_function


def _materials(p):
    """c_max, x0 and the functions D_s(x), U(x), σ_s(x) of a parameter set."""
    return (p.cam.c_max, p.operation.initial_stoichiometry,
            make_function(p.cam.diffusivity_solid, "D"), make_function(p.cam.ocv, "U"),
            make_function(p.cam.conductivity, "sigma"))


def slab_voltage(params, thickness, current, separator, t_end, n=400, times=None):
    """Cell voltage V(t) (V) of a CAM slab of ``thickness`` (m) discharged at ``current``
    (A/m²) behind a dense SE separator (m); Li enters through the slab's separator face."""
    p = params
    cmax, x0, D, U, sigma_s = _materials(p)
    h = thickness / n
    flux_in = current / FARADAY  # mol/m²/s into the slab at x = 0
    c0 = np.full(n, x0 * cmax)
    sol = solve_ivp(_rhs(D, cmax, h, flux_in), (0, t_end), c0, method="BDF", t_eval=times,
                    rtol=1e-9, atol=1e-6, dense_output=False)
    out = [_voltage(p, sol.y[:, k], current, flux_in, h, separator, D, U, sigma_s)
           for k in range(sol.t.size)]
    return sol.t, np.array(out)


def _rhs(D, cmax, h, flux_in):
    """dc/dt of the finite-volume cells, Li entering at x = 0 (mol/m²/s)."""
    def rhs(_t, c):
        cf = 0.5 * (c[1:] + c[:-1])
        q = -D(cf / cmax) * np.diff(c) / h  # flux between cells
        q = np.concatenate([[flux_in], q, [0.0]])
        return -(q[1:] - q[:-1]) / h

    return rhs


def _voltage(p, c, current, flux_in, h, separator, D, U, sigma_s):
    """Cell voltage (V) of the slab's concentration profile ``c`` at ``current``."""
    cmax, T = p.cam.c_max, p.operation.temperature
    f = FARADAY / (GAS_CONSTANT * T)
    # surface value from the flux condition −D dc/dx = flux_in over half a cell
    cs = min(max(c[0] + flux_in * h / (2 * D(c[0] / cmax)), 1e-9 * cmax), cmax * (1 - 1e-9))
    i0 = p.cam.k_solid * p.solid_electrolyte.li_concentration**0.5 * cs**0.5 * (
        cmax - cs) ** 0.5
    eta_c = 2 / f * np.arcsinh(-current / (2 * i0))
    eta_a = 2 / f * np.arcsinh(current / (2 * p.anode.exchange_current_solid))
    drop_s = current * h * np.sum(1.0 / sigma_s(c / cmax))
    ohm = current * separator / p.solid_electrolyte.conductivity + drop_s
    ohm += current / p.collector.contact_conductance
    return U(cs / cmax) + eta_c - eta_a - ohm


def slab_protocol_voltage(params, thickness, separator, segments, times, n=800):
    """Cell voltage (V) of the CAM slab of ``slab_voltage`` under a piecewise-constant
    current: ``segments`` = [(duration s, current A/m², > 0 discharge)], run one after
    the other from rest; V at ``times`` (s from the start, sorted)."""
    p = params
    cmax, x0, D, U, sigma_s = _materials(p)
    h = thickness / n
    times = np.asarray(times, dtype=float)
    c = np.full(n, x0 * cmax)
    t0, out = 0.0, np.full(times.size, np.nan)
    for duration, current in segments:
        flux_in = current / FARADAY
        rhs = _rhs(D, cmax, h, flux_in)
        t1 = t0 + duration
        sel = np.flatnonzero((times > t0) & (times <= t1))
        t_eval = times[sel] if sel.size and times[sel[-1]] >= t1 else np.append(times[sel], t1)
        sol = solve_ivp(rhs, (t0, t1), c, method="BDF", t_eval=t_eval,
                        rtol=1e-10, atol=1e-7)
        for k, j in enumerate(sel):
            out[j] = _voltage(p, sol.y[:, k], current, flux_in, h, separator, D, U, sigma_s)
        c, t0 = sol.y[:, -1], t1
    return out


def sphere_surface_ocv(params, radius, diffusivity, segments, times, n=400):
    """OCV of the surface concentration, U(c(R)/c_max), of a sphere of ``radius`` (m)
    with constant ``diffusivity`` (m²/s) from a uniform x0, under piecewise-constant Li
    inflows ``segments`` = [(duration s, flux mol/m²/s into the sphere at r = R)], at
    ``times`` (s from the start, within the last segment): finite volumes in r + BDF.
    At zero current (a rest) this is the cell voltage of the single-particle limit."""
    cmax, x0, _, U, _ = _materials(params)
    r_f = np.linspace(0.0, radius, n + 1)
    r_c = 0.5 * (r_f[1:] + r_f[:-1])
    vol = (r_f[1:] ** 3 - r_f[:-1] ** 3) / 3.0

    def rhs(_t, c, j):
        flux = np.zeros(n + 1)  # outward radial flux at the faces, mol/m²/s
        flux[1:-1] = -diffusivity * np.diff(c) / np.diff(r_c)
        flux[-1] = -j
        return -(r_f[1:] ** 2 * flux[1:] - r_f[:-1] ** 2 * flux[:-1]) / vol

    c, t0 = np.full(n, x0 * cmax), 0.0
    for k, (duration, j) in enumerate(segments):
        last = k == len(segments) - 1
        sol = solve_ivp(rhs, (t0, t0 + duration), c, args=(j,), method="BDF", rtol=1e-10,
                        atol=1e-7, t_eval=np.asarray(times) if last else None)
        c, t0 = sol.y[:, -1], t0 + duration
    # the surface value: the last two cells extrapolated to r = R (no flux in a rest)
    cs = sol.y[-1] + (sol.y[-1] - sol.y[-2]) * (radius - r_c[-1]) / (r_c[-1] - r_c[-2])
    return U(cs / cmax)


def sphere_discharge_voltage(params, radius, area, particle_current, current, separator,
                             times, n=400):
    """Cell voltage (V) of the single-particle limit in a sphere: a CAM sphere of
    ``radius`` (m) with the kinetic surface ``area`` (m²; 4πR² for the sphere itself)
    taking ``particle_current`` (A, > 0 discharge) from a uniform x0, with constant D_s
    (the parameter set's value at x0), in a cell at ``current`` (A/m² of the cell's
    cross-section) behind a dense SE separator (m); conductivities high (no ohmic drop
    in the cathode). Finite volumes in r + BDF; V at ``times`` (s):
    U(c_s(R)) + η_c(i_s, c_s(R)) − η_a − ohmic drop, i_s = particle_current / area."""
    p = params
    cmax, x0, D, U, _ = _materials(p)
    d = float(D(np.array(x0)))
    f = FARADAY / (GAS_CONSTANT * p.operation.temperature)
    i_s = particle_current / area
    j = particle_current / (FARADAY * 4.0 * np.pi * radius**2)  # mol/m²/s into the sphere
    r_f = np.linspace(0.0, radius, n + 1)
    r_c = 0.5 * (r_f[1:] + r_f[:-1])
    vol = (r_f[1:] ** 3 - r_f[:-1] ** 3) / 3.0

    def rhs(_t, c):
        flux = np.zeros(n + 1)  # outward radial flux at the faces, mol/m²/s
        flux[1:-1] = -d * np.diff(c) / np.diff(r_c)
        flux[-1] = -j
        return -(r_f[1:] ** 2 * flux[1:] - r_f[:-1] ** 2 * flux[:-1]) / vol

    sol = solve_ivp(rhs, (0.0, float(np.max(times))), np.full(n, x0 * cmax), method="BDF",
                    t_eval=np.asarray(times, dtype=float), rtol=1e-10, atol=1e-7)
    # surface value from the flux condition −D dc/dr = −j over half a cell
    cs = np.clip(sol.y[-1] + j * (radius - r_c[-1]) / d, 1e-9 * cmax, cmax * (1 - 1e-9))
    i0 = p.cam.k_solid * p.solid_electrolyte.li_concentration**0.5 * cs**0.5 * (
        cmax - cs) ** 0.5
    eta_c = 2 / f * np.arcsinh(-i_s / (2 * i0))
    eta_a = 2 / f * np.arcsinh(current / (2 * p.anode.exchange_current_solid))
    ohm = current * separator / p.solid_electrolyte.conductivity
    return U(cs / cmax) + eta_c - eta_a - ohm


class _Sphere:
    """A CAM sphere of ``radius`` (m) with the parameter set's D_s(x): finite volumes in r
    on a grid graded toward the surface (cells ∝ (1 − s)²), fluxes in Kirchhoff form
    Φ(c) = ∫ D_s dc (exact for a steady 1D flux); the voltage U(x_R) + η_c with the
    surface value from the flux condition over the last half cell."""

    def __init__(self, params, radius, n):
        from scipy.integrate import cumulative_trapezoid

        p = self.p = params
        self.cmax, self.x0, D, self.U, _ = _materials(p)
        self.f = FARADAY / (GAS_CONSTANT * p.operation.temperature)
        self.xs = np.linspace(-0.5, 1.5, 200001)
        self.table = cumulative_trapezoid(D(self.xs) * self.cmax, self.xs, initial=0.0)
        self.radius, self.n = radius, n
        s = np.linspace(0.0, 1.0, n + 1)
        self.r_f = radius * (1.0 - (1.0 - s) ** 3)
        self.r_c = 0.5 * (self.r_f[1:] + self.r_f[:-1])
        self.vol = (self.r_f[1:] ** 3 - self.r_f[:-1] ** 3) / 3.0
        self.capacity = self.cmax * (1.0 - self.x0) * 4.0 / 3.0 * np.pi * radius**3  # mol

    def phi(self, c):
        return np.interp(c / self.cmax, self.xs, self.table)

    def flux(self, c_rate):
        """mol/m²/s into the sphere at ``c_rate`` (C of its capacity, > 0 discharge)."""
        return c_rate * self.capacity / 3600.0 / (4.0 * np.pi * self.radius**2)

    def rhs(self, j):
        r_f, r_c, vol = self.r_f, self.r_c, self.vol

        def rhs(_t, c):
            flux = np.zeros(self.n + 1)  # outward, mol/m²/s
            flux[1:-1] = -np.diff(self.phi(c)) / np.diff(r_c)
            flux[-1] = -j
            return -(r_f[1:] ** 2 * flux[1:] - r_f[:-1] ** 2 * flux[:-1]) / vol

        return rhs

    def voltage(self, c, j):
        cs = np.interp(self.phi(c[-1]) + j * (self.radius - self.r_c[-1]), self.table,
                       self.xs * self.cmax)
        return self.surface_voltage(cs, j)

    def surface_voltage(self, cs, j):
        """U(x_R) + η_c (V) at the surface value ``cs`` (mol/m³) and inflow ``j``."""
        p, cmax = self.p, self.cmax
        d, delta = cmax - cs, 1e-3 * cmax
        i0 = p.cam.k_solid * p.solid_electrolyte.li_concentration**0.5 * np.maximum(
            cs, 1e-9 * cmax) ** 0.5 * (0.5 * (d + np.sqrt(d * d + delta * delta))) ** 0.5
        return self.U(cs / cmax) + 2.0 / self.f * np.arcsinh(-j * FARADAY / (2.0 * i0))

    def integrate(self, c, j, t_span, **kw):
        from scipy.sparse import diags

        n = self.n
        return solve_ivp(self.rhs(j), t_span, c, method="BDF", rtol=1e-9, atol=1e-6,
                         jac_sparsity=diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(n, n)), **kw)


def sphere_utilisation(params, radius, c_rate, cutoff=None, n=300):
    """Utilisation (of the sphere's capacity from x0 to 1) when a CAM sphere of ``radius``
    (m) discharged at ``c_rate`` (C of that capacity) from rest reaches the cut-off
    (V; default the parameter set's): the single-particle limit with the parameter set's
    D_s(x) (``_Sphere``), BDF in time. Returns (utilisation, times s, volts V)."""
    sph = _Sphere(params, radius, n)
    cutoff = params.operation.cutoff_voltage if cutoff is None else cutoff
    j = sph.flux(c_rate)

    def event(_t, c):
        return sph.voltage(c, j) - cutoff

    event.terminal = True
    t_end = 1.5 * 3600.0 / c_rate
    sol = sph.integrate(np.full(n, sph.x0 * sph.cmax), j, (0.0, t_end), events=event,
                        max_step=t_end / 300)
    volts = np.array([sph.voltage(sol.y[:, k], j) for k in range(sol.t.size)])
    return sol.t_events[0][0] * c_rate / 3600.0, sol.t, volts


def sphere_protocol_voltage(params, radius, segments, times, n=300):
    """Voltage (V) of the sphere of ``sphere_utilisation`` under ``segments`` = [(duration
    s, C-rate, > 0 discharge, 0 a rest)] run from rest, at ``times`` (s from the start,
    sorted; a time on a segment's end belongs to that segment)."""
    sph = _Sphere(params, radius, n)
    times = np.asarray(times, dtype=float)
    c, t0, out = np.full(n, sph.x0 * sph.cmax), 0.0, np.full(times.size, np.nan)
    for duration, c_rate in segments:
        j, t1 = sph.flux(c_rate), t0 + duration
        sel = np.flatnonzero((times > t0) & (times <= t1))
        at, where = np.unique(np.append(times[sel], t1), return_inverse=True)
        sol = sph.integrate(c, j, (t0, t1), t_eval=at, max_step=duration / 50)
        for k, m in zip(where[:-1], sel, strict=True):
            out[m] = sph.voltage(sol.y[:, k], j)
        c, t0 = sol.y[:, -1], t1
    return out
