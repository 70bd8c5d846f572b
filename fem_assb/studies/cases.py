"""The cases of a study: the cartesian product of its axes, each with a stable id, and
the structure each case runs on (built once per geometry and reused)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from functools import lru_cache

from fem_assb.structure import VoxelStructure, homogeneous, perforate, stack_layers
from fem_assb.structure.modify import to_solid_electrolyte
from fem_assb.studies.config import StudyConfig


@dataclass(frozen=True)
class Case:
    """One discharge of a study (user units in the names)."""

    electrolyte: str
    current_density_mA_cm2: float
    radius_um: float | None = None  # perforated
    f_l60: float | None = None  # layered: thickness fraction of the separator-side layer
    reversed: bool | None = None  # layered: L70 at the separator
    transference_number: float | None = None  # LIB constant t+ (None: t+(c_e))

    @property
    def structure_key(self) -> str:
        """Id of the structure (geometry + electrolyte), shared by cases."""
        parts = ["assb" if self.electrolyte == "solid" else "lib"]
        if self.radius_um is not None:
            parts.append(f"r{self.radius_um:g}")
        if self.f_l60 is not None:
            parts.append(f"f{self.f_l60:g}" + ("rev" if self.reversed else ""))
        return "_".join(parts)

    @property
    def id(self) -> str:
        s = f"{self.structure_key}_i{self.current_density_mA_cm2:g}"
        if self.transference_number is not None:
            s += f"_tp{self.transference_number:g}"
        return s

    def row(self) -> dict:
        return {"case": self.id, **asdict(self)}


def expand(cfg: StudyConfig) -> list[Case]:
    """All cases of a study, structures outermost (cases of a structure run together)."""
    if cfg.family == "perforated":
        geoms = [{"radius_um": r} for r in cfg.radii_um]
    elif cfg.family == "layered":
        geoms = [{"f_l60": f, "reversed": rev} for rev in cfg.reversed
                 for f in cfg.layer_fractions
                 if not (rev and f in (0.0, 1.0))]  # reversed ends are the same structures
    else:
        geoms = [{}]
    cases = []
    for g, ele, i in itertools.product(geoms, cfg.electrolytes, cfg.current_densities_mA_cm2):
        tps = cfg.transference_numbers if ele == "liquid" and cfg.transference_numbers else [None]
        cases += [Case(ele, float(i), transference_number=tp, **g) for tp in tps]
    return cases


def build_structure(cfg: StudyConfig, case: Case) -> VoxelStructure:
    """The cathode structure of a case (base structures cached within a process)."""
    g = cfg.geometry
    kw = dict(size_um=tuple(g.size_um), voxel_size_um=g.voxel_size_um,
              cbd_fraction=g.cbd_fraction, mean_diameter_um=g.mean_diameter_um,
              diameter_std_um=g.diameter_std_um)
    if cfg.family == "layered":
        layers = [_homogeneous(cam_fraction=f, seed=g.seed + 1000 * k, **kw)
                  for k, f in enumerate(cfg.layer_cam_fractions)]
        s = stack_layers(layers, [case.f_l60, 1.0 - case.f_l60], reverse=bool(case.reversed))
    else:
        s = _homogeneous(cam_fraction=g.cam_fraction, seed=g.seed, **kw)
        if cfg.family == "perforated" and case.radius_um:
            s = perforate(s, case.radius_um, layout=cfg.layout)
    return to_solid_electrolyte(s) if case.electrolyte == "solid" else s


@lru_cache(maxsize=4)
def _homogeneous(**kw) -> VoxelStructure:
    return homogeneous(**kw)
