"""Observers of a run: called after every accepted time step, and once at the end.

The time loop (``fem_assb.protocol.loop``) hands each observer a ``StepRecord``; the
observers here write the voltage curve (CSV, rank 0, row by row), report progress and
save checkpoints. Others (3D fields: ``fem_assb.viz.fields.FieldObserver``) are passed
in by the caller, so the solver imports no output package.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from fem_assb._dolfinx import MPI
from fem_assb.protocol.progress import Progress
from fem_assb.protocol.state import Curve


@dataclass(frozen=True)
class StepRecord:
    """The state after an accepted time step (user units in the names)."""

    time_s: float  # since the start of the run
    capacity_mAh_cm2: float  # net charge passed since the start (discharge > 0)
    voltage_V: float
    current_mA_cm2: float  # > 0 discharge
    newton_iterations: int
    protocol_step: int  # index of the protocol step (from 0)
    steps: int  # accepted time steps so far


class Observer:
    """Does nothing; subclasses override what they need."""

    def accepted(self, rec: StepRecord) -> None:
        """After an accepted time step."""

    def finished(self, rec: StepRecord) -> None:
        """Once, after the last step (the run's end state)."""


class CurveWriter(Observer):
    """``voltage.csv`` (rank 0), written row by row as the loop adds rows to the curve
    (``row``). On resume the rows after the checkpoint are dropped and the file is
    appended to."""

    def __init__(self, out: Path | None, rank0: bool, resume_rows: int | None = None):
        self.fh = self.writer = None
        if out is None or not rank0:
            return
        out.mkdir(parents=True, exist_ok=True)
        path = self.path = out / "voltage.csv"
        if resume_rows is not None and path.is_file():
            lines = path.read_text().splitlines(keepends=True)[: resume_rows + 1]
            path.write_text("".join(lines))
            self.fh = open(path, "a", newline="")  # noqa: SIM115
            self.writer = csv.writer(self.fh)
        else:
            self.fh = open(path, "w", newline="")  # noqa: SIM115
            self.writer = csv.writer(self.fh)
            self.writer.writerow(Curve.COLUMNS)

    def row(self, curve: Curve, index: int) -> None:
        """Write the curve's row ``index`` (user units, the columns of ``Curve``)."""
        if self.writer is not None:
            try:
                self.writer.writerow(tuple(getattr(curve, c)[index] for c in Curve.COLUMNS))
                self.fh.flush()
            except OSError as err:  # a full disk: the file named
                raise OSError(err.errno, err.strerror, str(self.path)) from None

    def finished(self, rec: StepRecord) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = self.writer = None


class ProgressObserver(Observer):
    """A progress bar or lines on rank 0 (``fem_assb.protocol.progress.Progress``)."""

    def __init__(self, total_mAh_cm2: float, enabled: bool):
        self.report = Progress(total_mAh_cm2, enabled=enabled)

    def accepted(self, rec: StepRecord) -> None:
        self.report.update(rec.time_s, abs(rec.capacity_mAh_cm2), rec.voltage_V, rec.steps)

    def finished(self, rec: StepRecord) -> None:
        self.report.close()


class Checkpointer(Observer):
    """Saves the run's state every ``every`` accepted steps and/or ``minutes`` of wall
    time (``save`` is the time loop's; the decision is taken together by all ranks)."""

    def __init__(self, save, comm, every: int | None = None, minutes: float | None = None):
        self.save, self.comm = save, comm
        self.every, self.minutes = every, minutes
        self.last = time.perf_counter()

    def accepted(self, rec: StepRecord) -> None:
        now = time.perf_counter()
        due = ((self.every and rec.steps % self.every == 0)
               or (self.minutes and now - self.last >= 60.0 * self.minutes))
        if self.comm.allreduce(bool(due), op=MPI.LOR):
            self.save()
            self.last = time.perf_counter()
