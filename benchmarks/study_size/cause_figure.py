"""The ASSB diagnostic runs of item 5 in one figure: mean CAM utilisation along x at the
cut-off (8 mA/cm²) for every case under ``benchmarks/results/study_size/cause/*``,
labelled with the parameters each run changed and its capacity.

    python benchmarks/study_size/cause_figure.py benchmarks/results/study_size/cause \
        -o docs/figures/study_size/cause_assb.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure

from fem_assb.analysis.tables import read_table


def _changes(study: dict) -> str:
    """What the run's parameter overrides change, in words."""
    p = study.get("parameters", {})
    out = []
    if "diffusivity_solid" in p.get("cam", {}):
        out.append(f"D_s = {p['cam']['diffusivity_solid']:g} m²/s")
    if "conductivity" in p.get("solid_electrolyte", {}):
        out.append(f"σ_SE = {p['solid_electrolyte']['conductivity']:g} S/m")
    return ", ".join(out) or "defaults"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder of the diagnostic study directories")
    ap.add_argument("-o", "--output", type=Path, required=True, help="PNG file")
    args = ap.parse_args()
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for d in sorted(p for p in args.root.iterdir() if (p / "results.csv").is_file()):
        what = _changes(json.loads((d / "study.json").read_text()))
        for r in read_table(d / "results.csv"):
            prof = json.loads((d / "cases" / r["case"] / "profiles.json").read_text())
            u = [float("nan") if v is None else v for v in prof["cam_utilisation"]]
            ax.plot(prof["x_um"], u, label=f"{what}, r = {float(r['radius_um']):g} µm: "
                    f"{float(r['capacity_mAh_cm2']):.2f} mAh/cm², "
                    f"{float(r['energy_density_Wh_kg']):.0f} Wh/kg")
    ax.set(xlabel="x from the separator (µm)", ylabel="mean CAM utilisation at the cut-off",
           title="ASSB perforated, 8 mA/cm², 1 µm: what limits the capacity", ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=150)
    print(args.output)


if __name__ == "__main__":
    main()
