"""Functional forms of the materials, written once for numpy arrays and UFL expressions.

Every function takes its argument as a numpy array/float or a UFL expression and
returns the same kind. Stoichiometry x = c_s/c_max.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fem_assb.materials.parameters import ParameterError, Table


def _is_ufl(x) -> bool:
    import ufl

    return isinstance(x, ufl.core.expr.Expr)


class _Ops:
    """exp/tanh/min/max/log for numpy or UFL operands."""

    def __init__(self, x):
        if _is_ufl(x):
            import ufl

            self.exp, self.tanh, self.ln, self.sinh = ufl.exp, ufl.tanh, ufl.ln, ufl.sinh
            self.minimum, self.maximum = ufl.min_value, ufl.max_value
        else:
            self.exp, self.tanh, self.ln, self.sinh = np.exp, np.tanh, np.log, np.sinh
            self.minimum, self.maximum = np.minimum, np.maximum


def table_function(xs, ys, interpolation: str = "linear") -> Callable:
    """Piecewise-linear (or log-linear) interpolant, constant beyond the end points.

    Written as a sum of clamped ramps, f(x) = y0 + Σ s_i (clamp(x, x_i, x_i+1) − x_i),
    which is the same expression for numpy and UFL (no nested conditionals).
    """
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    log = interpolation == "log"
    vals = np.log(ys) if log else ys
    slopes = np.diff(vals) / np.diff(xs)

    def f(x):
        op = _Ops(x)
        out = float(vals[0])
        for x0, x1, s in zip(xs[:-1], xs[1:], slopes, strict=True):
            out = out + float(s) * (op.minimum(op.maximum(x, float(x0)), float(x1)) - float(x0))
        return op.exp(out) if log else out

    return f


def nmc811_ocv_fit(x):
    """NMC811 open-circuit voltage (V vs Li), fit to the Sturm 2019 table (rms 3.2 mV).

    Beyond x = 1 (a saturated surface node overfills by a few 1e-3 with the regularised
    kinetics) the steep end exp(k(x − 1)) continues along its tangent 1 + k(x − 1): the
    same value and slope at x = 1, no exponential wall in which Newton moves by only
    1/k ≈ 1e-3 in x per iteration (an ASSB discharge of 2e4 voxels at 8 mA/cm²: 181 →
    162 Newton iterations, capacity −1e-4 relative)."""
    op = _Ops(x)
    k, z = 964.56473, x - 1.0
    wall = op.exp(k * op.minimum(z, 0.0)) + k * op.maximum(z, 0.0)
    return (4.35256 - 0.71883 * x
            - 0.03325 * op.tanh(73.70332 * (x - 0.22641))
            - 0.03151 * op.tanh(29.30445 * (x - 0.38343))
            - 0.04516 * op.tanh(15.39637 * (x - 0.52594))
            - 0.11096 * wall)


NMC811_OCV_TABLE = Table(
    x=[0.2157, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
       0.85, 0.90, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1.0],
    y=[4.2999, 4.2170, 4.1808, 4.1371, 4.0626, 4.0027, 3.9449, 3.8787, 3.8180, 3.7761,
       3.7425, 3.7082, 3.6700, 3.6272, 3.5889, 3.5622, 3.5454, 3.5371, 3.5281, 3.5102,
       3.4842, 3.4068, 3.1831, 3.0236])

BUILTINS: dict[str, Callable] = {
    "nmc811_fit": nmc811_ocv_fit,
    "nmc811_table": table_function(NMC811_OCV_TABLE.x, NMC811_OCV_TABLE.y),
}


def make_function(spec, name: str) -> Callable:
    """A callable from a parameter entry: constant, built-in name or ``Table``."""
    if isinstance(spec, Table):
        return table_function(spec.x, spec.y, spec.interpolation)
    if isinstance(spec, str):
        if spec not in BUILTINS:
            raise ParameterError(f"'{name}': unknown built-in function '{spec}' "
                                 f"(known: {', '.join(BUILTINS)})")
        return BUILTINS[spec]
    value = float(spec)
    return lambda x: value + 0.0 * x


def exchange_current_density(k: float, c_e, c_s, c_max: float, alpha: float = 0.5,
                             rel_floor: float = 1e-9, rel_smooth: float = 1e-3):
    """i0 = k c_e^α c_s^α (c_max − c_s)^(1−α) in A/m².

    Near saturation the vacancy concentration c_max − c_s is replaced by the smooth
    positive d̃ = (d + √(d² + δ²))/2 with δ = rel_smooth · c_max: equal to d within
    δ²/(4d) (i0 within 0.035 % for x ≤ 0.98), δ/2 at c_max, decaying beyond it. i0 stays
    positive and smooth with a bounded derivative where Newton meets the steep end of the
    discharge (a hard clamp there has a kink that stalls Newton); it becomes small and the
    overpotential large, so the cell reaches its cut-off voltage. c_s is clamped below at
    rel_floor · c_max (the empty end, reached on charge only).
    """
    op = _Ops(c_s)
    cs = op.maximum(c_s, rel_floor * c_max)
    d, delta = c_max - c_s, rel_smooth * c_max
    vacancies = 0.5 * (d + (d * d + delta * delta) ** 0.5)
    return k * c_e**alpha * cs**alpha * vacancies ** (1.0 - alpha)


def butler_volmer(i0, eta, temperature: float, alpha: float = 0.5):
    """i = i0 [exp(α F η/RT) − exp(−(1−α) F η/RT)] (A/m², anodic positive)."""
    from fem_assb.constants import FARADAY, GAS_CONSTANT

    op = _Ops(eta)
    f = FARADAY / (GAS_CONSTANT * temperature)
    if alpha == 0.5:  # symmetric: 2 i0 sinh(Fη/2RT), no cancellation of two exponentials
        return 2.0 * i0 * op.sinh(_bounded(0.5 * f * eta))
    return i0 * (op.exp(_bounded(alpha * f * eta)) - op.exp(_bounded(-(1.0 - alpha) * f * eta)))


# exponents beyond this (η of ~36 V: Newton's trial states only) are held at it in
# numpy, where exp would overflow to inf (UFL forms are left as they are)
EXPONENT_BOUND = 700.0


def _bounded(x):
    """x with its real part clipped to ±EXPONENT_BOUND (numpy, complex-step safe)."""
    if _is_ufl(x):
        return x
    if np.iscomplexobj(x):
        return np.clip(x.real, -EXPONENT_BOUND, EXPONENT_BOUND) + 1j * x.imag
    return np.clip(x, -EXPONENT_BOUND, EXPONENT_BOUND)
