"""Studies: the built-in quick sweeps end to end on tiny structures (trends that must
hold), resuming after an interruption, parallel jobs, figures, serial = 2 ranks."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fem_assb._dolfinx import MPI
from fem_assb.materials import ParameterError
from fem_assb.studies import expand, load_config, read_table, run_study
from fem_assb.studies import runner as runner_mod
from fem_assb.viz.study_plots import plot_study

TINY = {"geometry": {"size_um": [12, 8, 8], "voxel_size_um": 2.0, "mean_diameter_um": 5.0},
        "separator_um": 4}


def _tiny(name, **extra):
    return load_config(name, quick=True, overrides={**TINY, **extra})


def _by(rows, **match):
    return [r for r in rows if all(str(r[k]) == str(v) for k, v in match.items())]


def _cap(rows, **match):
    (r,) = _by(rows, **match)
    return float(r["capacity_mAh_cm2"])


@pytest.fixture(scope="module")
def perforated_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("perforated")
    run_study(_tiny("perforated", radii_um=[0, 4]), out, comm=MPI.COMM_SELF, progress=False)
    return out


def test_perforated_quick_study(perforated_dir):
    rows = read_table(perforated_dir / "results.csv")
    assert len(rows) == 8 and not (perforated_dir / "failed.csv").exists()
    for r in rows:
        assert float(r["lithium_balance_error"]) < 1e-8
        assert float(r["max_charge_balance_error"]) < 1e-8
        if r["electrolyte"] == "liquid":
            assert float(r["salt_balance_error"]) < 1e-8
        assert 0 < float(r["capacity_mAh_cm2"]) < float(r["theoretical_capacity_mAh_cm2"])
    for ele in ("liquid", "solid"):
        for r_um in ("0.0", "4.0"):  # capacity falls with the current density
            assert (_cap(rows, electrolyte=ele, radius_um=r_um, current_density_mA_cm2=8.0)
                    < _cap(rows, electrolyte=ele, radius_um=r_um, current_density_mA_cm2=1.0))
    st = {s["structure"]: s for s in read_table(perforated_dir / "structures.csv")}
    for cell in ("lib", "assb"):  # a channel: less CAM, better ion conduction
        a, b = st[f"{cell}_r0"], st[f"{cell}_r4"]
        assert float(b["theoretical_capacity_mAh_cm2"]) < float(a["theoretical_capacity_mAh_cm2"])
        assert float(b["relative_conductivity"]) > float(a["relative_conductivity"])
    prof = json.loads((perforated_dir / "cases" / "lib_r0_i8" / "profiles.json").read_text())
    assert "electrolyte_concentration_mol_m3" in prof
    # 3D picture of the end state at the highest current only (Fig. 6d/9)
    assert (perforated_dir / "cases" / "assb_r4_i8" / "fields.png").stat().st_size > 20_000
    assert not (perforated_dir / "cases" / "assb_r4_i1" / "fields.png").exists()


def test_plot_writes_figures(perforated_dir, tmp_path):
    from click.testing import CliRunner

    from fem_assb.cli import main

    r = CliRunner().invoke(main, ["plot", str(perforated_dir)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    names = {p.name for p in (perforated_dir / "figures").iterdir()}
    for stem in ("structures", "performance_lib", "performance_assb", "profiles_lib",
                 "profiles_assb"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    # the tables alone (case folders gone): the same figures but no empty profile plots
    tables = tmp_path / "tables"
    tables.mkdir()
    for name in ("results.csv", "structures.csv", "study.json"):
        shutil.copy(perforated_dir / name, tables / name)
    names = {p.name for p in plot_study(tables, tmp_path / "figs")}
    assert {"performance_lib.png", "structures.png"} <= names
    assert not any(n.startswith("profiles") for n in names)


def test_transference_quick_study_in_parallel_jobs(tmp_path):
    cfg = _tiny("transference", radii_um=[0])
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, jobs=2, progress=False)
    rows = read_table(tmp_path / "results.csv")
    assert sorted(r["case"] for r in rows) == ["lib_r0_i8_tp0.3", "lib_r0_i8_tp1"]
    # a higher transference number leaves less salt polarisation: more capacity, and at
    # t+ = 1 the electrolyte concentration does not move
    assert _cap(rows, transference_number=1.0) > _cap(rows, transference_number=0.3)
    (one,) = _by(rows, transference_number=1.0)
    assert float(one["min_electrolyte_concentration_mol_m3"]) == pytest.approx(1000, rel=1e-9)


class _Killed(Exception):
    """Stands for the process being killed (not an error the runner records)."""


def test_layered_quick_study_and_resume(tmp_path, monkeypatch):
    cfg = _tiny("layered", current_densities_mA_cm2=[8])
    ids = [c.id for c in expand(cfg)]
    assert ids == ["assb_f0_i8", "assb_f0.5_i8", "assb_f1_i8"]
    calls = []
    real = runner_mod.run_case

    def interrupted(cfg_, case, *a, **k):  # the second case is killed half-way
        calls.append(case.id)
        if case.id == ids[1] and len(calls) == 2 and not (tmp_path / "cases" / case.id).exists():
            (tmp_path / "cases" / case.id).mkdir(parents=True)
            (tmp_path / "cases" / case.id / "voltage.csv").write_text("time_s\n0\n")
            raise _Killed
        return real(cfg_, case, *a, **k)

    monkeypatch.setattr(runner_mod, "run_case", interrupted)
    with pytest.raises(_Killed):
        run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    assert [r["case"] for r in read_table(tmp_path / "results.csv")] == ids[:1]
    calls.clear()
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    assert calls == ids[1:]  # the finished case is reused, the interrupted one redone
    rows = read_table(tmp_path / "results.csv")
    assert [r["case"] for r in rows] == ids
    st = {s["structure"]: s for s in read_table(tmp_path / "structures.csv")}
    cam = [float(st[f"assb_f{f}"]["cam_fraction"]) for f in ("0", "0.5", "1")]
    assert cam[0] > cam[1] > cam[2]  # more L60 (60 vol% CAM), less CAM


def test_bad_study_config_is_named(tmp_path):
    with pytest.raises(ParameterError, match="radii_um"):
        load_config("perforated", overrides={"radii_um": [-1]})
    with pytest.raises(ParameterError, match="cam.c_mx"):
        load_config("perforated", overrides={"parameters": {"cam": {"c_mx": 1}}})
    with pytest.raises(ParameterError, match="neither a built-in"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "s.toml").write_text('name = "x"\nfamily = "perforated"\nradius = [1]\n')
    with pytest.raises(ParameterError, match="radius"):
        load_config(tmp_path / "s.toml")


def test_set_lands_in_the_study_parameters(tmp_path, monkeypatch):
    """fem-assb study NAME --config FILE --set K=V: the file's [parameters] and --set
    merge (--set wins), and the case parameters carry both."""
    from click.testing import CliRunner

    import fem_assb.studies as studies_mod
    from fem_assb.cli import main

    seen = {}

    def fake_run(cfg, output, **kw):
        seen["cfg"] = cfg
        return Path(output) / "results.csv"

    monkeypatch.setattr(studies_mod, "run_study", fake_run)
    monkeypatch.setattr(runner_mod, "pending_cases", lambda cfg, out: [])
    (tmp_path / "c.toml").write_text("[parameters.solid_electrolyte]\nconductivity = 0.02\n"
                                     "density = 1900.0\n")
    r = CliRunner().invoke(main, ["study", "layered", "--quick", "--config",
                                  str(tmp_path / "c.toml"), "--set",
                                  "solid_electrolyte.conductivity=0.5", "--set",
                                  "cam.alpha=0.4", "-o", str(tmp_path / "s"), "--no-plot"])
    assert r.exit_code == 0, r.output
    cfg = seen["cfg"]
    assert cfg.parameters == {"solid_electrolyte": {"conductivity": 0.5, "density": 1900.0},
                              "cam": {"alpha": 0.4}}
    assert cfg.layer_fractions == load_config("layered", quick=True).layer_fractions
    p = runner_mod._params(cfg, expand(cfg)[0])
    assert p.solid_electrolyte.conductivity == 0.5 and p.cam.alpha == 0.4


def test_a_tabulated_parameter_is_replaced_whole():
    """A {x, y} table over a {x, y, interpolation = "log"} one replaces it: the log of
    the base does not leak into the new table (whose interpolation is the default,
    linear), in the merge of study configs as in the parameter set's own merge."""
    from fem_assb.studies.config import merge_configs

    base = {"parameters": {"cam": {"conductivity": {"x": [0.2, 1.0], "y": [1.0, 1e-4],
                                                    "interpolation": "log"}}}}
    over = {"parameters": {"cam": {"conductivity": {"x": [0.2, 1.0], "y": [2.0, 1.0]}}}}
    merged = merge_configs(base, over)
    assert merged["parameters"]["cam"]["conductivity"] == {"x": [0.2, 1.0], "y": [2.0, 1.0]}
    cfg = load_config("layered", quick=True, overrides=merged)
    p = runner_mod._params(cfg, expand(cfg)[0])
    assert p.cam.conductivity.interpolation == "linear"
    assert merge_configs(base, {"parameters": {"cam": {"alpha": 0.4}}})["parameters"]["cam"] \
        == {**base["parameters"]["cam"], "alpha": 0.4}


