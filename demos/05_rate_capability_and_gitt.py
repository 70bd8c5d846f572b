# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Rate capability and GITT of a layered vs a homogeneous ASSB cathode
#
# A structured cathode shows its value in how its capacity holds up as the current
# rises (rate capability) and in how fast it relaxes after a pulse (GITT). Both are
# *protocols*: lists of steps written as a battery lab writes them,
#
#     "Discharge at 2C until 3.0 V"
#     "4 x (Discharge at C/10 for 20 minutes; Rest for 40 minutes)"
#
# run by a `fem_assb.Simulation`, the object that owns structure → cell → mesh →
# model. Each run starts from rest; `sol.plot()` draws the voltage per step inline,
# `sol.to_dataframe()` gives the curve as a pandas table.
#
# `FEM_ASSB_TINY=1` shrinks everything to seconds (the test suite does that).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt  # in Jupyter the figures appear inline
import numpy as np
from mpi4py import MPI

import fem_assb
from fem_assb.materials import default_parameters, make_function

tiny = os.environ.get("FEM_ASSB_TINY") == "1"
out = Path(os.environ.get("FEM_ASSB_DEMO_OUT", "results/demo"))
rank0 = MPI.COMM_WORLD.rank == 0
if rank0:
    out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Two cathodes of the same thickness
# A homogeneous cathode of 65 vol% CAM, and a two-layer one: 60 vol% at the separator
# (70 % of the thickness), 70 vol% at the collector, as in the study's layered design.
# Binder-free ASSB: the pores are solid electrolyte.

# %%
size, voxel, diameter = ((12.0, 8.0, 8.0), 2.0, 5.0) if tiny else ((40.0, 16.0, 16.0), 1.0, 6.0)
kw = dict(size_um=size, voxel_size_um=voxel, cbd_fraction=0.0, mean_diameter_um=diameter,
          diameter_std_um=1.0)
layers = [fem_assb.homogeneous(cam_fraction=f, seed=11 + k, **kw)
          for k, f in enumerate((0.6, 0.7))]
cathodes = {
    "homogeneous 65 %": fem_assb.to_solid_electrolyte(
        fem_assb.homogeneous(cam_fraction=0.65, seed=10, **kw)),
    "layered 60|70, f = 0.7": fem_assb.to_solid_electrolyte(
        fem_assb.stack_layers(layers, [0.7, 0.3])),
}
sims = {name: fem_assb.Simulation(c, "solid", separator_um=4.0 if tiny else 10.0,
                                  progress=False)
        for name, c in cathodes.items()}
if rank0:
    for name, sim in sims.items():
        print(f"{name}: theoretical capacity {sim.theoretical_capacity_mAh_cm2:.3f} mAh/cm²")

# %% [markdown]
# ## Rate capability
# One discharge from rest to 3.0 V per C-rate (the C-rate of each cell's own
# theoretical capacity); the capacity it delivers, relative to the theoretical one.

# %%
rates = [0.5, 2.0] if tiny else [0.2, 0.5, 1.0, 2.0, 4.0]
utilisation = {name: [] for name in sims}
for name, sim in sims.items():
    for rate in rates:
        sol = sim.run([f"Discharge at {rate:g}C until 3.0 V"], progress=False)
        utilisation[name].append(sol.capacity_mAh_cm2 / sim.theoretical_capacity_mAh_cm2)
if rank0:
    print("rate capability (capacity / theoretical):")
    for name, u in utilisation.items():
        cols = (f"{r:g}C: {x:.3f}" for r, x in zip(rates, u, strict=True))
        print(f"  {name:<24s} " + "  ".join(cols))
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    for name, u in utilisation.items():
        ax.plot(rates, u, "o-", lw=2, label=name)
    ax.set(xscale="log", xlabel="C-rate", ylabel="capacity / theoretical",
           title="rate capability to 3.0 V")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(out / "rate_capability.png", dpi=120)
    plt.show()

# %% [markdown]
# ## GITT
# Current pulses at C/10, each followed by a rest. During a rest the voltage relaxes
# towards the open-circuit voltage of the mean lithiation; how far it still is at the
# end of the rest, and how fast it gets there, is what GITT measures (the CAM's
# diffusion). The dashed line is the OCV U(x̄) of the mean lithiation x̄, known from the
# charge passed.

# %%
pulses = 2 if tiny else 6
protocol = [f"{pulses} x (Discharge at C/10 for 20 minutes; Rest for 40 minutes)"]
p = default_parameters()
ocv = make_function(p.cam.ocv, "cam.ocv")
x0 = p.operation.initial_stoichiometry
gitt = {}
for name, sim in sims.items():
    sol = sim.run(protocol, progress=False, output=out / "gitt" / name.split()[0])
    df = sol.to_dataframe()
    rest_ends = df[df["step"] % 2 == 1].groupby("step").tail(1)
    x_mean = x0 + (1 - x0) * rest_ends["capacity_mAh_cm2"] / sim.theoretical_capacity_mAh_cm2
    gitt[name] = (sol, df, rest_ends, np.asarray(ocv(np.asarray(x_mean, dtype=float))))
if rank0:
    fig, axes = plt.subplots(1, len(gitt), figsize=(11, 4), layout="constrained",
                             squeeze=False)
    for ax, (name, (sol, df, ends, u)) in zip(axes[0], gitt.items(), strict=True):
        ax.plot(df["time_s"] / 3600, df["voltage_V"], lw=1.5)
        ax.plot(ends["time_s"] / 3600, u, "k--", marker="o", ms=4, label="OCV of x̄")
        ax.set(title=name, xlabel="time (h)", ylabel="cell voltage (V vs Li)")
        ax.grid(alpha=0.3)
        ax.legend()
        gap = np.abs(ends["voltage_V"].to_numpy() - u)
        print(f"GITT {name}: relaxed voltages within {1e3 * gap.max():.1f} mV of the OCV; "
              f"lithium balance {sol.lithium_balance_error:.1e}")
    fig.savefig(out / "gitt.png", dpi=120)
    plt.show()

# %% [markdown]
# The whole protocol of one cell, step by step (voltage vs time, and vs the charge
# passed within each pulse):

# %%
sol = gitt[next(iter(gitt))][0]
if rank0:
    sol.plot()
    plt.savefig(out / "gitt_steps.png", dpi=120)
    plt.show()
    print(sol.steps_dataframe()[["kind", "capacity_mAh_cm2", "start_voltage_V",
                                 "end_voltage_V", "stop_reason"]].head(4))
