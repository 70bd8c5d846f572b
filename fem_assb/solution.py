"""The result of a run, for notebooks and scripts: the numbers (``RunResult``) with the
curve and profiles as tables and plots."""

from __future__ import annotations

from dataclasses import dataclass, fields

from fem_assb.protocol.result import Profiles, RunResult


@dataclass(repr=False)
class Solution(RunResult):
    """A finished run (``Simulation.run``, ``fem_assb.run``, ``fem_assb.discharge``).

    The numbers are fields (``capacity_mAh_cm2``, ``energy_density_Wh_kg``,
    ``stop_reason``, ...; ``steps``: one ``StepSummary`` per protocol step), ``curve``
    the voltage curve, ``profiles`` the CAM utilisation (LIB: and c_e) along x at the
    end; ``summary()`` is the JSON of ``summary.json`` and ``--json``.
    """

    @classmethod
    def of(cls, result: RunResult, profiles: Profiles | None = None) -> Solution:
        values = {f.name: getattr(result, f.name) for f in fields(RunResult)}
        if profiles is not None:
            values["profiles"] = profiles
        return cls(**values)

    def __repr__(self) -> str:
        return (f"Solution({len(self.steps)} steps, {self.stop_reason}, discharged "
                f"{self.capacity_mAh_cm2:.4g} mAh/cm², charged "
                f"{self.charge_capacity_mAh_cm2:.4g} mAh/cm²)")

    def to_dataframe(self):
        """The curve (time_s, capacity_mAh_cm2, voltage_V, newton_iterations, step,
        current_mA_cm2) as a pandas DataFrame, one row per time step.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        return pd.DataFrame(self.curve.as_dict())

    def steps_dataframe(self):
        """One row per protocol step (kind, capacity, energy, voltages, duration, stop).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        return pd.DataFrame([vars(s) for s in self.steps])

    def plot(self, axes=None):
        """Cell voltage vs time, and vs the charge passed in each step, one colour per
        step (two matplotlib axes; a new pyplot figure without ``axes``, shown inline
        in Jupyter).

        Returns
        -------
        The two matplotlib axes.
        """
        from fem_assb.viz.curves import plot_protocol

        return plot_protocol(self, axes=axes)
