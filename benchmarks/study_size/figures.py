"""Figures of the study-size runs for the README: the study figures of each study
directory (``fem_assb.viz.study_plots``), PNG only, into ``docs/figures/study_size/``.

    python benchmarks/study_size/figures.py benchmarks/results/study_size
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from fem_assb.viz.study_plots import plot_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder of study directories")
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/figures/study_size"))
    args = ap.parse_args()
    for d in sorted(p for p in args.root.iterdir() if (p / "results.csv").is_file()):
        with tempfile.TemporaryDirectory() as tmp:
            pngs = [p for p in plot_study(d, tmp) if p.suffix == ".png"]
            target = args.output / d.name
            target.mkdir(parents=True, exist_ok=True)
            for p in pngs:
                shutil.copy(p, target / p.name)
                print(target / p.name)


if __name__ == "__main__":
    main()
