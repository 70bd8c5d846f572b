"""The cases of a study: the cartesian product of its axes, each with a stable id, and
the structure each case runs on (built by the family's builder, ``builders``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fem_assb.structure import VoxelStructure
from fem_assb.studies.builders import builder
from fem_assb.studies.config import StudyConfig

# the columns of the built-in families, in every row (None where a study has no such
# axis): a results table keeps its columns, and a case its checksum, across families
LEGACY_AXES = ("radius_um", "f_l60", "reversed", "transference_number")
# the short tag of a parameter axis in case ids (else its last name)
PARAMETER_TAGS = {"liquid_electrolyte.transference_number": "tp"}


@dataclass(frozen=True)
class Case:
    """One run of a study (user units in the names): the chemistry, the current, the
    values of the structure axes (``(name, value)`` pairs, the family's builder's) and
    of the parameter axes (``(dotted parameter path, value)`` pairs)."""

    family: str
    electrolyte: str
    current_density_mA_cm2: float
    structure: tuple = ()
    parameters: tuple = ()

    @property
    def chemistry(self):
        """The case's ``fem_assb.physics.chemistry.Chemistry`` (imports DOLFINx)."""
        from fem_assb.physics.chemistry import chemistry

        return chemistry(self.electrolyte)

    def value(self, name: str):
        """The value of a structure axis, or of a parameter axis by its last name."""
        axes = {**dict(self.structure),
                **{p.rsplit(".", 1)[-1]: v for p, v in self.parameters}}
        return axes.get(name)

    @property
    def structure_key(self) -> str:
        """Id of the structure (geometry + electrolyte), shared by cases."""
        parts = [self.chemistry.name.lower()]
        return "_".join(parts + builder(self.family).key(dict(self.structure)))

    @property
    def id(self) -> str:
        s = f"{self.structure_key}_i{self.current_density_mA_cm2:g}"
        for path, v in self.parameters:
            s += f"_{PARAMETER_TAGS.get(path, path.rsplit('.', 1)[-1])}{v:g}"
        return s

    def row(self) -> dict:
        """The case's columns of the results table."""
        return {"case": self.id, "electrolyte": self.electrolyte,
                "current_density_mA_cm2": self.current_density_mA_cm2,
                **dict.fromkeys(LEGACY_AXES), **dict(self.structure),
                **{p.rsplit(".", 1)[-1]: v for p, v in self.parameters}}

    def as_data(self) -> dict:
        return {"family": self.family, "electrolyte": self.electrolyte,
                "current_density_mA_cm2": self.current_density_mA_cm2,
                "structure": [list(p) for p in self.structure],
                "parameters": [list(p) for p in self.parameters]}

    @classmethod
    def from_data(cls, d: dict) -> Case:
        return cls(d["family"], d["electrolyte"], d["current_density_mA_cm2"],
                   tuple(tuple(p) for p in d["structure"]),
                   tuple(tuple(p) for p in d["parameters"]))


def expand(cfg: StudyConfig) -> list[Case]:
    """All cases of a study, structures outermost (cases of a structure run together).
    A parameter axis applies to the chemistries that have that parameter (t+: LIB)."""
    b = builder(cfg.family)
    s_axes = cfg.structure_axes()
    geoms = [v for v in (dict(zip(s_axes, combo, strict=True))
                         for combo in itertools.product(*s_axes.values())) if not b.skip(v)]
    p_axes = cfg.parameter_axes()
    cases = []
    for g, ele, i in itertools.product(geoms, cfg.electrolyte_axis(), cfg.current_axis()):
        chem = Case(cfg.family, ele, float(i)).chemistry
        own = {p: vs for p, vs in p_axes.items() if chem.has_parameters(p.split(".")[0])}
        for combo in itertools.product(*own.values()):
            cases.append(Case(cfg.family, ele, float(i), tuple(g.items()),
                              tuple(zip(own, combo, strict=True))))
    return cases


def build_structure(cfg: StudyConfig, case: Case) -> VoxelStructure:
    """The cathode structure of a case, in its chemistry's phases."""
    b = builder(cfg.family)
    opts = {k: getattr(cfg, k) for k in b.options}
    s = b.build(cfg.geometry.model_dump(), opts, dict(case.structure))
    return case.chemistry.cathode(s)
