"""The run's state as dataclasses; a checkpoint is their serialisation.

``RunState`` holds everything a restart needs besides the unknowns: time, counters, the
curve (kept once), the balances, the summaries of finished protocol steps and the
protocol step in progress (``StepState``, with its ``Landing`` and located end point).
A checkpoint directory holds ``rank<r>.npz`` per MPI rank (the unknowns' local arrays,
owned and ghost, and the predictor's earlier states) and ``state.json`` (the run's
identity, then this state). Files are written to a temporary name and renamed, so a run
killed while writing leaves the previous checkpoint intact. A resume must match the
identity in every entry (structure and parameter hashes, protocol, ranks,
discretisation, solver settings, code version): ``CheckpointError`` names the first
that differs.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from fem_assb.constants import MA_PER_CM2, MAH_PER_CM2
from fem_assb.errors import CheckpointError
from fem_assb.protocol.events import Landing, Point, StopReason

FORMAT = 2  # state.json layout; older checkpoints are refused in one line


@dataclass
class Curve:
    """The run's voltage curve, one row per accepted time step (and located end point)."""

    time_s: list = field(default_factory=list)
    capacity_mAh_cm2: list = field(default_factory=list)  # net charge since the start
    voltage_V: list = field(default_factory=list)
    newton_iterations: list = field(default_factory=list)
    step: list = field(default_factory=list)  # protocol step index
    current_mA_cm2: list = field(default_factory=list)  # > 0 discharge

    COLUMNS = ("time_s", "capacity_mAh_cm2", "voltage_V", "newton_iterations", "step",
               "current_mA_cm2")

    def append(self, t: float, q_net: float, volts: float, newton: int, step: int,
               current: float) -> tuple:
        """Add a row from SI values (s, C/m², V, -, -, A/m²); returns it in user units."""
        row = (t, q_net / MAH_PER_CM2, volts, newton, step, current / MA_PER_CM2)
        for name, value in zip(self.COLUMNS, row, strict=True):
            getattr(self, name).append(value)
        return row

    def __len__(self) -> int:
        return len(self.time_s)

    def as_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in self.COLUMNS}


@dataclass
class StepSummary:
    """One protocol step of a run (user units; charge and energy positive)."""

    kind: str
    text: str
    capacity_mAh_cm2: float  # charge passed in the step
    energy_mWh_cm2: float  # ∫ V |dq| over the step
    start_voltage_V: float
    end_voltage_V: float
    duration_s: float
    stop_reason: str  # a ``StopReason``
    mean_current_mA_cm2: float  # signed, > 0 discharge
    end_current_mA_cm2: float
    time_steps: int
    newton_iterations: int = 0
    rejected_steps: int = 0
    # finest c_s storage at the CAM surface over √(D_s(x_surf) t) at the step's end,
    # worst interface vertex (``CellModel.surface_resolution``; > 0.5: under-resolved)
    surface_resolution: float | None = None
    # the core's storage over the front's depth where the front has left the skin's
    # columns, area-weighted (``CellModel.front_resolution``; > 0.5: under-resolved)
    front_resolution: float | None = None


@dataclass
class Balances:
    """Conservation checks accumulated over the run (see ``RunResult``)."""

    lithium0_mol: float
    salt0_mol: float | None = None
    max_charge_error: float = 0.0
    max_salt_error: float = 0.0
    min_electrolyte_concentration: float | None = None


@dataclass
class StepState:
    """The protocol step in progress: its curve in step time, landing and end."""

    t0: float  # run time at its start (s)
    q0: float  # net charge at its start (C/m²)
    times: list
    volts: list
    currents: list
    charge: list  # charge passed in the step (C/m², ≥ 0)
    newton: list
    n: int = 0  # accepted time steps
    landing: Landing | None = None
    landings: int = 0
    rejected: int = 0  # attempts not accepted
    probed: bool = False  # the first step passed its voltage limit: retried shorter once
    end: Point | None = None  # the located end point (step time)
    reason: StopReason | None = None
    controller: dict | None = None
    end_written: bool = False

    @classmethod
    def start(cls, t0: float, q0: float, volts: float, current: float) -> StepState:
        return cls(t0, q0, [0.0], [volts], [current], [0.0], [0])

    def last(self) -> Point:
        return Point(self.times[-1], self.volts[-1], self.currents[-1], self.charge[-1])

    def previous(self) -> Point:
        return Point(self.times[-2], self.volts[-2], self.currents[-2], self.charge[-2])

    def add(self, p: Point, newton: int) -> None:
        self.n += 1
        self.times.append(p.t)
        self.volts.append(p.V)
        self.currents.append(p.I)
        self.charge.append(p.q)
        self.newton.append(newton)

    def with_end(self) -> list[Point]:
        """The step's points up to its located end point (which replaces the last
        state's point when it lies before it)."""
        pts = [Point(*row) for row in zip(self.times, self.volts, self.currents,
                                          self.charge, strict=True)]
        if self.end is not None:
            if self.end.t < pts[-1].t:
                pts.pop()
            pts.append(self.end)
        return pts

    def end_net_charge(self) -> float:
        """The run's net charge (C/m², > 0 discharged) at the located end point."""
        e = self.end
        return self.q0 + math.copysign(e.q, e.I) if e.I else self.q0

    @classmethod
    def from_dict(cls, d: dict) -> StepState:
        d = dict(d)
        d["landing"] = Landing(**d["landing"]) if d["landing"] else None
        if d["landing"] is not None:
            d["landing"].values = tuple(d["landing"].values)
        d["end"] = Point(**d["end"]) if d["end"] else None
        d["reason"] = StopReason(d["reason"]) if d["reason"] else None
        return cls(**d)


