# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Layered ASSB cathodes: sweep, then optimise
#
# The study's second structuring idea: a two-layer cathode with a CAM-poorer layer
# (L60, 60 vol% CAM) at the separator and a CAM-richer one (L70) at the collector. The
# L60 layer conducts ions better where the ionic current is highest, L70 stores more
# lithium. f_L60 is the thickness fraction of L60 (0: homogeneous 70 %, 1: 60 %).
#
# 1. Sweep f_L60 (the built-in `layered` study, quick variant) and draw Fig. 7/8-like
#    figures.
# 2. Go beyond the study: let an optimiser choose f_L60 for the highest energy density
#    at 8 mA/cm² (`fem_assb.studies.optimise`; the layer compositions can be optimised
#    too, and more than two layers).
#
# `FEM_ASSB_TINY=1` shrinks everything to seconds (the test suite does that).

# %%
import os
from pathlib import Path

from mpi4py import MPI

from fem_assb import load_config, run_study
from fem_assb.studies import read_table
from fem_assb.studies.optimise import optimise_layers
from fem_assb.viz import show
from fem_assb.viz.study_plots import plot_study

tiny = os.environ.get("FEM_ASSB_TINY") == "1"
out = Path(os.environ.get("FEM_ASSB_DEMO_OUT", "results/demo")) / "layered_quick"
rank0 = MPI.COMM_WORLD.rank == 0
tiny_geometry = {"size_um": [12, 8, 8], "voxel_size_um": 2.0, "mean_diameter_um": 5.0}

# %% [markdown]
# ## 1. The f_L60 sweep

# %%
overrides = {"geometry": tiny_geometry, "separator_um": 4,
             "current_densities_mA_cm2": [8]} if tiny else None
cfg = load_config("layered", quick=True, overrides=overrides)
run_study(cfg, out)
if rank0:
    for r in read_table(out / "results.csv"):
        print(f"f_L60 = {float(r['f_l60']):.1f}{' reversed' if r['reversed'] == 'True' else ''}"
              f", {float(r['current_density_mA_cm2']):g} mA/cm²: "
              f"{float(r['capacity_mAh_cm2']):.3f} mAh/cm², "
              f"{float(r['energy_density_Wh_kg']):.0f} Wh/kg")
    paths = plot_study(out)
    print("figures:", ", ".join(str(p) for p in paths if p.suffix == ".png"))
    show(*paths)

# %% [markdown]
# ## 2. Optimise f_L60 at 8 mA/cm²
# Bounded Brent search on f_L60 ∈ [0, 1]; every evaluation is one discharge, logged to
# `evaluations.csv` and reused if the cell is run again.

# %%
g = cfg.geometry
best = optimise_layers(8.0, out / "optimum_8mA", n_layers=2, cam_fractions=(0.6, 0.7),
                       geometry={"size_um": tuple(g.size_um), "voxel_size_um": g.voxel_size_um,
                                 "mean_diameter_um": g.mean_diameter_um,
                                 "diameter_std_um": g.diameter_std_um, "cbd_fraction": 0.0},
                       separator_um=cfg.separator_um, max_evaluations=3 if tiny else 8)
if rank0:
    print(f"best f_L60 = {best.x[0]:.3f}: {best.value:.1f} Wh/kg after "
          f"{best.evaluations} discharges")
