"""Discharge and protocol curves (matplotlib)."""

from __future__ import annotations

from pathlib import Path


def plot_discharge(results: dict, path, title: str | None = None) -> Path:
    """Voltage vs capacity of several discharges: ``results`` maps a label to a
    ``Solution`` (or to anything with ``capacity_mAh_cm2`` and ``voltage_V`` lists)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for label, res in results.items():
        curve = getattr(res, "curve", res)
        ax.plot(curve.capacity_mAh_cm2, curve.voltage_V, lw=2, label=label)
    ax.set(xlabel="capacity (mAh/cm²)", ylabel="cell voltage (V vs Li)", title=title or "")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def plot_protocol(result, axes=None):
    """A protocol run (``Solution``): cell voltage vs time over the whole run, and vs
    the charge passed within each step that passes charge, one colour per step. Draws
    into ``axes`` (two matplotlib axes) or a new pyplot figure (inline in Jupyter: the
    backend is the caller's). Returns the two axes."""
    import numpy as np

    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    c = result.curve
    t = np.asarray(c.time_s, dtype=float) / 3600.0
    v = np.asarray(c.voltage_V, dtype=float)
    q = np.asarray(c.capacity_mAh_cm2, dtype=float)
    k = np.asarray(c.step, dtype=int)
    for j, s in enumerate(result.steps):
        sel = np.flatnonzero(k == j)
        if j > 0 and sel.size:  # join the step to its start (the previous step's end)
            sel = np.concatenate([[sel[0] - 1], sel])
        if not sel.size:
            continue
        line, = axes[0].plot(t[sel], v[sel], lw=1.8, label=f"{j + 1}: {s.text}")
        if s.capacity_mAh_cm2 > 0:
            axes[1].plot(np.abs(q[sel] - q[sel[0]]), v[sel], lw=1.8, color=line.get_color())
    axes[0].set(xlabel="time (h)", ylabel="cell voltage (V vs Li)")
    axes[1].set(xlabel="charge passed in the step (mAh/cm²)", ylabel="cell voltage (V vs Li)")
    for ax in axes:
        ax.grid(alpha=0.3)
    if len(result.steps) <= 12:
        axes[0].legend(fontsize=7)
    return axes


def plot_run(directory, output=None) -> list[Path]:
    """Figures of one discharge or protocol directory (``discharge -o DIR``, ``run -o
    DIR``): the voltage curve (``voltage.csv``; a protocol's vs time, per step) and the
    CAM utilisation along x (and the LIB's c_e) at the end from ``profiles.json``, as
    ``DIR/figures/discharge.png`` (or in ``output``)."""
    import csv
    import json

    from matplotlib.figure import Figure

    d = Path(directory)
    curve_file = d / "voltage.csv"
    if not curve_file.is_file():
        raise FileNotFoundError(f"{d}: neither a study (study.json) nor a discharge "
                                "directory (voltage.csv)")
    with open(curve_file, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if None not in r.values()]
    q = [float(r["capacity_mAh_cm2"]) for r in rows]
    v = [float(r["voltage_V"]) for r in rows]
    summary = json.loads((d / "summary.json").read_text()) \
        if (d / "summary.json").is_file() else {}
    profiles = json.loads((d / "profiles.json").read_text()) \
        if (d / "profiles.json").is_file() else {}
    liquid = "electrolyte_concentration_mol_m3" in profiles
    panels = 1 + bool(profiles) + liquid
    fig = Figure(figsize=(5.2 * panels, 4.0), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    steps = summary.get("steps") if isinstance(summary.get("steps"), list) else None
    if steps is not None and len(steps) > 1:  # a protocol: voltage vs time, per step
        t = [float(r["time_s"]) / 3600.0 for r in rows]
        k = [int(r["step"]) for r in rows]
        for j, st in enumerate(steps):
            sel = [i for i, kk in enumerate(k) if kk == j]
            if j > 0 and sel:  # joined to the previous step's end
                sel = [sel[0] - 1, *sel]
            axes[0].plot([t[i] for i in sel], [v[i] for i in sel], lw=1.8,
                         label=f"{j + 1}: {st['text']}")
        axes[0].set(xlabel="time (h)", ylabel="cell voltage (V vs Li)",
                    title=f"protocol of {len(steps)} steps")
        if len(steps) <= 12:
            axes[0].legend(fontsize=7)
    else:
        axes[0].plot(q, v, lw=2)
        axes[0].set(xlabel="capacity (mAh/cm²)", ylabel="cell voltage (V vs Li)",
                    title="discharge" + (f" at {summary['current_density_mA_cm2']:g} mA/cm²"
                                         if summary.get("current_density_mA_cm2") else ""))
    axes[0].grid(alpha=0.3)
    if profiles:
        axes[1].plot(profiles["x_um"], profiles["cam_utilisation"], lw=2)
        axes[1].set(xlabel="x from the separator (µm)", ylabel="CAM utilisation",
                    ylim=(0, 1), title="utilisation at the end")
        axes[1].grid(alpha=0.3)
    if liquid:
        axes[2].plot(profiles["electrolyte_x_um"],
                     profiles["electrolyte_concentration_mol_m3"], lw=2)
        axes[2].set(xlabel="x (µm; separator x < 0)", ylabel="c_e (mol/m³)",
                    title="electrolyte at the end")
        axes[2].grid(alpha=0.3)
    out = Path(output) if output else d / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "discharge.png", out / "discharge.svg"]
    for p in paths:
        fig.savefig(p, dpi=120)
    return paths
