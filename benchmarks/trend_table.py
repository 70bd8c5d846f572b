"""The structuring study's headline trends from finished study directories.

Each DIR is a study directory (``results.csv``, ``structures.csv``, ``study.json``) or a
folder holding such directories. Rows of all of them are pooled and sorted into the
study's trends by what they are: perforated (a radius) or layered (a fraction f_L60),
LIB or ASSB, a constant t+ or t+(c_e), normal or reversed stacking.

    python benchmarks/trend_table.py benchmarks/results/study_size           # Markdown
    python benchmarks/trend_table.py benchmarks/results/study_size --json    # one object

The study-size runs: ``benchmarks/study_size/*.toml`` (1 µm voxels, the study's boxes);
the reduced-size ones: ``benchmarks/trends/*.toml``. JSON keys (user units in the names;
maps keyed by the axis value as a string, ``null`` where the tables lack the cases):
``resolution_um``, ``lib_perforated_8mA`` {best_radius_um, capacity_gain_mAh_cm2},
``lib_perforated_1mA_capacity`` {r: mAh/cm²}, ``lib_transference`` {t+: capacity gain
of the best radius}, ``assb_perforated_8mA`` {best_radius_um, energy_gain_Wh_kg},
``assb_perforated_1mA_utilisation`` {r: capacity/theoretical},
``assb_layered`` {mA/cm²: {best_f, best_f_energy, energy_gain_Wh_kg,
capacity_gain_mAh_cm2}}, ``assb_layered_reversed_minus_normal_Wh_kg`` {f: value at the
highest current with reversed cases}, ``sigma_eff_vs_f`` {f: σ_eff/σ_bulk}.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from fem_assb.analysis.tables import read_table

FLOATS = ("current_density_mA_cm2", "radius_um", "f_l60", "transference_number",
          "capacity_mAh_cm2", "energy_density_Wh_kg", "theoretical_capacity_mAh_cm2",
          "relative_conductivity")


def study_dirs(paths) -> list[Path]:
    """The study directories among ``paths`` and their immediate subfolders."""
    out = []
    for p in map(Path, paths):
        if (p / "results.csv").is_file() or (p / "structures.csv").is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(q for q in p.iterdir()
                          if (q / "results.csv").is_file() or (q / "structures.csv").is_file())
    return out


def _typed(rows: list[dict], resolution: float | None) -> list[dict]:
    for r in rows:
        for k in FLOATS:
            if k in r:
                r[k] = float(r[k]) if r[k] not in (None, "") else None
        if "reversed" in r:
            r["reversed"] = r["reversed"] == "True"
        r["resolution_um"] = resolution
    return rows


# what makes two studies' rows comparable: the same cell (box, voxels, composition,
# separator, refinement) and the same physics (parameters, cut-off)
SETTING_KEYS = ("geometry", "separator_um", "refine", "cutoff_V", "parameters", "layout",
                "layer_cam_fractions")


class MixedStudies(SystemExit):
    """Rows of one trend from studies of different boxes or parameters."""


def setting(doc: dict, family: str) -> str:
    """A study's setting as text (layered studies: the layer CAM contents count; the
    seed of a structure does not make another setting)."""
    keys = SETTING_KEYS if family == "layered" else SETTING_KEYS[:-1]
    return json.dumps({k: doc.get(k) for k in keys}, sort_keys=True)


def load(paths) -> tuple[list[dict], list[dict]]:
    """(results rows, structure rows) of all study directories, typed. Rows of one
    family and electrolyte from studies of different settings are refused
    (``MixedStudies``: their trends would mix boxes or parameters)."""
    results, structures, seen = [], [], {}
    for d in study_dirs(paths):
        res = None
        if (d / "study.json").is_file():
            doc = json.loads((d / "study.json").read_text())
            res = doc["geometry"]["voxel_size_um"] / doc.get("refine", 1)
            for ele in doc.get("electrolytes", []):
                key = (doc.get("family"), ele)
                seen.setdefault(key, {}).setdefault(setting(doc, key[0]), []).append(d)
        results += _typed(read_table(d / "results.csv"), res)
        structures += _typed(read_table(d / "structures.csv"), res)
    for (family, ele), settings in seen.items():
        if len(settings) > 1:
            dirs = [", ".join(map(str, ds)) for ds in settings.values()]
            raise MixedStudies(f"{family} {ele} studies of different boxes or parameters: "
                               + " | ".join(dirs) + "; give them to separate calls")
    return results, structures


def _select(rows, **eq) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in eq.items())]


def _key(x: float) -> str:
    return f"{x:g}"


def _best(rows, x: str, y: str):
    """(x of the maximum of y, max y − y at x = 0) over rows sharing everything else."""
    base = [r for r in rows if r[x] == 0.0]
    if len({r[x] for r in rows}) < 2 or not base:
        return None, None
    top = max(rows, key=lambda r: r[y])
    return top[x], top[y] - base[0][y]


def _perforated(rows, electrolyte: str, tp=None) -> list[dict]:
    return [r for r in rows if r.get("radius_um") is not None and r["electrolyte"] == electrolyte
            and r.get("transference_number") == tp]


def _layered(rows, rev: bool = False) -> list[dict]:
    return [r for r in rows if r.get("f_l60") is not None and r.get("reversed") == rev
            and r["electrolyte"] == "solid"]


def trends(results: list[dict], structures: list[dict]) -> dict:
    """The study's trends as one JSON-ready object (see the module docstring)."""
    out: dict = {"resolution_um": None}
    res = sorted({r["resolution_um"] for r in results if r["resolution_um"] is not None})
    out["resolution_um"] = res[0] if len(res) == 1 else (res or None)

    lib = _perforated(results, "liquid")
    r_best, gain = _best(_select(lib, current_density_mA_cm2=8.0), "radius_um",
                         "capacity_mAh_cm2")
    out["lib_perforated_8mA"] = {"best_radius_um": r_best, "capacity_gain_mAh_cm2": gain}
    out["lib_perforated_1mA_capacity"] = {
        _key(r["radius_um"]): r["capacity_mAh_cm2"]
        for r in sorted(_select(lib, current_density_mA_cm2=1.0), key=lambda r: r["radius_um"])}

    tps = sorted({r["transference_number"] for r in results
                  if r.get("transference_number") is not None})
    out["lib_transference"] = {}
    out["lib_transference_best_radius_um"] = {}
    for tp in tps:
        sel = _select(_perforated(results, "liquid", tp), current_density_mA_cm2=8.0)
        r_best, gain = _best(sel, "radius_um", "capacity_mAh_cm2")
        if r_best is not None:
            out["lib_transference"][_key(tp)] = gain
            out["lib_transference_best_radius_um"][_key(tp)] = r_best

    assb = _perforated(results, "solid")
    r_best, gain = _best(_select(assb, current_density_mA_cm2=8.0), "radius_um",
                         "energy_density_Wh_kg")
    out["assb_perforated_8mA"] = {"best_radius_um": r_best, "energy_gain_Wh_kg": gain}
    out["assb_perforated_1mA_utilisation"] = {
        _key(r["radius_um"]): r["capacity_mAh_cm2"] / r["theoretical_capacity_mAh_cm2"]
        for r in sorted(_select(assb, current_density_mA_cm2=1.0), key=lambda r: r["radius_um"])}

    normal, rev = _layered(results), _layered(results, True)
    out["assb_layered"] = {}
    for i in sorted({r["current_density_mA_cm2"] for r in normal}):
        sel = _select(normal, current_density_mA_cm2=i)
        f_cap, cap_gain = _best(sel, "f_l60", "capacity_mAh_cm2")
        f_e, e_gain = _best(sel, "f_l60", "energy_density_Wh_kg")
        if f_cap is not None:
            out["assb_layered"][_key(i)] = {"best_f": f_cap, "best_f_energy": f_e,
                                            "energy_gain_Wh_kg": e_gain,
                                            "capacity_gain_mAh_cm2": cap_gain}
    out["assb_layered_reversed_minus_normal_Wh_kg"] = {}
    if rev:
        i_top = max(r["current_density_mA_cm2"] for r in rev)
        for r in sorted(_select(rev, current_density_mA_cm2=i_top), key=lambda r: r["f_l60"]):
            same = _select(normal, current_density_mA_cm2=i_top, f_l60=r["f_l60"])
            if same:
                out["assb_layered_reversed_minus_normal_Wh_kg"][_key(r["f_l60"])] = \
                    r["energy_density_Wh_kg"] - same[0]["energy_density_Wh_kg"]
        out["assb_layered_reversed_current_mA_cm2"] = i_top
    sig = {}
    for s in _layered(structures):
        if s.get("relative_conductivity") is not None:
            sig[s["f_l60"]] = s["relative_conductivity"]
    out["sigma_eff_vs_f"] = {_key(f): sig[f] for f in sorted(sig)}
    return out


