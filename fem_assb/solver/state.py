"""What a restart needs, on disk: the discharge's state every N steps or M minutes.

A checkpoint directory holds ``rank<r>.npz`` per MPI rank (the unknowns' local arrays,
owned and ghost, and the predictor's earlier states) and ``state.json`` (time, counters,
step controller, the voltage curve so far, the run's identity). Files are written to a
temporary name and renamed, so a run killed while writing leaves the previous
checkpoint intact. A resume needs the same structure, parameters, current and number
of ranks (the mesh partition is a function of the rank count).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (missing, other run, other rank count)."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(directory: Path, comm, identity: dict, scalars: dict,
                    arrays: list, history: list) -> None:
    """Write this rank's arrays and (rank 0) the scalars; collective."""
    directory = Path(directory)
    if comm.rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    data = {f"u{k}": a for k, a in enumerate(arrays[:-1])}
    data["v_ref"] = np.array(arrays[-1])
    for j, state in enumerate(history):  # earlier accepted states (the predictor's)
        data.update({f"h{j}_{k}": a for k, a in enumerate(state[:-1])})
        data[f"h{j}_v_ref"] = np.array(state[-1])

    def write_npz(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **data)

    _atomic_write(directory / f"rank{comm.rank}.npz", write_npz)
    comm.barrier()
    if comm.rank == 0:
        doc = {"identity": identity, "ranks": comm.size, **scalars}
        _atomic_write(directory / "state.json",
                      lambda tmp: tmp.write_text(json.dumps(doc)))
    comm.barrier()


def load_checkpoint(directory: Path, comm, identity: dict, num_unknowns: int):
    """(scalars, arrays, history) of a checkpoint; CheckpointError if it does not fit."""
    directory = Path(directory)
    meta = directory / "state.json"
    if not meta.is_file():
        raise CheckpointError(f"{directory}: no checkpoint (state.json missing)")
    doc = json.loads(meta.read_text())
    if doc["ranks"] != comm.size:
        raise CheckpointError(f"{directory}: the checkpoint was written by {doc['ranks']} "
                              f"MPI ranks, this run has {comm.size}; resume with "
                              f"mpiexec -n {doc['ranks']}")
    for key, value in identity.items():
        saved = doc["identity"].get(key)
        if saved != value:
            raise CheckpointError(f"{directory}: the checkpoint belongs to another run "
                                  f"({key}: {saved!r} there, {value!r} here)")
    with np.load(directory / f"rank{comm.rank}.npz") as z:
        arrays = [z[f"u{k}"] for k in range(num_unknowns)] + [float(z["v_ref"])]
        history, j = [], 0
        while f"h{j}_v_ref" in z:
            history.append([z[f"h{j}_{k}"] for k in range(num_unknowns)]
                           + [float(z[f"h{j}_v_ref"])])
            j += 1
    return doc, arrays, history
