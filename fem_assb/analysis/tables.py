"""The tables of a study on disk (CSV): rows appended as single writes of whole lines,
read back without torn rows. Below ``studies`` and ``viz``: both read them here."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path


def read_table(path: Path) -> list[dict]:
    """Complete rows of a CSV table written by the runner ([] when absent). A row torn by
    a killed write (too few fields, or no line end) is not a row: its case runs again."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    if not text.endswith("\n"):  # the last line was cut off mid-write
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    return [r for r in reader if None not in r.values() and None not in r]


def append_row(path: Path, columns: list[str], row: dict) -> None:
    """Append one row as a single write of a whole line (header first for a new file);
    a torn last line of an earlier, killed write is cut off first."""
    new = not path.is_file() or path.stat().st_size == 0
    if not new:  # a table begun by another version keeps its columns
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), None)
        columns = header or columns
        with open(path, "rb+") as fh:  # drop a torn last line
            data = fh.read()
            if not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if new:
        w.writeheader()
    w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    with open(path, "a", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())




def write_table(path: Path, columns: list[str], rows) -> None:
    """Write a whole table atomically (a temporary file, then renamed)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
