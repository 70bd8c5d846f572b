"""The package's error types: what the user gave (``ConfigError``) apart from what went
wrong while running (``RunError``). Each message is one line that names the problem (the
file, key, option or unit); the command line prints it as ``Error: ...`` and exits 2."""

from __future__ import annotations


class FemAssbError(Exception):
    """Base of the errors fem_assb raises on purpose."""


class ConfigError(FemAssbError, ValueError):
    """Invalid input: a structure, parameter, option, protocol step or checkpoint that
    does not fit (the message names it). Nothing has run."""


class RunError(FemAssbError, RuntimeError):
    """A run that cannot go on (no usable time step, a failed write)."""


class CheckpointError(ConfigError):
    """A checkpoint that cannot be resumed: missing, of an older format, or of another
    run (the message names the first difference)."""


class ResourceError(ConfigError):
    """A case that does not fit the memory available (sizes in the message)."""
