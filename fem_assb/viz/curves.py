"""Discharge curves (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path


def plot_discharge(results: dict, path, title: str | None = None) -> Path:
    """Voltage vs capacity of several discharges: ``results`` maps a label to a
    ``DischargeResult`` (or to a dict with 'capacity_mAh_cm2' and 'voltage_V' lists)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for label, res in results.items():
        curve = getattr(res, "curve", res)
        ax.plot(curve["capacity_mAh_cm2"], curve["voltage_V"], lw=2, label=label)
    ax.set(xlabel="capacity (mAh/cm²)", ylabel="cell voltage (V vs Li)", title=title or "")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path
