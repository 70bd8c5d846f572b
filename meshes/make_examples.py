"""Regenerate the small example structures in this folder (deterministic seeds).

    python meshes/make_examples.py
"""

from pathlib import Path

from fem_assb.structure import (
    homogeneous,
    layered,
    perforate,
    save_structure,
    to_solid_electrolyte,
)

HERE = Path(__file__).resolve().parent
SMALL = dict(size_um=(30.0, 20.0, 20.0), voxel_size_um=1.0, mean_diameter_um=6.0,
             diameter_std_um=1.5)


def main():
    lib = homogeneous(cam_fraction=0.65, cbd_fraction=0.21, seed=1, **SMALL)
    save_structure(lib, HERE / "lib_homogeneous_small.npz")
    save_structure(perforate(lib, 5.0), HERE / "lib_perforated_r5_small.npz")
    save_structure(to_solid_electrolyte(lib), HERE / "assb_homogeneous_small.npz")
    save_structure(to_solid_electrolyte(perforate(lib, 5.0)),
                   HERE / "assb_perforated_r5_small.npz")
    save_structure(layered(fractions=[0.5, 0.5], cam_fractions=[0.6, 0.7], cbd_fraction=0.0,
                           seed=2, **SMALL), HERE / "assb_layered_f05_small.npz")


if __name__ == "__main__":
    main()
