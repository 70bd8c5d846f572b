# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Running fem_assb under MPI
#
# Every function takes an MPI communicator (default `MPI.COMM_WORLD`), so the same
# script runs on one process or many:
#
#     python demos/04_running_under_mpi.py
#     mpiexec -n 4 python demos/04_running_under_mpi.py
#
# and so do the commands: `mpiexec -n 4 fem-assb discharge FILE ...`,
# `mpiexec -n 16 fem-assb study perforated -o DIR` (cases one after another, each on
# all ranks) or `fem-assb study perforated --jobs 8 -o DIR` (8 single-rank cases at
# once). The mesh is built per x-slab on each rank; output is written by rank 0.
# This demo discharges one LIB cathode on all ranks and, for comparison, on each
# rank alone (COMM_SELF): the answers agree to solver tolerance.

# %%
import os
import time
from pathlib import Path

from mpi4py import MPI

from fem_assb import discharge, homogeneous
from fem_assb.viz import plot_discharge, show

tiny = os.environ.get("FEM_ASSB_TINY") == "1"
out = Path(os.environ.get("FEM_ASSB_DEMO_OUT", "results/demo"))
comm = MPI.COMM_WORLD
rank0 = comm.rank == 0

# %%
cathode = homogeneous(size_um=(8, 5, 5) if tiny else (20, 10, 10), voxel_size_um=1.0,
                      cam_fraction=0.65, cbd_fraction=0.21, mean_diameter_um=4.0,
                      diameter_std_um=1.0, seed=2)
kw = dict(electrolyte="liquid", separator_um=5.0, cutoff_V=3.5, progress=False)
t0 = time.perf_counter()
par = discharge(cathode, 8.0, comm=comm, output=out / "mpi_lib8", **kw)
t_par = time.perf_counter() - t0

# %% [markdown]
# The same case on one process (every rank computes it; rank 0 reports).

# %%
t0 = time.perf_counter()
ser = discharge(cathode, 8.0, comm=MPI.COMM_SELF, **kw)
t_ser = time.perf_counter() - t0
if rank0:
    print(f"{comm.size} rank(s): {par.capacity_mAh_cm2:.8f} mAh/cm² in {t_par:.1f} s; "
          f"1 rank: {ser.capacity_mAh_cm2:.8f} mAh/cm² in {t_ser:.1f} s; relative "
          f"difference {abs(par.capacity_mAh_cm2 / ser.capacity_mAh_cm2 - 1):.1e}")
    print(f"salt balance {par.salt_balance_error:.1e}, charge balance "
          f"{par.max_charge_balance_error:.1e}, min c_e "
          f"{par.min_electrolyte_concentration_mol_m3:.0f} mol/m³")
    plot_discharge({f"{comm.size} ranks": par, "1 rank": ser}, out / "mpi_discharge.png",
                   title="LIB cathode, 8 mA/cm²")
    show(out / "mpi_discharge.png")
