"""The structuring study's headline trends from finished study directories.

Run the trend configs first (each a resumable study; see benchmarks/trends/*.toml):

    fem-assb study --config benchmarks/trends/layered_assb.toml -o trends/layered
    fem-assb study --config benchmarks/trends/layered_assb_reversed.toml -o trends/layered_rev
    fem-assb study --config benchmarks/trends/layered_assb_fine.toml -o trends/layered_fine
    fem-assb study --config benchmarks/trends/perforated_assb.toml -o trends/perforated_assb
    fem-assb study --config benchmarks/trends/transference_lib.toml -o trends/transference
    fem-assb study --config benchmarks/trends/perforated_lib.toml -o trends/perforated_lib

then ``python benchmarks/trend_table.py trends`` prints a Markdown table: each trend with
the study's number beside ours. Missing study directories are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fem_assb.studies.runner import read_table


def _rows(path: Path) -> list[dict]:
    rows = read_table(path / "results.csv")
    for r in rows:
        for k in ("current_density_mA_cm2", "radius_um", "f_l60", "transference_number",
                  "capacity_mAh_cm2", "energy_density_Wh_kg"):
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
    return rows


def _select(rows, **eq) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in eq.items())]


def _best(rows, x: str, y: str):
    """(x of the maximum of y, max y − y at x = 0) over rows sharing everything else."""
    base = [r for r in rows if r[x] == 0.0]
    if len({r[x] for r in rows}) < 2 or not base:
        return None, None
    top = max(rows, key=lambda r: r[y])
    return top[x], top[y] - base[0][y]


def perforated_lib_radius(rows) -> list[tuple[str, str, str]]:
    out = []
    sel = _select(rows, current_density_mA_cm2=8.0)
    r_best, gain = _best(sel, "radius_um", "capacity_mAh_cm2")
    if r_best is not None:
        out.append(("LIB 8 mA/cm², t+(c_e): best r, capacity gain over r = 0",
                    "r ≈ 16 µm, +0.6 mAh/cm²", f"r = {r_best:g} µm, {gain:+.2f} mAh/cm²"))
    low = sorted(_select(rows, current_density_mA_cm2=1.0), key=lambda r: r["radius_um"])
    if len(low) >= 2:
        caps = [r["capacity_mAh_cm2"] for r in low]
        falls = all(b < a for a, b in zip(caps, caps[1:], strict=False))
        text = ", ".join(f"{c:.2f}" for c in caps)
        out.append(("LIB 1 mA/cm²: capacity vs r", "larger channels only lose capacity",
                    f"{text} mAh/cm² (r = {', '.join(f'{r['radius_um']:g}' for r in low)} µm):"
                    f" {'falls' if falls else 'does not fall'} monotonically"))
    return out


def perforated_lib(rows) -> list[tuple[str, str, str]]:
    out = []
    tps = sorted({r["transference_number"] for r in rows if r["transference_number"] is not None})
    helps = {}
    for tp in tps:
        sel = _select(rows, transference_number=tp, current_density_mA_cm2=8.0)
        r_best, _ = _best(sel, "radius_um", "capacity_mAh_cm2")
        if r_best is None:  # fewer than two radii, or no r = 0
            continue
        base = _select(sel, radius_um=0.0)[0]["capacity_mAh_cm2"]
        helps[tp] = any(r["capacity_mAh_cm2"] > base for r in sel if r["radius_um"] > 0)
        gains = ", ".join(f"r = {r['radius_um']:g}: {r['capacity_mAh_cm2'] - base:+.2f}"
                          for r in sorted(sel, key=lambda r: r["radius_um"]) if r["radius_um"])
        out.append((f"LIB 8 mA/cm², t+ = {tp:g}: capacity gain over r = 0 (mAh/cm²)",
                    "gain shrinks as t+ rises; none for t+ > 0.7",
                    f"{gains} (r = 0: {base:.2f}); best r = {r_best:g} µm"))
    if helps:
        stop = sorted(t for t, h in helps.items() if not h)
        below = [t for t, h in helps.items() if h and stop and t < stop[0]]
        if not stop:
            ours = f"none up to t+ = {max(helps):g}"
        elif not below:
            ours = f"≤ {stop[0]:g}"
        else:
            ours = f"between {max(below):g} and {stop[0]:g}"
        out.append(("LIB 8 mA/cm²: t+ from which channels stop helping", "≈ 0.7", ours))
    return out


def perforated_assb(rows) -> list[tuple[str, str, str]]:
    sel = _select(rows, current_density_mA_cm2=8.0)
    r_best, gain = _best(sel, "radius_um", "energy_density_Wh_kg")
    if r_best is None:
        return []
    out = [("ASSB perforated 8 mA/cm²: best r, energy gain", "r = 20 µm, ≈ +14 Wh/kg",
            f"r = {r_best:g} µm, {gain:+.0f} Wh/kg")]
    low = sorted(_select(rows, current_density_mA_cm2=1.0), key=lambda r: r["radius_um"])
    if low:
        util = [r["capacity_mAh_cm2"] / float(r["theoretical_capacity_mAh_cm2"]) for r in low]
        out.append(("ASSB perforated 1 mA/cm²: utilisation (capacity / theoretical) vs r",
                    "far below 1 even at 1 mA/cm²; drops with r",
                    ", ".join(f"{u:.3f} (r = {r['radius_um']:g})"
                              for u, r in zip(util, low, strict=True))))
    return out


def layered(rows, reversed_rows, label: str = "") -> list[tuple[str, str, str]]:
    study = {4.0: "f = 0.5; —", 6.0: "f = 0.8; > 50 Wh/kg", 8.0: "f = 0.9; > 50, up to ≈ 90 Wh/kg"}
    out = []
    for i in sorted({r["current_density_mA_cm2"] for r in rows}):
        sel = _select(rows, current_density_mA_cm2=i)
        f_cap, _ = _best(sel, "f_l60", "capacity_mAh_cm2")
        f_e, gain = _best(sel, "f_l60", "energy_density_Wh_kg")
        if f_cap is None:
            continue
        out.append((f"ASSB layered{label} {i:g} mA/cm²: best f (capacity); best energy "
                    "gain over f = 0",
                    study.get(i, "—"),
                    f"f = {f_cap:g}; f = {f_e:g}, {gain:+.0f} Wh/kg"))
    for r in reversed_rows:
        same = _select(rows, current_density_mA_cm2=r["current_density_mA_cm2"],
                       f_l60=r["f_l60"])
        if same:
            d = r["energy_density_Wh_kg"] - same[0]["energy_density_Wh_kg"]
            out.append((f"ASSB layered {r['current_density_mA_cm2']:g} mA/cm², f = "
                        f"{r['f_l60']:g}: reversed − normal", "clearly worse",
                        f"{d:+.0f} Wh/kg"))
    return out


def layered_conductivity(path: Path) -> list[tuple[str, str, str]]:
    rows = [r for r in read_table(path / "structures.csv") if r["reversed"] == "False"]
    if len(rows) < 3:
        return []
    pts = sorted((float(r["f_l60"]), float(r["relative_conductivity"])) for r in rows)
    (f0, s0), (f1, s1) = pts[0], pts[-1]
    # a super-linear (convex) rise lies below the chord between the end points
    dev = [(s0 + (s1 - s0) * (f - f0) / (f1 - f0) - s) / (s1 - s0) for f, s in pts[1:-1]]
    shape = ("super-linear" if min(dev) > 0.05 else "sub-linear" if max(dev) < -0.05
             else "about linear")
    text = ", ".join(f"{s:.3f} (f = {f:g})" for f, s in pts)
    return [(f"ASSB layered ({path.name}): σ_eff/σ_bulk vs f", "rises super-linearly",
             f"{text}: {shape}")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder holding the trend study directories")
    root = ap.parse_args().root
    lines = []
    lines += perforated_lib_radius(_rows(root / "perforated_lib"))
    lines += perforated_lib(_rows(root / "transference"))
    lines += perforated_assb(_rows(root / "perforated_assb"))
    lines += layered(_rows(root / "layered"), _rows(root / "layered_rev"))
    lines += layered_conductivity(root / "layered")
    lines += layered(_rows(root / "layered_fine"), [], " (finer)")
    lines += layered_conductivity(root / "layered_fine")
    print("| trend | study | fem_assb |\n|---|---|---|")
    for row in lines:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
