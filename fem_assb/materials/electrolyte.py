"""Liquid electrolyte properties κ(c,T), D_e(c,T), t+(c,T), TDF(c,T) for numpy and UFL.

c_e is in mol/m³ (SI) everywhere in the code; the published fits use c in mol/L, which
is converted here. The concentration is clamped to [C_MIN, C_MAX] mol/m³ before the
fits are evaluated: outside their range (and for the negative values a Newton iterate
can visit) the polynomials are meaningless.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fem_assb.materials.functions import _Ops, make_function
from fem_assb.materials.parameters import ParameterError

C_MIN = 1.0  # mol/m³
C_MAX = 4000.0  # mol/m³


def _molar(c):
    """c (mol/m³) -> clamped concentration in mol/L."""
    op = _Ops(c)
    return op.minimum(op.maximum(c, C_MIN), C_MAX) / 1000.0


# -- 1 M LiPF6 in EC:EMC 3:7, Landesfeind & Gasteiger 2019 (as in PyBaMM ORegan2022) ----
def landesfeind2019_conductivity(c, T):
    """κ (S/m)."""
    m, e = _molar(c), math.exp(1000.0 / T)
    return (0.1 * 0.521 * (1.0 + (T - 228.0)) * m
            * (1.0 - 1.06 * m**0.5 + 0.353 * (1.0 - 3.59e-3 * e) * m)
            / (1.0 + 1.48e-3 * m**4 * e))


def landesfeind2019_diffusivity(c, T):
    """D_e (m²/s)."""
    op, m = _Ops(c), _molar(c)
    return 1e-10 * 1.01e3 * op.exp(1.01 * m) * math.exp(-1.56e3 / T) * op.exp(-4.87e2 * m / T)


def landesfeind2019_transference(c, T):
    """t+ (-)."""
    m = _molar(c)
    return (-12.8 - 6.12 * m + 8.21e-2 * T + 0.904 * m**2 + 3.18e-2 * m * T
            - 1.27e-4 * T**2 + 1.75e-2 * m**3 - 3.12e-3 * m**2 * T - 3.96e-5 * m * T**2)


def landesfeind2019_tdf(c, T):
    """Thermodynamic factor 1 + dln f±/dln c (-)."""
    m = _molar(c)
    return (25.7 - 45.1 * m - 0.177 * T + 1.94 * m**2 + 0.295 * m * T + 3.08e-4 * T**2
            + 0.259 * m**3 - 9.46e-3 * m**2 * T - 4.54e-4 * m * T**2)


# -- LiPF6 in EC:EMC, Nyman 2008 (PyBaMM Chen2020), temperature-independent -------------
def nyman2008_conductivity(c, T):
    m = _molar(c)
    return 0.1297 * m**3 - 2.51 * m**1.5 + 3.329 * m


def nyman2008_diffusivity(c, T):
    m = _molar(c)
    return 8.794e-11 * m**2 - 3.972e-10 * m + 4.862e-10


def nyman2008_transference(c, T):
    m = _molar(c)
    return 0.4492 - 0.4717 * m + 0.4106 * m**2 - 0.1287 * m**3


ELECTROLYTE_BUILTINS: dict[str, dict[str, Callable]] = {
    "conductivity": {"landesfeind2019": landesfeind2019_conductivity,
                     "nyman2008": nyman2008_conductivity},
    "diffusivity": {"landesfeind2019": landesfeind2019_diffusivity,
                    "nyman2008": nyman2008_diffusivity},
    "transference_number": {"landesfeind2019": landesfeind2019_transference,
                            "nyman2008": nyman2008_transference},
    "thermodynamic_factor": {"landesfeind2019": landesfeind2019_tdf},
}


def electrolyte_function(spec, name: str, temperature: float) -> Callable:
    """f(c_e) for a liquid-electrolyte entry (c_e in mol/m³): a constant, a built-in
    fit name (evaluated at ``temperature``) or a table over c_e in mol/m³."""
    key = name.rsplit(".", 1)[-1]
    if isinstance(spec, str):
        known = ELECTROLYTE_BUILTINS.get(key, {})
        if spec not in known:
            raise ParameterError(f"'{name}': unknown built-in function '{spec}' "
                                 f"(known: {', '.join(known) or 'none'})")
        fit = known[spec]
        T = float(temperature)
        return lambda c: fit(c, T)
    inner = make_function(spec, name)
    return lambda c: inner(_clamped(c))


def _clamped(c):
    op = _Ops(c)
    return op.minimum(op.maximum(c, C_MIN), C_MAX)
