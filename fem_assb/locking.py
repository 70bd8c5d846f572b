"""One run per output directory: an exclusive lock held while a discharge or a study
writes into it, so that two runs given the same ``-o`` cannot interleave their files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = ".fem_assb.lock"


class OutputLocked(ValueError):
    """The output directory is in use by another run."""


@contextlib.contextmanager
def locked_output(directory, comm=None):
    """Hold the lock of ``directory`` (created if needed) for the ``with`` block; rank 0
    takes it, every rank raises ``OutputLocked`` (one line: the directory and the other
    run's process id) when another process holds it. ``directory`` None: no lock."""
    if directory is None:
        yield
        return
    rank = comm.rank if comm is not None else 0
    fh, error = None, None
    if rank == 0:
        path = Path(directory)
        try:
            path.mkdir(parents=True, exist_ok=True)
            fh = open(path / LOCK_NAME, "a+")
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "?"
            fh.close()
            fh = None
            error = (f"{path} is in use by another run (process {other}); give another "
                     "output directory or wait for it to finish")
        except OSError as err:
            error = f"{path}: {err.strerror or err}"
    if comm is not None and comm.size > 1:
        error = comm.bcast(error, root=0)
    if error is not None:
        raise OutputLocked(error)
    try:
        yield
    finally:
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
