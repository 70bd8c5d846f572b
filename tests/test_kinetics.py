"""Exchange current density: the exact form away from saturation, smooth at c_max."""

import numpy as np

from fem_assb.materials import default_parameters, exchange_current_density


def test_i0_exact_below_saturation_smooth_beyond():
    p = default_parameters()
    c_max, k, c_e = p.cam.c_max, p.cam.k_solid, p.solid_electrolyte.li_concentration
    x = np.linspace(0.05, 0.98, 200)
    exact = k * c_e**0.5 * (x * c_max) ** 0.5 * (c_max - x * c_max) ** 0.5
    i0 = exchange_current_density(k, c_e, x * c_max, c_max)
    assert np.allclose(i0, exact, rtol=3.5e-4)
    # through saturation: positive, decreasing, with a continuous bounded slope (no kink)
    xs = np.linspace(0.99, 1.01, 2001)
    i0 = exchange_current_density(k, c_e, xs * c_max, c_max)
    slope = np.diff(i0) / np.diff(xs)
    assert np.all(i0 > 0) and np.all(slope < 0)
    assert np.max(np.abs(np.diff(slope))) < 0.02 * np.max(np.abs(slope))
    assert i0[-1] < 0.25 * i0[np.searchsorted(xs, 1.0)]  # ∝ δ/(2|d|) beyond c_max
