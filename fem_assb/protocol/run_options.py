"""How a run is carried out (not what it simulates): one object shared by the API
(``Simulation.run``, ``fem_assb.run``, ``fem_assb.discharge``) and the command line."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from fem_assb.errors import ConfigError
from fem_assb.numerics.newton import LINEAR_METHODS
from fem_assb.protocol.control import StepControl


@dataclass(frozen=True)
class RunOptions:
    """Output, checkpoints, progress, fields, resume and solver settings of a run.

    Attributes:
        output: directory for voltage.csv (written as it goes), summary.json,
            profiles.json, parameters.json, fields and checkpoints (None: nothing written).
        progress: a progress bar or lines on stderr (rank 0).
        linear: 'auto', 'direct' (MUMPS) or 'iterative' (field-split GMRES + GAMG).
        control: the step control (tolerances, step bounds, stop thresholds).
        max_steps: accepted time steps before the run stops ('max_steps').
        fields_every: 3D fields (VTX) every N steps (0: end state only; None: none).
        render: draw the end state to ``output/fields.png`` (serial runs).
        checkpoint_every, checkpoint_minutes: save the state to ``output/checkpoint``
            every N accepted steps and/or M minutes of wall time.
        resume: continue from ``output/checkpoint`` (the same run in every respect).
    """

    output: Path | None = None
    progress: bool = True
    linear: str = "auto"
    control: StepControl = field(default_factory=StepControl)
    max_steps: int = 2000
    fields_every: int | None = None
    render: bool = False
    checkpoint_every: int | None = None
    checkpoint_minutes: float | None = None
    resume: bool = False

    def __post_init__(self):
        if self.output is not None and not isinstance(self.output, Path):
            object.__setattr__(self, "output", Path(self.output))
        if self.linear not in LINEAR_METHODS:
            raise ConfigError(f"linear solver must be auto, direct or iterative, got "
                              f"'{self.linear}'")
        for name in ("max_steps", "checkpoint_every", "fields_every"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int) and v >= (name == "max_steps")):
                raise ConfigError(f"{name} must be a whole number >= "
                                  f"{int(name == 'max_steps')}, got {v!r}")
        if self.checkpoint_minutes is not None and not self.checkpoint_minutes > 0:
            raise ConfigError(f"checkpoint_minutes must be > 0, got {self.checkpoint_minutes}")
        if (self.checkpointing or self.resume) and self.output is None:
            raise ConfigError("checkpoints need an output directory (-o DIR)")

    @property
    def checkpointing(self) -> bool:
        return bool(self.checkpoint_every or self.checkpoint_minutes)

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.output / "checkpoint" if self.output is not None else None

    def with_(self, **changes) -> RunOptions:
        """A copy with some options changed."""
        return replace(self, **changes)
