"""Pictures written to files, shown inline where a notebook runs the code."""

from __future__ import annotations

from pathlib import Path


def show(*paths: str | Path) -> None:
    """Display PNG files inline in Jupyter; in a script, nothing (they are on disk).

    Parameters
    ----------
    *paths : str or Path
        PNG files written by the viz functions.
    """
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # no IPython: a script
        return
    if get_ipython() is None:
        return
    for p in paths:
        if Path(p).suffix.lower() == ".png":
            display(Image(filename=str(p)))