def _shape(points: dict) -> str:
    """'super-linear' if the interior points lie below the chord of the end points."""
    pts = sorted((float(f), s) for f, s in points.items())
    if len(pts) < 3:
        return "—"
    (f0, s0), (f1, s1) = pts[0], pts[-1]
    dev = [(s0 + (s1 - s0) * (f - f0) / (f1 - f0) - s) / (s1 - s0) for f, s in pts[1:-1]]
    return ("super-linear" if min(dev) > 0.05 else "sub-linear" if max(dev) < -0.05
            else "about linear")


def markdown(t: dict) -> str:
    """The trends as a Markdown table: the study's number beside ours."""
    def num(x, fmt):
        return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)

    rows = []
    lp = t["lib_perforated_8mA"]
    if lp["best_radius_um"] is not None:
        rows.append(("LIB 8 mA/cm²: best r, capacity gain over r = 0", "r ≈ 16 µm, +0.6 mAh/cm²",
                     f"r = {num(lp['best_radius_um'], 'g')} µm, "
                     f"{num(lp['capacity_gain_mAh_cm2'], '+.2f')} mAh/cm²"))
    if len(t["lib_perforated_1mA_capacity"]) > 1:
        caps = list(t["lib_perforated_1mA_capacity"].values())
        falls = all(b < a for a, b in zip(caps, caps[1:], strict=False))
        rows.append(("LIB 1 mA/cm²: capacity vs r", "larger channels only lose capacity",
                     ", ".join(f"{c:.2f} (r = {r})" for r, c in
                               t["lib_perforated_1mA_capacity"].items())
                     + f": {'falls' if falls else 'does not fall'} monotonically"))
    if t["lib_transference"]:
        rows.append(("LIB 8 mA/cm², t+ swept: capacity gain of the best r over r = 0",
                     "shrinks as t+ rises; none for t+ > 0.7",
                     ", ".join(f"t+ = {tp}: {g:+.2f} (r = "
                               f"{t['lib_transference_best_radius_um'][tp]:g})"
                               for tp, g in t["lib_transference"].items())))
    ap = t["assb_perforated_8mA"]
    if ap["best_radius_um"] is not None:
        rows.append(("ASSB perforated 8 mA/cm²: best r, energy gain", "r = 20 µm, ≈ +14 Wh/kg",
                     f"r = {ap['best_radius_um']:g} µm, {ap['energy_gain_Wh_kg']:+.1f} Wh/kg"))
    if t["assb_perforated_1mA_utilisation"]:
        rows.append(("ASSB perforated 1 mA/cm²: utilisation vs r",
                     "far below 1 even at 1 mA/cm²; drops with r",
                     ", ".join(f"{u:.3f} (r = {r})"
                               for r, u in t["assb_perforated_1mA_utilisation"].items())))
    study = {"4": "f = 0.5", "6": "f = 0.8; > 50 Wh/kg", "8": "f = 0.9; > 50, up to ≈ 90 Wh/kg"}
    for i, v in t["assb_layered"].items():
        rows.append((f"ASSB layered {i} mA/cm²: best f (capacity); energy gain over f = 0",
                     study.get(i, "—"), f"f = {v['best_f']:g}; {v['energy_gain_Wh_kg']:+.1f} "
                     f"Wh/kg (best energy at f = {v['best_f_energy']:g})"))
    if t["assb_layered_reversed_minus_normal_Wh_kg"]:
        rows.append((f"ASSB layered {t['assb_layered_reversed_current_mA_cm2']:g} mA/cm²: "
                     "reversed − normal", "clearly worse",
                     ", ".join(f"f = {f}: {d:+.1f} Wh/kg" for f, d in
                               t["assb_layered_reversed_minus_normal_Wh_kg"].items())))
    if t["sigma_eff_vs_f"]:
        rows.append(("ASSB layered: σ_eff/σ_bulk vs f", "rises super-linearly",
                     ", ".join(f"{s:.3f} (f = {f})" for f, s in t["sigma_eff_vs_f"].items())
                     + f": {_shape(t['sigma_eff_vs_f'])}"))
    head = f"resolution: {t['resolution_um']} µm\n\n| trend | study | fem_assb |\n|---|---|---|"
    return "\n".join([head] + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path,
                    help="study directories, or folders holding study directories")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    t = trends(*load(args.dirs))
    print(json.dumps(t, indent=2) if args.json else markdown(t))


if __name__ == "__main__":
    main()