@pytest.mark.mpi
def test_study_case_serial_equals_parallel(tmp_path_factory):
    cfg = _tiny("perforated", radii_um=[4], electrolytes=["liquid"],
                current_densities_mA_cm2=[8])
    out = [tmp_path_factory.mktemp("par"), tmp_path_factory.mktemp("ser")]
    out = MPI.COMM_WORLD.bcast(out, root=0)
    out[1] = out[1] / f"rank{MPI.COMM_WORLD.rank}"  # each rank's serial run: its own dir
    run_study(cfg, out[0], comm=MPI.COMM_WORLD, progress=False)
    run_study(cfg, out[1], comm=MPI.COMM_SELF, progress=False)
    MPI.COMM_WORLD.barrier()
    a, b = (read_table(o / "results.csv") for o in out)
    assert float(a[0]["capacity_mAh_cm2"]) == pytest.approx(float(b[0]["capacity_mAh_cm2"]),
                                                          rel=1e-8)
    np.testing.assert_allclose(float(a[0]["energy_mWh_cm2"]), float(b[0]["energy_mWh_cm2"]),
                               rtol=1e-8)


def test_maximise_finds_known_optimum_and_resumes(tmp_path):
    from fem_assb.studies.optimise import maximise, stick_breaking

    calls = []

    def f1(x):  # a smooth 1D profile with its peak at f = 0.8 (like Fig. 8 at 8 mA/cm²)
        calls.append(x)
        return 90.0 - 200.0 * (x[0] - 0.8) ** 2

    r = maximise(f1, [(0.0, 1.0)], max_evaluations=25, xatol=1e-3, log=tmp_path / "a.csv")
    assert r.x[0] == pytest.approx(0.8, abs=2e-3) and r.value == pytest.approx(90.0, abs=1e-3)
    n = len(calls)
    again = maximise(f1, [(0.0, 1.0)], max_evaluations=25, xatol=1e-3, log=tmp_path / "a.csv")
    assert len(calls) == n and again.x == r.x  # every point is taken from the log

    def f3(x):  # optimum on the boundary of the box in one variable
        return -((x[0] - 0.3) ** 2) - (x[1] - 0.62) ** 2 - 0.5 * (x[2] - 1.0) ** 2

    r3 = maximise(f3, [(0, 1), (0.5, 0.75), (0, 0.8)], max_evaluations=200, xatol=1e-4)
    np.testing.assert_allclose(r3.x, [0.3, 0.62, 0.8], atol=5e-3)
    assert sum(stick_breaking([0.25, 0.5])) == pytest.approx(1.0)
    assert stick_breaking([0.25, 0.5]) == pytest.approx([0.25, 0.375, 0.375])


