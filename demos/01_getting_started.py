# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Getting started with fem_assb
#
# From a voxel microstructure to the numbers a cathode designer asks first:
#
# 1. generate a homogeneous composite cathode (CAM spheres, CBD, electrolyte),
# 2. cut electrolyte channels (a perforated cathode) and turn it into an
#    all-solid-state (ASSB) cathode: every CBD voxel becomes solid electrolyte,
# 3. look at it, and read its phase fractions and theoretical capacity,
# 4. assemble a virtual cell (separator + planar anode) and mesh it,
# 5. compute the normalised effective ionic conductivity σ_eff/σ_bulk of the
#    electrolyte along x, the quantity of the study's Fig. 3,
# 6. discharge a small ASSB cathode at 1 and 4 mA/cm² and plot the voltage curves.
#
# Run it as a script (`python demos/01_getting_started.py`), as a notebook
# (`jupytext --to notebook`), or under MPI (`mpiexec -n 2 python ...`).
# `FEM_ASSB_TINY=1` shrinks it to a few seconds (the test suite does that).

# %%
import os
from pathlib import Path

from mpi4py import MPI

from fem_assb import (
    ASSB,
    discharge,
    effective_conductivity,
    homogeneous,
    perforate,
    structure_capacity_mAh_cm2,
    to_solid_electrolyte,
)
from fem_assb.mesh import build_mesh, tags
from fem_assb.viz import plot_discharge, plot_sections, render_structure, show

tiny = os.environ.get("FEM_ASSB_TINY") == "1"
out = Path(os.environ.get("FEM_ASSB_DEMO_OUT", "results/demo"))
rank0 = MPI.COMM_WORLD.rank == 0

# %% [markdown]
# ## 1–2. A perforated ASSB cathode
# A small cut of the study's cathode (65 vol% CAM, 14 % electrolyte, 21 % CBD),
# 1 µm voxels, with quarter-hole channels of radius 6 µm at the y/z corners.

# %%
size = (20.0, 12.0, 12.0) if tiny else (40.0, 24.0, 24.0)
base = homogeneous(size_um=size, voxel_size_um=1.0, cam_fraction=0.65, cbd_fraction=0.21,
                   mean_diameter_um=6.0, diameter_std_um=1.5, seed=7)
cathode = to_solid_electrolyte(perforate(base, radius_um=0.25 * size[1]))

# %% [markdown]
# ## 3. Composition and theoretical capacity

# %%
if rank0:
    print(f"structure: {cathode.shape} voxels of {cathode.voxel_size * 1e6:g} µm")
    for name, frac in cathode.volume_fractions().items():
        print(f"  {name:<12} {100 * frac:5.1f} vol%")
    print(f"  theoretical capacity {structure_capacity_mAh_cm2(cathode):.3f} mAh/cm²"
          f" (unperforated: {structure_capacity_mAh_cm2(base):.3f})")
    plot_sections(cathode, out / "sections.png", title="perforated ASSB cathode")
    render_structure(cathode, out / "structure.png")
    print(f"  pictures: {out / 'sections.png'}, {out / 'structure.png'}")
    show(out / "sections.png", out / "structure.png")

# %% [markdown]
# ## 4. Virtual cell and mesh
# 5 µm of dense solid-electrolyte separator in front of the cathode; the anode is the
# face x = 0, the current collector the face x = Lx. Every voxel becomes 6 tetrahedra,
# tagged by phase, with the CAM|electrolyte interface tagged for the electrochemistry.

# %%
cell = ASSB.virtual_cell(cathode, separator_um=5.0)
vm = build_mesh(cell)
area = vm.facet_area(tags.CAM_ELECTROLYTE)
if rank0:
    print(f"mesh: {vm.num_cells_global():,} tetrahedra on {MPI.COMM_WORLD.size} rank(s); "
          f"CAM|SE interface {area * 1e12:,.0f} µm²")

# %% [markdown]
# ## 5. Effective ionic conductivity of the electrolyte along x

# %%
res = effective_conductivity(cathode, phases="electrolyte", axis="x")
ref = effective_conductivity(to_solid_electrolyte(base), phases="electrolyte", axis="x")
if rank0:
    print(f"sigma_eff/sigma_bulk = {res.relative_conductivity:.4f} "
          f"(without channels {ref.relative_conductivity:.4f}); "
          f"tortuosity factor {res.tortuosity_factor:.2f}")

# %% [markdown]
# ## 6. Galvanostatic discharge of an ASSB cathode
# A thin cathode slice (16 µm thick, 8 × 8 µm² cross-section) with 8 µm of dense SE
# separator, NMC811 / Li6PS5Cl parameters, discharged to 3.0 V. The solver keeps
# charge and lithium balanced to solver tolerance at every step.

# %%
small = to_solid_electrolyte(homogeneous(
    size_um=(8.0, 6.0, 6.0) if tiny else (16.0, 8.0, 8.0), voxel_size_um=1.0,
    cam_fraction=0.65, cbd_fraction=0.21, mean_diameter_um=4.0, diameter_std_um=1.0, seed=3))
runs = {}
for i_app in (1.0, 4.0):
    runs[f"{i_app:g} mA/cm²"] = r = discharge(small, i_app, separator_um=8.0,
                                             output=out / f"discharge_{i_app:g}")
    if rank0:
        print(f"{i_app:g} mA/cm²: {r.capacity_mAh_cm2:.4f} of "
              f"{r.theoretical_capacity_mAh_cm2:.4f} mAh/cm², {r.energy_density_Wh_kg:.0f} Wh/kg, "
              f"mean {r.mean_voltage_V:.3f} V, {r.time_steps} steps, stopped by {r.stop_reason}; "
              f"charge balance {r.max_charge_balance_error:.1e}, Li balance "
              f"{r.lithium_balance_error:.1e}")
if rank0:
    plot_discharge(runs, out / "discharge.png", title="ASSB cathode slice")
    print(f"voltage curves: {out / 'discharge.png'}")
    show(out / "discharge.png")
