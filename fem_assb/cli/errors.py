"""How the command line ends: one clear line and an exit code, on every rank count.

Exit codes: 0 success; 2 invalid input (one line names it); 3 the phase does not
percolate (``conductivity``); 4 a run or study case that did not finish (solver failure,
step limit: ``stop_reason``, ``"complete": false``); 130 interrupted (Ctrl-C), 143
terminated (SIGTERM): one line says where, and whether the state was saved.

Under MPI a failure on some ranks only (a file rank 0 cannot write) would leave the
others waiting in their next collective operation: the failing rank waits
``ERROR_GRACE_S`` for the others, then aborts all. Warnings are printed as one line in
the tool's voice (no source line).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings

import click

from fem_assb.cli.output import echo, launched_by_mpi
from fem_assb.errors import FemAssbError

EXIT_INPUT, EXIT_NOT_PERCOLATING, EXIT_INCOMPLETE = 2, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
ERROR_GRACE_S = 5.0  # how long failing ranks wait for the others before aborting all
_ERROR_COMM = []  # a communicator of its own for error handling (set up by Errors)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system ending the job): handled as Ctrl-C, exit 143."""


def _terminate(signum, frame):
    raise Terminated()


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"fem-assb: warning: {message}\n"


def fail(message: str, code: int) -> None:
    """Print ``message`` once and end with ``code`` (see the module docstring)."""
    comm = _ERROR_COMM[0] if _ERROR_COMM else None
    if comm is None or comm.size == 1:
        echo(message, err=True)
        sys.exit(code)
    if comm.rank == 0:
        click.echo(message, err=True)
    request = comm.Ibarrier()
    deadline = time.monotonic() + ERROR_GRACE_S
    while not request.Test():
        if time.monotonic() > deadline:
            if comm.rank != 0:
                click.echo(f"{message} (rank {comm.rank})", err=True)
            sys.stderr.flush()
            comm.Abort(code)
        time.sleep(0.02)
    sys.exit(code)


def _interrupted(text: str, cause) -> None:
    """One line (where the run was, whether its state was saved) and 130 or 143."""
    echo(f"fem-assb: {text}", err=True)
    sys.exit(EXIT_TERMINATED if isinstance(cause, Terminated) else EXIT_INTERRUPTED)


class Errors(click.Group):
    """Turn errors into one clear line (rank 0) and an exit code: 2 for input errors,
    1 for anything else under MPI (a traceback on one rank would leave the others
    waiting); serial runs keep the traceback of unexpected errors."""

    def invoke(self, ctx):
        from fem_assb.materials.parameters import ParameterError
        from fem_assb.structure.voxels import StructureError

        warnings.formatwarning = _one_line_warning
        signal.signal(signal.SIGTERM, _terminate)
        if launched_by_mpi() and not _ERROR_COMM:
            from mpi4py import MPI

            _ERROR_COMM.append(MPI.COMM_WORLD.Dup())
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `fem-assb info f | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt as err:
            _interrupted("terminated" if isinstance(err, Terminated) else "interrupted", err)
        except _interrupt_types() as err:
            _interrupted(str(err), Terminated() if err.signal == signal.SIGTERM else err)
        except (FemAssbError, StructureError, ParameterError, ValueError,
                FileNotFoundError) as err:
            if isinstance(err, click.ClickException):
                raise
            fail(f"Error: {err}", EXIT_INPUT)
        except OSError as err:  # an unwritable directory, a full disk, ...
            where = f"{err.filename}: " if err.filename else ""
            fail(f"Error: {where}{err.strerror or err}", EXIT_INPUT)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as err:
            if not _ERROR_COMM:
                raise
            fail(f"Error: {type(err).__name__}: {err}", 1)


def _interrupt_types() -> tuple:
    if "fem_assb.protocol.loop" not in sys.modules:
        return ()
    from fem_assb.protocol.loop import Interrupted

    return (Interrupted,)