def test_changed_config_does_not_reuse_old_results(tmp_path):
    """Finished cases are reused by what determines them, not by name: a new radius in
    the sweep runs only itself; a changed cut-off is refused (the old rows would stand
    beside the new ones)."""
    from fem_assb.studies.runner import StudyMismatch, case_key

    base = dict(radii_um=[0], electrolytes=["solid"], current_densities_mA_cm2=[8],
                conductivity=False, render=False)
    cfg = _tiny("perforated", **base)
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    rows = read_table(tmp_path / "results.csv")
    assert [r["case_key"] for r in rows] == [case_key(cfg, c) for c in expand(cfg)]
    wider = _tiny("perforated", **{**base, "radii_um": [0, 4]})
    calls = []
    real = runner_mod.run_case
    monkey = pytest.MonkeyPatch()
    monkey.setattr(runner_mod, "run_case",
                   lambda c, case, *a, **k: calls.append(case.id) or real(c, case, *a, **k))
    run_study(wider, tmp_path, comm=MPI.COMM_SELF, progress=False)
    monkey.undo()
    assert len(calls) == 1 and "r4" in calls[0]
    with pytest.raises(StudyMismatch, match="another configuration"):
        run_study(_tiny("perforated", **base, cutoff_V=3.2), tmp_path, comm=MPI.COMM_SELF,
                  progress=False)
    assert len(read_table(tmp_path / "results.csv")) == 2
    other = {**TINY, "geometry": {**TINY["geometry"], "seed": 7}}
    with pytest.raises(StudyMismatch):  # another structure under the same names
        run_study(load_config("perforated", quick=True, overrides={**other, **base}),
                  tmp_path, comm=MPI.COMM_SELF, progress=False)
    st = read_table(tmp_path / "structures.csv")
    assert len(st) == 2 and all(r["structure_config_key"] for r in st)


