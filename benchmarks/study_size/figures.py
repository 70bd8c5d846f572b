"""Figures of the study-size runs for the README: the study figures of each study
directory (``fem_assb.viz.study_plots``), PNG only, into ``docs/figures/study_size/``,
normal against reversed stacking (study Fig. S5) where both layered sweeps are there, and
capacity and energy density vs t+ (study Fig. 5) where the LIB t+ sweep is there.

    python benchmarks/study_size/figures.py benchmarks/results/study_size
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

from fem_assb.analysis.tables import read_table
from fem_assb.viz.study_plots import QUANTITY, plot_study


def plot_reversed(normal: Path, reversed_: Path, out: Path) -> list[Path]:
    """Capacity and energy density vs f_L60, normal (L60 at the separator) and reversed
    stacking, at each current density with reversed cases (``out/reversed_vs_normal.png``)."""
    rows = [r for d in (normal, reversed_) for r in read_table(d / "results.csv")]
    currents = sorted({float(r["current_density_mA_cm2"]) for r in rows
                       if r["reversed"] == "True"})
    if not currents:
        return []
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for i in currents:
        for rev, style, name in ((False, "o-", "L60 | L70 (normal)"),
                                 (True, "s--", "L70 | L60 (reversed)")):
            sel = sorted((r for r in rows if float(r["current_density_mA_cm2"]) == i
                          and (r["reversed"] == "True") == rev), key=lambda r: float(r["f_l60"]))
            for ax, col in zip(axes, QUANTITY, strict=True):
                ax.plot([float(r["f_l60"]) for r in sel], [float(r[col]) for r in sel], style,
                        label=f"{name}, {i:g} mA/cm²")
    for ax, (what, unit) in zip(axes, QUANTITY.values(), strict=True):
        ax.set(xlabel="f_L60 (thickness fraction of the L60 layer)", ylabel=f"{what} ({unit})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("ASSB layered: normal and reversed stacking")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reversed_vs_normal.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    return [path]


def plot_transference(sweep: Path, default: Path, out: Path) -> list[Path]:
    """Capacity and energy density vs a constant t+, one line per channel radius, at the
    highest current of the t+ sweep; the default t+(c_e) as a dashed level per radius
    where the perforated LIB sweep has that case (``out/transference.png``)."""
    rows = read_table(sweep / "results.csv")
    if not rows:
        return []
    i = max(float(r["current_density_mA_cm2"]) for r in rows)
    rows = [r for r in rows if float(r["current_density_mA_cm2"]) == i]
    table = default / "results.csv"
    base = {float(r["radius_um"]): r for r in (read_table(table) if table.is_file() else [])
            if float(r["current_density_mA_cm2"]) == i}
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for n, radius in enumerate(sorted({float(r["radius_um"]) for r in rows})):
        sel = sorted((r for r in rows if float(r["radius_um"]) == radius),
                     key=lambda r: float(r["transference_number"]))
        for ax, col in zip(axes, QUANTITY, strict=True):
            ax.plot([float(r["transference_number"]) for r in sel], [float(r[col]) for r in sel],
                    "o-", color=f"C{n}", label=f"r = {radius:g} µm")
            if radius in base:
                ax.axhline(float(base[radius][col]), color=f"C{n}", ls="--", lw=1,
                           label=f"r = {radius:g} µm, t+(c_e) (default)")
    for ax, (what, unit) in zip(axes, QUANTITY.values(), strict=True):
        ax.set(xlabel="constant transference number t+", ylabel=f"{what} ({unit})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"LIB perforated, {i:g} mA/cm²: the t+ sweep")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "transference.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    return [path]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder of study directories")
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/figures/study_size"))
    args = ap.parse_args()
    for d in sorted(p for p in args.root.iterdir() if (p / "results.csv").is_file()):
        with tempfile.TemporaryDirectory() as tmp:
            pngs = [p for p in plot_study(d, tmp) if p.suffix == ".png"]
            target = args.output / d.name
            target.mkdir(parents=True, exist_ok=True)
            for p in pngs:
                shutil.copy(p, target / p.name)
                print(target / p.name)
    normal, rev = args.root / "layered_assb", args.root / "layered_assb_reversed"
    if (rev / "results.csv").is_file():
        for p in plot_reversed(normal, rev, args.output / rev.name):
            print(p)
    sweep = args.root / "transference_lib"
    if (sweep / "results.csv").is_file():
        for p in plot_transference(sweep, args.root / "perforated_lib", args.output / sweep.name):
            print(p)


if __name__ == "__main__":
    main()
