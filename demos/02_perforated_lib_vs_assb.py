# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Perforated cathodes: liquid (LIB) vs solid (ASSB) electrolyte
#
# The study's first question: do electrolyte channels through a thick cathode help?
# In a LIB the salt concentration polarises at high current (t+ ≈ 0.2): channels
# feed salt to the deep cathode and raise the 8 mA/cm² capacity although they remove
# CAM. In an ASSB (t+ = 1) there is no salt to feed; channels only shorten ionic paths.
#
# This demo runs the built-in `perforated` study in its `--quick` variant (a thin
# slice at 2 µm voxels, r = 0 and 8 µm, 1 and 8 mA/cm², LIB and ASSB), draws its
# figures, and prints the gains. The same from the command line:
# `fem-assb study perforated --quick -o results/perforated_quick`; without `--quick`
# the full 106 × 60 × 60 µm study (a workstation/cluster job, resumable).
# `FEM_ASSB_TINY=1` shrinks it further (the test suite does that).

# %%
import os
from pathlib import Path

from mpi4py import MPI

from fem_assb import load_config, run_study
from fem_assb.studies import read_table
from fem_assb.viz import show
from fem_assb.viz.study_plots import plot_study

tiny = os.environ.get("FEM_ASSB_TINY") == "1"
out = Path(os.environ.get("FEM_ASSB_DEMO_OUT", "results/demo")) / "perforated_quick"
rank0 = MPI.COMM_WORLD.rank == 0

# %% [markdown]
# ## The study config
# Built-in configs are TOML data (`fem_assb/studies/data/perforated.toml`); the quick
# variant overrides a few entries. Anything can be overridden again, here for a
# tiny run.

# %%
overrides = {"geometry": {"size_um": [12, 8, 8], "voxel_size_um": 2.0,
                          "mean_diameter_um": 5.0},
             "radii_um": [0, 4], "separator_um": 4,
             "current_densities_mA_cm2": [8]} if tiny else None
cfg = load_config("perforated", quick=True, overrides=overrides)
if rank0:
    print(f"{cfg.name}: radii {cfg.radii_um} µm, {cfg.electrolytes}, "
          f"{cfg.current_densities_mA_cm2} mA/cm², {cfg.geometry.size_um} µm at "
          f"{cfg.geometry.voxel_size_um} µm voxels")

# %% [markdown]
# ## Run it
# Each finished case is appended to `results.csv` at once; running the cell again
# skips finished cases.

# %%
run_study(cfg, out)
rows = read_table(out / "results.csv")

# %% [markdown]
# ## Capacity gain of a channel, per cell type and current density

# %%
if rank0:
    cap = {(r["electrolyte"], float(r["radius_um"]), float(r["current_density_mA_cm2"])):
           float(r["capacity_mAh_cm2"]) for r in rows}
    r1 = max(cfg.radii_um)
    for ele in cfg.electrolytes:
        for i in cfg.current_densities_mA_cm2:
            a, b = cap[(ele, 0.0, i)], cap[(ele, r1, i)]
            print(f"{ele:>6} {i:g} mA/cm²: r = 0: {a:.3f}, r = {r1:g} µm: {b:.3f} mAh/cm² "
                  f"(gain {b - a:+.3f})")

# %% [markdown]
# ## Figures: σ_eff and theoretical capacity vs r (Fig. 3), capacity and energy vs r
# with their gains (Fig. 4, 6), utilisation and c_e along x (Fig. 4c, 6c)

# %%
if rank0:
    paths = plot_study(out)
    print("figures:", ", ".join(str(p) for p in paths if p.suffix == ".png"))
    show(*paths)
