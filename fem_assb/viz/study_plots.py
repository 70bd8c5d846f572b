"""Figures of a study directory (the study's Fig. 3–8, 10, S5 equivalents), PNG + SVG.

- ``structures``: σ_eff/σ_bulk of the ion conductor and the normalised theoretical
  capacity vs the sweep variable (Fig. 3/7),
- ``performance_<cell>``: capacity and energy density vs the sweep variable, one line per
  current density (or t+), and their gains over the reference structure (r = 0 or
  f_L60 = 0) (Fig. 4a–b, 5a–b, 6a–b, 8, S5),
- ``profiles_<cell>``: CAM utilisation along x and, for the LIB, pore-averaged c_e along
  x at the highest current density, one line per structure (Fig. 4c, 5c–d, 6c, 10).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

from fem_assb.analysis.tables import read_table

SWEEP = {"perforated": ("radius_um", "channel radius r (µm)"),
         "layered": ("f_l60", "f_L60 (separator-side L60 thickness fraction)"),
         "homogeneous": ("current_density_mA_cm2", "current density (mA/cm²)")}
CELL = {"solid": "ASSB", "liquid": "LIB"}
# the sweep variable's value in words, for axis labels ("capacity gain vs r = 0 µm")
SWEEP_VALUE = {"radius_um": "r = {:g} µm", "f_l60": "f_L60 = {:g}",
               "current_density_mA_cm2": "{:g} mA/cm²"}
QUANTITY = {"capacity_mAh_cm2": ("capacity", "mAh/cm²"),
            "energy_density_Wh_kg": ("energy density", "Wh/kg")}


def _num(v) -> float:
    return float(v) if v not in (None, "") else np.nan


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight")
    return paths


def _cell_groups(rows):
    """Rows grouped by cell kind: (electrolyte, reversed) -> rows."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["electrolyte"], r.get("reversed") == "True")].append(r)
    return groups


def _label(ele: str, rev: bool) -> str:
    return CELL[ele] + (" reversed" if rev else "")


def plot_structures(rows, family: str, out: Path) -> list[Path]:
    key, xlabel = SWEEP[family]
    if family == "homogeneous" or not rows:
        return []
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    for (ele, rev), grp in sorted(_cell_groups(rows).items()):
        x = np.array([_num(r[key]) for r in grp])
        o = np.argsort(x)
        sig = np.array([_num(r.get("relative_conductivity")) for r in grp])[o]
        cap = np.array([_num(r["theoretical_capacity_mAh_cm2"]) for r in grp])[o]
        a1.plot(x[o], sig, "o-", label=_label(ele, rev))
        a2.plot(x[o], cap / np.nanmax(cap), "o-", label=_label(ele, rev))
    a1.set(xlabel=xlabel, ylabel="σ_eff / σ_bulk (ion conductor, along x)")
    a2.set(xlabel=xlabel, ylabel="theoretical capacity / max")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    return _save(fig, out, "structures")


def plot_performance(rows, family: str, out: Path) -> list[Path]:
    """Capacity / energy density and their gains vs the sweep variable."""
    key, xlabel = SWEEP[family]
    paths = []
    for (ele, rev), grp in sorted(_cell_groups(rows).items()):
        lines = defaultdict(list)  # (current, t+) -> rows of one line
        for r in grp:
            i = _num(r["current_density_mA_cm2"]) if key != "current_density_mA_cm2" else 0
            lines[(i, _num(r.get("transference_number")))].append(r)
        fig = Figure(figsize=(10, 7), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True)
        for (i, tp), rs in sorted(lines.items()):
            parts = ([f"{i:g} mA/cm²"] if i else []) + ([f"t+ = {tp:g}"] if tp == tp else [])
            name = ", ".join(parts) or "cases"
            x = np.array([_num(r[key]) for r in rs])
            o = np.argsort(x)
            x = x[o]
            for col, (ax, gax) in zip(QUANTITY, ((axes[0, 0], axes[0, 1]),
                                                 (axes[1, 0], axes[1, 1])), strict=True):
                what, unit = QUANTITY[col]
                y = np.array([_num(r[col]) for r in rs])[o]
                ax.plot(x, y, "o-", label=name)
                gax.plot(x, y - y[0], "o-", label=name)  # gain over the first structure
                ax.set_ylabel(f"{what} ({unit})")
                gax.set_ylabel(f"{what} gain vs {SWEEP_VALUE[key].format(x[0])} ({unit})")
        for ax in axes.ravel():
            ax.grid(alpha=0.3)
        for ax in axes[1]:
            ax.set_xlabel(xlabel)
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"{_label(ele, rev)}: {family}")
        tag = CELL[ele].lower() + ("_reversed" if rev else "")
        paths += _save(fig, out, f"performance_{tag}")
    return paths


def plot_profiles(rows, family: str, directory: Path, out: Path) -> list[Path]:
    """Utilisation (and c_e) along x at the highest current density."""
    key, _ = SWEEP[family]
    paths = []
    for (ele, rev), grp in sorted(_cell_groups(rows).items()):
        i_max = max(_num(r["current_density_mA_cm2"]) for r in grp)
        sel = [r for r in grp if _num(r["current_density_mA_cm2"]) == i_max]
        liquid = ele == "liquid"
        files = {r["case"]: directory / "cases" / r["case"] / "profiles.json" for r in sel}
        found = [r for r in sel if files[r["case"]].is_file()]
        if not found:  # the case folders are gone (only the tables were kept)
            continue
        fig = Figure(figsize=(10 if liquid else 5.5, 3.8), layout="constrained")
        axes = fig.subplots(1, 2 if liquid else 1, squeeze=False)
        for r in sorted(found, key=lambda r: (_num(r[key]), _num(r.get("transference_number")))):
            prof = json.loads(files[r["case"]].read_text())
            tp = r.get("transference_number")
            name = SWEEP_VALUE[key].format(_num(r[key])) + (
                f", t+ = {float(tp):g}" if tp not in (None, "") else "")
            u = np.array([np.nan if v is None else v for v in prof["cam_utilisation"]])
            axes[0, 0].plot(prof["x_um"], u, label=name)
            if liquid and "electrolyte_concentration_mol_m3" in prof:
                c = np.array([np.nan if v is None else v
                              for v in prof["electrolyte_concentration_mol_m3"]])
                axes[0, 1].plot(prof["electrolyte_x_um"], c, label=name)
        axes[0, 0].set(xlabel="x from the separator (µm)", ylabel="mean CAM utilisation",
                       title=f"{_label(ele, rev)}, {i_max:g} mA/cm², end of discharge")
        if liquid:
            axes[0, 1].set(xlabel="x from the separator (µm; < 0: separator)",
                           ylabel="pore-averaged c_e (mol/m³)")
        for ax in axes.ravel():
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        tag = CELL[ele].lower() + ("_reversed" if rev else "")
        paths += _save(fig, out, f"profiles_{tag}")
    return paths


def plot_study(directory: str | Path, output: str | Path | None = None) -> list[Path]:
    """All figures of a study directory (written to ``output``, default DIR/figures)."""
    d = Path(directory)
    cfg_file = d / "study.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{d}: not a study directory (no study.json)")
    family = json.loads(cfg_file.read_text())["family"]
    rows = read_table(d / "results.csv")
    out = Path(output) if output else d / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = plot_structures(read_table(d / "structures.csv"), family, out)
    if rows:
        paths += plot_performance(rows, family, out)
        paths += plot_profiles(rows, family, d, out)
    return paths