@dataclass
class RunState:
    """Everything of a run but the unknowns: time, counters, curve, balances, steps."""

    balances: Balances
    curve: Curve = field(default_factory=Curve)
    t: float = 0.0
    k: int = 0  # the protocol step in progress
    steps: int = 0  # accepted time steps
    rejected: int = 0
    newton: int = 0  # Newton iterations, rejected steps included
    linear: int = 0  # Krylov iterations
    q_state: float = 0.0  # net charge passed (C/m², > 0 discharge)
    q_abs: float = 0.0  # charge passed either way (C/m²)
    wall_before: float = 0.0  # wall time of the run's earlier sessions (s)
    step: StepState | None = None
    done: list = field(default_factory=list)  # [StepSummary]
    history_times: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> RunState:
        d = dict(d)
        d["balances"] = Balances(**d["balances"])
        d["curve"] = Curve(**d["curve"])
        d["step"] = StepState.from_dict(d["step"]) if d["step"] else None
        d["done"] = [StepSummary(**s) for s in d["done"]]
        return cls(**{f.name: d[f.name] for f in fields(cls)})


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:  # a full disk: the file named
        raise OSError(err.errno, err.strerror, str(path)) from None


def _arrays(prefix: str, state: list) -> dict:
    out = {f"{prefix}{k}": a for k, a in enumerate(state[:-1])}
    out[f"{prefix}v_ref"] = np.array(state[-1])
    return out


def save_checkpoint(directory: Path, comm, identity: dict, run: RunState,
                    arrays: list, history: list) -> None:
    """Write this rank's arrays and (rank 0) the identity and the run state; collective."""
    directory = Path(directory)
    if comm.rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    data = _arrays("u", arrays)
    for j, state in enumerate(history):  # earlier accepted states (the predictor's)
        data.update(_arrays(f"h{j}_", state))

    def write_npz(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **data)

    _atomic_write(directory / f"rank{comm.rank}.npz", write_npz)
    comm.barrier()
    if comm.rank == 0:
        doc = {"format": FORMAT, "identity": identity, "run": run.to_json()}
        _atomic_write(directory / "state.json", lambda tmp: tmp.write_text(json.dumps(doc)))
    comm.barrier()


def check_identity(directory: Path, identity: dict) -> dict:
    """The checkpoint's document if it belongs to the run ``identity``, else
    ``CheckpointError`` naming the first entry that differs (any rank may call it)."""
    directory = Path(directory)
    meta = directory / "state.json"
    if not meta.is_file():
        raise CheckpointError(f"{directory}: no checkpoint (state.json missing)")
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{meta}: unreadable checkpoint ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{directory}: a checkpoint of an older fem_assb (format "
                              f"{doc.get('format', 1) if isinstance(doc, dict) else '?'}, "
                              f"this one reads {FORMAT}); start the run again")
    saved = doc["identity"]
    if "ranks" in identity and saved.get("ranks") != identity["ranks"]:
        raise CheckpointError(f"{directory}: the checkpoint was written by "
                              f"{saved.get('ranks')} MPI ranks, this run has "
                              f"{identity['ranks']}; resume with mpiexec -n "
                              f"{saved.get('ranks')}")
    for key, value in identity.items():
        if saved.get(key) != value:
            raise CheckpointError(f"{directory}: the checkpoint belongs to another run "
                                  f"({key}: {_short(saved.get(key))} there, "
                                  f"{_short(value)} here)")
    return doc


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def load_checkpoint(directory: Path, comm, identity: dict, num_unknowns: int):
    """(RunState, arrays, history) of a checkpoint of the run ``identity``."""
    directory = Path(directory)
    doc = check_identity(directory, identity)
    run = RunState.from_json(doc["run"])

    def state(z, prefix):
        return [z[f"{prefix}{k}"] for k in range(num_unknowns)] + [float(z[f"{prefix}v_ref"])]

    with np.load(directory / f"rank{comm.rank}.npz") as z:
        arrays = state(z, "u")
        history, j = [], 0
        while f"h{j}_v_ref" in z:
            history.append(state(z, f"h{j}_"))
            j += 1
    return run, arrays, history
