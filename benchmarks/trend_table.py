"""The study's headline trends (science.md §5) from finished study directories.

Run the trend configs first (each a resumable study; see benchmarks/trends/*.toml):

    fem-assb study --config benchmarks/trends/layered_assb.toml -o trends/layered
    fem-assb study --config benchmarks/trends/layered_assb_reversed.toml -o trends/layered_rev
    fem-assb study --config benchmarks/trends/perforated_assb.toml -o trends/perforated_assb
    fem-assb study --config benchmarks/trends/transference_lib.toml -o trends/transference

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
    if not rows or not base:
        return None, None
    top = max(rows, key=lambda r: r[y])
    return top[x], top[y] - base[0][y]


def perforated_lib(rows) -> list[tuple[str, str, str]]:
    out = []
    tps = sorted({r["transference_number"] for r in rows if r["transference_number"] is not None})
    above = []
    for tp in tps:
        sel = _select(rows, transference_number=tp, current_density_mA_cm2=8.0)
        r_best, gain = _best(sel, "radius_um", "capacity_mAh_cm2")
        if r_best is None:
            continue
        base = _select(sel, radius_um=0.0)[0]["capacity_mAh_cm2"]
        worse = all(r["capacity_mAh_cm2"] < base for r in sel if r["radius_um"] > 0)
        if worse:
            above.append(tp)
        out.append((f"LIB 8 mA/cm², t+ = {tp:g}: best r, gain over r = 0",
                    "t+(c): r ≈ 16 µm, +0.6 mAh/cm²" if tp == tps[0] else
                    ("all perforated below r = 0 for t+ > 0.7" if tp > 0.7 else "gain shrinks"),
                    f"r = {r_best:g} µm, {gain:+.2f} mAh/cm² (r = 0: {base:.2f})"))
    if tps:
        out.append(("LIB 8 mA/cm²: t+ above which channels stop helping", "≈ 0.7",
                    f"{min(above):g}" if above else f"none up to {max(tps):g}"))
    return out


def perforated_assb(rows) -> list[tuple[str, str, str]]:
    sel = _select(rows, current_density_mA_cm2=8.0)
    r_best, gain = _best(sel, "radius_um", "energy_density_Wh_kg")
    if r_best is None:
        return []
    return [("ASSB perforated 8 mA/cm²: best r, energy gain", "r = 20 µm, ≈ +14 Wh/kg",
             f"r = {r_best:g} µm, {gain:+.0f} Wh/kg")]


def layered(rows, reversed_rows) -> list[tuple[str, str, str]]:
    study = {4.0: "f = 0.5", 6.0: "f = 0.8", 8.0: "f = 0.9"}
    out = []
    for i in sorted({r["current_density_mA_cm2"] for r in rows}):
        sel = _select(rows, current_density_mA_cm2=i)
        f_cap, _ = _best(sel, "f_l60", "capacity_mAh_cm2")
        f_e, gain = _best(sel, "f_l60", "energy_density_Wh_kg")
        if f_cap is None:
            continue
        out.append((f"ASSB layered {i:g} mA/cm²: best f (capacity); best energy gain over f = 0",
                    f"{study.get(i, '')}; " + (">50 Wh/kg (≈ 90 at 8)" if i >= 6 else "—"),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder holding the trend study directories")
    root = ap.parse_args().root
    lines = []
    lines += perforated_lib(_rows(root / "transference"))
    lines += perforated_assb(_rows(root / "perforated_assb"))
    lines += layered(_rows(root / "layered"), _rows(root / "layered_rev"))
    print("| trend | study (science.md §5) | fem_assb |\n|---|---|---|")
    for row in lines:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
