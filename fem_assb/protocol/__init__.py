"""The protocol side of a run: experiments, stop events, step control, the stepper, the
time loop over named state, observers, resources. Knows no chemistry: it talks to a
cell model through ``fem_assb.physics.contract.CellModel``."""