def test_figures_leave_the_matplotlib_backend_alone(perforated_dir, tmp_path):
    """The library draws on Figure objects: it neither selects a backend nor starts
    pyplot (a notebook keeps its inline backend)."""
    code = ("import sys, matplotlib; from fem_assb.viz.study_plots import plot_study; "
            f"plot_study({str(perforated_dir)!r}, {str(tmp_path)!r}); "
            "from fem_assb.viz.structure import plot_sections; "
            "from fem_assb.structure import homogeneous; "
            "plot_sections(homogeneous(size_um=(8, 6, 6), mean_diameter_um=4), "
            f"{str(tmp_path / 's.png')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "print(matplotlib.rcParams['backend'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "MPLBACKEND": "svg"}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg"
    assert (tmp_path / "structures.png").stat().st_size > 10_000
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_torn_results_row_is_redone(tmp_path, monkeypatch):
    """A results row cut off by a killed write is not a finished case: the next run
    drops it, redoes that case only, and the table stays readable."""
    cfg = _tiny("perforated", radii_um=[0, 4], electrolytes=["solid"],
                current_densities_mA_cm2=[8], conductivity=False, render=False)
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    table = tmp_path / "results.csv"
    data = table.read_bytes()
    table.write_bytes(data[:-25])  # the last row torn mid-write
    assert [r["case"] for r in read_table(table)] == [expand(cfg)[0].id]
    calls = []
    real = runner_mod.run_case
    monkeypatch.setattr(runner_mod, "run_case",
                        lambda c, case, *a, **k: calls.append(case.id) or real(c, case, *a, **k))
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    assert calls == [expand(cfg)[1].id]
    rows = read_table(table)
    assert [r["case"] for r in rows] == [c.id for c in expand(cfg)]
    assert len(table.read_text().splitlines()) == 3


def test_quick_table_of_an_override_file(tmp_path):
    """`study NAME --config FILE --quick` with a [quick] table in FILE: it applies over
    the built-in [quick] table."""
    over = tomllib.loads("radii_um = [0, 2]\n[quick]\nradii_um = [0, 3]\n")
    cfg = load_config("perforated", quick=True, overrides=over)
    assert cfg.radii_um == [0, 3]
    assert load_config("perforated", quick=False, overrides=over).radii_um == [0, 2]


def test_interrupted_case_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """A case cut short (here: after 3 steps) leaves its checkpoint; the next run of the
    study continues it from there and ends where an uninterrupted case ends. A checkpoint
    of another rank count is set aside with a warning (the case starts again)."""
    from fem_assb import simulation as simulate

    cfg = _tiny("perforated", radii_um=[0], electrolytes=["solid"],
                current_densities_mA_cm2=[8], conductivity=False, render=False,
                checkpoint_minutes=1e-9)  # a checkpoint at every step
    (case,) = expand(cfg)
    ref = tmp_path / "ref"
    run_study(cfg, ref, comm=MPI.COMM_SELF, progress=False)
    (expected,) = read_table(ref / "results.csv")
    real, calls = simulate.Simulation.run, []

    def cut_short(self, experiment, options=None, **k):
        calls.append(options.resume)
        return real(self, experiment, options.with_(max_steps=3) if len(calls) == 1
                    else options, **k)

    monkeypatch.setattr(simulate.Simulation, "run", cut_short)
    out = tmp_path / "study"
    run_study(cfg, out, comm=MPI.COMM_SELF, progress=False)
    assert read_table(out / "results.csv") == []
    assert "max_steps" in read_table(out / "failed.csv")[0]["error"]
    ck = out / "cases" / case.id / "checkpoint" / "state.json"
    assert json.loads(ck.read_text())["run"]["steps"] == 3
    run_study(cfg, out, comm=MPI.COMM_SELF, progress=False)
    assert calls == [False, True]
    (row,) = read_table(out / "results.csv")
    assert not ck.parent.exists() and not (out / "failed.csv").exists()
    for key in ("capacity_mAh_cm2", "energy_mWh_cm2", "steps"):
        assert float(row[key]) == pytest.approx(float(expected[key]), rel=1e-9), key
    # a checkpoint written by another number of ranks: warned about, the case starts over
    (out / "results.csv").unlink()
    ck.parent.mkdir()
    ck.write_text(json.dumps({"format": 2, "identity": {"ranks": 7}, "run": {}}))
    with pytest.warns(UserWarning, match="7 MPI ranks"):
        run_study(cfg, out, comm=MPI.COMM_SELF, progress=False)
    assert calls == [False, True, True, False]
    assert float(read_table(out / "results.csv")[0]["capacity_mAh_cm2"]) == pytest.approx(
        float(expected["capacity_mAh_cm2"]), rel=1e-9)


def _write_study(path, voxel_um, results, structures=()):
    """A study directory with the given rows (columns of the runner's tables)."""
    path.mkdir(parents=True)
    (path / "study.json").write_text(json.dumps({"geometry": {"voxel_size_um": voxel_um},
                                                 "refine": 1}))
    for name, columns, rows in (
            ("results.csv", runner_mod.CASE_COLUMNS + runner_mod.RESULT_COLUMNS, results),
            ("structures.csv", runner_mod.STRUCTURE_COLUMNS, structures)):
        if rows:
            runner_mod._write_table(path / name, columns, rows)


def test_trend_table_json(tmp_path):
    """benchmarks/trend_table.py --json: best radius / fraction and gains over r = 0 /
    f = 0, utilisation, reversed − normal and σ_eff(f), from tables with known values."""
    def row(ele, i, cap, e, theo=7.0, **axes):
        return {"electrolyte": ele, "current_density_mA_cm2": i, "capacity_mAh_cm2": cap,
                "energy_density_Wh_kg": e, "theoretical_capacity_mAh_cm2": theo, **axes}

    _write_study(tmp_path / "lib", 1.0, [
        row("liquid", 8, 4.0, 300, radius_um=0), row("liquid", 8, 4.6, 320, radius_um=16),
        row("liquid", 8, 4.3, 310, radius_um=24), row("liquid", 1, 6.0, 400, radius_um=0),
        row("liquid", 1, 5.5, 380, radius_um=16)])
    _write_study(tmp_path / "tp", 1.0, [
        row("liquid", 8, 4.0, 1, radius_um=0, transference_number=0.3),
        row("liquid", 8, 4.5, 1, radius_um=8, transference_number=0.3),
        row("liquid", 8, 5.0, 1, radius_um=0, transference_number=1.0),
        row("liquid", 8, 4.9, 1, radius_um=8, transference_number=1.0)])
    _write_study(tmp_path / "assb", 1.0, [
        row("solid", 8, 2.0, 100, radius_um=0), row("solid", 8, 2.1, 114, radius_um=20),
        row("solid", 1, 3.5, 200, theo=7.0, radius_um=0),
        row("solid", 1, 3.0, 180, theo=6.0, radius_um=20)])
    lay = [row("solid", 8, c, e, f_l60=f, reversed=False)
           for f, c, e in ((0, 1.0, 80), (0.5, 1.5, 120), (0.9, 1.8, 170), (1, 1.2, 110))]
    lay += [row("solid", 8, 1.1, 95, f_l60=0.5, reversed=True)]
    sig = [{"structure": f"assb_f{f}", "electrolyte": "solid", "f_l60": f, "reversed": False,
            "relative_conductivity": s} for f, s in ((0, 0.1), (0.5, 0.12), (1, 0.2))]
    _write_study(tmp_path / "layered", 1.0, lay, sig)
    out = subprocess.run([sys.executable, "benchmarks/trend_table.py", str(tmp_path), "--json"],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    t = json.loads(out.stdout)
    assert t["resolution_um"] == 1.0
    assert t["lib_perforated_8mA"] == {"best_radius_um": 16.0,
                                       "capacity_gain_mAh_cm2": pytest.approx(0.6)}
    assert t["lib_transference"] == {"0.3": pytest.approx(0.5), "1": pytest.approx(0.0)}
    assert t["assb_perforated_8mA"] == {"best_radius_um": 20.0,
                                        "energy_gain_Wh_kg": pytest.approx(14.0)}
    assert t["assb_perforated_1mA_utilisation"] == {"0": 0.5, "20": 0.5}
    assert t["assb_layered"]["8"]["best_f"] == 0.9
    assert t["assb_layered"]["8"]["energy_gain_Wh_kg"] == pytest.approx(90.0)
    assert t["assb_layered_reversed_minus_normal_Wh_kg"] == {"0.5": pytest.approx(-25.0)}
    assert t["sigma_eff_vs_f"] == {"0": 0.1, "0.5": 0.12, "1": 0.2}
    md = subprocess.run([sys.executable, "benchmarks/trend_table.py", str(tmp_path)],
                        capture_output=True, text=True, check=True,
                        cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    assert "super-linear" in md and "r = 20 µm, +14.0 Wh/kg" in md


def test_study_runs_a_protocol_per_case(tmp_path):
    """A study's ``experiment``: every case runs the protocol at its current ('{current}'),
    and its row holds the whole run's numbers; a bad step is named when loading."""
    cfg = _tiny("perforated", radii_um=[0], electrolytes=["solid"], conductivity=False,
                current_densities_mA_cm2=[0.5, 1], render=False,
                experiment=["Discharge at {current} mA/cm2 for 2 minutes", "Rest for 1 minute"])
    run_study(cfg, tmp_path, comm=MPI.COMM_SELF, progress=False)
    rows = read_table(tmp_path / "results.csv")
    assert [r["stop_reason"] for r in rows] == ["time_limit"] * 2  # the rest's end
    for r in rows:
        i = float(r["current_density_mA_cm2"])
        assert float(r["capacity_mAh_cm2"]) == pytest.approx(i * 120 / 3600, rel=1e-9)
        summary = json.loads((tmp_path / "cases" / r["case"] / "summary.json").read_text())
        assert [s["kind"] for s in summary["steps"]] == ["discharge", "rest"]
    with pytest.raises(ParameterError, match="cannot read the duration 'a bit'"):
        _tiny("perforated", experiment=["Rest for a bit"])


def test_a_new_structure_family_is_a_builder_and_a_toml_file(tmp_path):
    """Studies as data: a family registered as a builder, swept by ``axes`` over its own
    structure axis and a parameter of the set, runs through the same runner."""
    from fem_assb.structure import homogeneous
    from fem_assb.studies.builders import BUILDERS, Builder, register
    from fem_assb.studies.config import read_config

    def two_cam(g, opts, v):  # a toy family: the CAM content is the axis
        return homogeneous(size_um=tuple(g["size_um"]), voxel_size_um=g["voxel_size_um"],
                           cam_fraction=v["cam"], cbd_fraction=0.0,
                           mean_diameter_um=g["mean_diameter_um"],
                           diameter_std_um=g["diameter_std_um"], seed=g["seed"])

    register(Builder("cam_sweep", {"cam": [0.6]}, two_cam, lambda v: [f"c{v['cam']:g}"]))
    try:
        (tmp_path / "s.toml").write_text(
            'name = "cam sweep"\nfamily = "cam_sweep"\nseparator_um = 3\nrender = false\n'
            "conductivity = false\n"
            '[geometry]\nsize_um = [12, 6, 6]\nvoxel_size_um = 1.0\ncbd_fraction = 0.0\n'
            "mean_diameter_um = 4.0\ndiameter_std_um = 1.0\n"
            '[axes]\n"structure.cam" = [0.55, 0.65]\nelectrolyte = ["solid"]\n'
            '"current_density_mA_cm2" = [4]\n'
            '"parameters.solid_electrolyte.conductivity" = [0.1]\n')
        cfg = load_config(tmp_path / "s.toml")
        cases = expand(cfg)
        assert [c.id for c in cases] == ["assb_c0.55_i4_conductivity0.1",
                                         "assb_c0.65_i4_conductivity0.1"]
        p = runner_mod._params(cfg, cases[0])
        assert p.solid_electrolyte.conductivity == 0.1
        run_study(cfg, tmp_path / "out", comm=MPI.COMM_SELF, progress=False)
        rows = read_table(tmp_path / "out" / "results.csv")
        assert [float(r["cam"]) for r in rows] == [0.55, 0.65]
        assert all(float(r["conductivity"]) == 0.1 for r in rows)
        assert float(rows[1]["capacity_mAh_cm2"]) > float(rows[0]["capacity_mAh_cm2"])
        bad = read_config(tmp_path / "s.toml")
        bad["axes"]["structure.radius_um"] = [1.0]
        with pytest.raises(Exception, match="has no axis 'radius_um'"):
            load_config("perforated", overrides={"family": "cam_sweep", **bad})
    finally:
        BUILDERS.pop("cam_sweep", None)
