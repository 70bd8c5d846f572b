"""What a run returns: the numbers of each protocol step and of the whole run.

One schema for every output: ``RunResult.summary()`` is what ``--json`` prints and what
``summary.json`` holds (``steps``: the protocol steps, ``time_steps``: their count).
``fem_assb.solution.Solution`` adds plots and tables for notebooks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from fem_assb.protocol.state import Curve, StepSummary


@dataclass
class Profiles:
    """Along x of the final state (10 µm means, or per voxel plane): CAM utilisation
    (LIB: and the electrolyte concentration, mol/m³)."""

    x_um: list = field(default_factory=list)
    cam_utilisation: list = field(default_factory=list)
    electrolyte_x_um: list | None = None
    electrolyte_concentration_mol_m3: list | None = None


@dataclass
class RunResult:
    """Summary of a run (user units in the names). ``capacity_mAh_cm2``,
    ``energy_mWh_cm2`` and the energy density count the discharging steps;
    ``charge_capacity_mAh_cm2`` the charging ones; ``steps`` each protocol step.
    ``stop_reason`` says why the run ended: the last protocol step's reason when every
    step reached one of its ends (``complete``), else 'solver_failed', 'max_steps' or
    'interrupted'."""

    capacity_mAh_cm2: float
    theoretical_capacity_mAh_cm2: float
    state_capacity_mAh_cm2: float  # net charge of the final state (profiles, fields)
    energy_mWh_cm2: float
    energy_density_Wh_kg: float
    mean_voltage_V: float
    end_voltage_V: float
    rest_voltage_V: float
    current_density_mA_cm2: float | None  # of the first constant-current step
    stop_reason: str
    complete: bool
    time_steps: int
    rejected_steps: int
    newton_iterations: int  # all Newton iterations, rejected steps included
    linear_iterations: int  # all Krylov iterations (1 per Newton iteration with LU)
    wall_time_s: float
    max_charge_balance_error: float  # max |∫i dΓ − I A| / (I_ref A) over the steps
    lithium_balance_error: float  # |Li gained − ∫I dt A/F| / max(∫|I| dt A/F)
    salt_balance_error: float | None = None  # LIB: max |salt − salt0| / salt0 over the steps
    min_electrolyte_concentration_mol_m3: float | None = None  # LIB: lowest nodal c_e
    charge_capacity_mAh_cm2: float = 0.0
    # finest c_s storage at the surface / √(D_s(x_surf) t), worst step and vertex
    surface_resolution: float | None = None
    # the core's storage over the lithium front's depth where the front has left the
    # skin's columns, area-weighted, worst step (NaN/None without a skin)
    front_resolution: float | None = None
    steps: list[StepSummary] = field(default_factory=list)
    curve: Curve = field(default_factory=Curve, repr=False)
    profiles: Profiles = field(default_factory=Profiles, repr=False)
    provenance: dict = field(default_factory=dict, repr=False)  # ``fem_assb.provenance``
    write_error: str | None = field(default=None, repr=False)  # summary.json not written

    def summary(self) -> dict:
        """The result as strict-JSON data (non-finite numbers become None; no curve)."""
        d = asdict(self)
        for key in ("curve", "profiles", "write_error"):
            d.pop(key)
        d["steps"] = [_finite(s) for s in d["steps"]]
        d = _finite(d)
        d["provenance"] = d.pop("provenance")  # last: the numbers first
        return d


def _finite(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v)
                else float(v) if isinstance(v, np.floating) else v) for k, v in d.items()}
