"""Discretisations of c_s in one spherical particle, in 1D: which one a 3D mesh can use.

A CAM sphere (radius 5 µm, the built-in NMC811 D_s(x)) discharged from rest to 3.0 V at
0.2C, 1C and 2C, as the 3D code discretises it along a radius: a P1 core of elements
``h`` (lumped storage, D_s(c)∇c with 2-point quadrature) whose surface node is moved
inward by ``move`` (the core's cells near the surface shrink, decay length 1 µm), and a
graded Kirchhoff column of depth ``column`` from the true surface to the core's surface
node (``fem_assb.physics.skin``). Where the column is deeper than the move, the two
overlap: the overlap's storage is taken from the core's outermost nodes (at most
``take`` of each), and with ``stiffen`` the core's outer element conducts over its
length less the overlap (× ℓ / (ℓ − o), at most 4). The utilisation at 3.0 V is
compared with the converged radial grid of ``tests/spm_reference.sphere_utilisation``.

    python benchmarks/particle_1d_schemes.py [--rates 0.2 1 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp
from scipy.sparse import diags

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from spm_reference import _Sphere, sphere_utilisation  # noqa: E402

from fem_assb.materials import default_parameters  # noqa: E402
from fem_assb.physics.skin import graded_faces  # noqa: E402

RADIUS = 5e-6


@dataclass(frozen=True)
class Scheme:
    """A radial discretisation: core elements ``h``, its surface moved by ``move``, a
    column ``column`` deep (m; 0: none) from ``first`` (m) with ``growth``."""

    name: str
    h: float
    move: float = 0.0
    column: float = 0.0
    first: float = 3e-9
    growth: float = 1.3
    stiffen: bool = False  # the core's outer element conducts over its length less the overlap
    take: float = 1.0  # the largest share of a core node's storage the overlap takes


class Network:
    """Nodes (volumes, m³) in a chain from the centre to the surface; links between
    neighbours: P1 core elements (D_s(c)∇c) then Kirchhoff column links. The surface
    value follows from the inflow over the last link (the column's storage-free surface
    node, or the core's surface node when there is no column)."""

    def __init__(self, scheme: Scheme, sphere: _Sphere, decay: float = 1e-6):
        self.sph = sphere
        n = int(round(RADIUS / scheme.h))
        r = np.linspace(0.0, RADIUS, n + 1)
        r = r - scheme.move * np.exp(-(RADIUS - r) / decay) * (r / RADIUS)
        self.r = r  # core nodes
        self.q = np.array([0.5 - 0.5 / np.sqrt(3.0), 0.5 + 0.5 / np.sqrt(3.0)])  # Gauss
        self.vol = np.zeros(n + 1)
        for e in range(n):
            a, b = r[e], r[e + 1]
            # lumped: ∫ r² N_i dr, exact (cubic) by Simpson on each half
            rr = np.linspace(a, b, 5)
            w = np.array([1, 4, 2, 4, 1]) * (b - a) / 12.0
            self.vol[e] += 4 * np.pi * np.sum(w * rr**2 * (b - rr) / (b - a))
            self.vol[e + 1] += 4 * np.pi * np.sum(w * rr**2 * (rr - a) / (b - a))
        self.n_core = n + 1
        self.factor = np.ones(n)
        self._column(scheme)

    def _column(self, s: Scheme):
        if s.column <= 0.0:
            self.col_vol = np.zeros(0)
            return
        t = graded_faces(s.first / s.column, s.growth)[1:]  # from the surface inward
        depth = s.column * t
        rf = RADIUS - depth  # faces, outer to inner
        mid = 0.5 * (rf[1:] + rf[:-1])
        self.col_vol = 4 * np.pi / 3 * (rf[:-1] ** 3 - rf[1:] ** 3)
        # conductances between successive column cells, and the last one to the core
        g = 4 * np.pi * rf[1:-1] ** 2 / (mid[:-1] - mid[1:])
        self.col_g = np.concatenate([g, [4 * np.pi * rf[-1] ** 2 / (mid[-1] - rf[-1])]])
        self.g_surface = 4 * np.pi * RADIUS**2 / (RADIUS - mid[0])
        overlap = self.vol.sum() + self.col_vol.sum() - 4 * np.pi / 3 * RADIUS**3
        ov = s.column - s.move
        if s.stiffen and ov > 0:
            length = self.r[-1] - self.r[-2]
            self.factor[-1] = min(length / max(length - ov, 1e-12), 4.0)
        for k in range(self.n_core - 1, -1, -1):  # taken from the core's outer nodes
            take = min(overlap, s.take * self.vol[k])
            self.vol[k] -= take
            overlap -= take
            if overlap <= 0:
                break
        self.vol = np.maximum(self.vol, 1e-30)

    def rhs(self, j: float):
        """dc/dt of all nodes (core centre→surface, then column inner→outer) at the
        inflow ``j`` (mol/m²/s at r = R)."""
        sph, r, nc = self.sph, self.r, self.n_core
        D = sph.phi  # noqa: N806  (Φ: Kirchhoff)
        inflow = j * 4 * np.pi * RADIUS**2
        vols = np.concatenate([self.vol, self.col_vol[::-1]])
        dfun = self._d

        def f(_t, c):
            core = c[:nc]
            flux = np.zeros(c.size + 1)  # outward through link k (between node k-1, k)
            for qq in self.q:
                cq = core[:-1] * (1 - qq) + core[1:] * qq
                rq = r[:-1] * (1 - qq) + r[1:] * qq
                grad = (core[:-1] - core[1:]) / (r[1:] - r[:-1])
                flux[1:nc] += 2 * np.pi * rq**2 * self.factor * dfun(cq) * grad
            if self.col_vol.size:
                col = c[nc:][::-1]  # outer to inner
                # link from the core's surface node to the innermost column cell
                flux[nc] = self.col_g[-1] * (D(core[-1]) - D(col[-1]))
                inner = self.col_g[:-1] * (D(col[1:]) - D(col[:-1]))  # outward, inner→outer
                flux[nc + 1:-1] = inner[::-1]
            flux[-1] = -inflow
            return (flux[:-1] - flux[1:]) / vols

        return f

    def _d(self, c):
        return np.interp(c / self.sph.cmax, self.sph.xs[1:],
                         np.diff(self.sph.table) / np.diff(self.sph.xs) / self.sph.cmax)

    def surface(self, c, j):
        """c_s at r = R (mol/m³)."""
        sph, inflow = self.sph, j * 4 * np.pi * RADIUS**2
        if self.col_vol.size:
            return np.interp(sph.phi(c[-1]) + inflow / self.g_surface, sph.table,
                             sph.xs * sph.cmax)
        return c[self.n_core - 1]

    def utilisation(self, c_rate: float, cutoff: float = 3.0) -> float:
        sph = self.sph
        j = sph.flux(c_rate)
        n = self.n_core + self.col_vol.size
        c0 = np.full(n, sph.x0 * sph.cmax)

        def event(_t, c):
            return self._volt(c, j) - cutoff

        event.terminal = True
        t_end = 1.5 * 3600.0 / c_rate
        sol = solve_ivp(self.rhs(j), (0.0, t_end), c0, method="BDF", rtol=1e-8, atol=1e-6,
                        jac_sparsity=diags([1, 1, 1], [-1, 0, 1], shape=(n, n), dtype=float),
                        events=event, max_step=t_end / 300)
        return float(sol.t_events[0][0] * c_rate / 3600.0)

    def _volt(self, c, j):
        """Cell voltage (V): the sphere's U + η_c at this scheme's surface value."""
        return float(self.sph.surface_voltage(self.surface(c, j), j))


SCHEMES = [
    Scheme("P1 1 µm", 1e-6),
    Scheme("P1 0.5 µm", 0.5e-6),
    Scheme("skin 1 µm deep, core 1 µm", 1e-6, 1e-6, 1e-6),
    Scheme("skin 0.5 µm deep, core 1 µm", 1e-6, 0.5e-6, 0.5e-6),
    Scheme("skin 0.25 µm deep, core 0.5 µm", 0.5e-6, 0.25e-6, 0.25e-6),
    Scheme("skin 0.5 µm deep, core 0.5 µm", 0.5e-6, 0.5e-6, 0.5e-6),
    Scheme("column 1 µm over a core moved 0.5 µm", 1e-6, 0.5e-6, 1e-6),
    Scheme("column 1 µm over an unmoved core", 1e-6, 0.0, 1e-6),
    Scheme("column 1 µm over a core moved 0.5 µm, stiffened", 1e-6, 0.5e-6, 1e-6, stiffen=True),
    Scheme("column 1 µm over a core moved 0.25 µm, stiffened", 1e-6, 0.25e-6, 1e-6,
           stiffen=True),
    Scheme("column 1 µm over an unmoved core, stiffened", 1e-6, 0.0, 1e-6, stiffen=True),
    Scheme("the same, ≤ 50 % of a node's storage taken", 1e-6, 0.0, 1e-6, stiffen=True,
           take=0.5),
    Scheme("moved 0.5 µm, stiffened, ≤ 50 % taken", 1e-6, 0.5e-6, 1e-6, stiffen=True,
           take=0.5),
    Scheme("column 0.5 µm over an unmoved core", 1e-6, 0.0, 0.5e-6),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.2, 1.0, 2.0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    params = default_parameters()
    sph = _Sphere(params, RADIUS, 300)
    ref = {r: sphere_utilisation(params, RADIUS, r)[0] for r in args.rates}
    print("scheme".ljust(50) + "".join(f"{r:>10g}C" for r in args.rates))
    print("reference".ljust(50) + "".join(f"{ref[r]:11.4f}" for r in args.rates))
    out = {"reference": ref, "schemes": {}}
    for s in SCHEMES:
        net = Network(s, sph)
        u = {r: net.utilisation(r) for r in args.rates}
        out["schemes"][s.name] = u
        print(s.name.ljust(50) + "".join(f"{(u[r] / ref[r] - 1) * 100:+10.1f}%"
                                          for r in args.rates), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
