"""Declarative study configurations (TOML, validated with pydantic).

A study is a structure family (a builder of ``fem_assb.studies.builders``) with its
sweep axes as data, ``axes = {PATH = [values]}``: ``structure.NAME`` (the builder's
axes: ``radius_um``; ``f_l60``, ``reversed``), ``electrolyte``, ``current_density_mA_cm2``
and ``parameters.TABLE.KEY`` (any entry of the parameter set, e.g.
``parameters.liquid_electrolyte.transference_number``). The named lists of the first
configs (``radii_um``, ``layer_fractions``, ``reversed``, ``electrolytes``,
``current_densities_mA_cm2``, ``transference_numbers``) are the same axes. Built-in
configs live in ``data/NAME.toml``; a ``[quick]`` table in a config overrides entries for
a coarse variant that finishes in minutes on a laptop.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fem_assb.materials.parameters import ParameterError
from fem_assb.studies.builders import builder

BUILTIN_STUDIES = ("perforated", "transference", "layered")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Geometry(_Strict):
    """The generated base structure(s) (homogeneous generator options, µm)."""

    size_um: tuple[float, float, float] = (106.0, 60.0, 60.0)
    voxel_size_um: float = Field(1.0, gt=0)
    cam_fraction: float = Field(0.65, gt=0, lt=1)
    cbd_fraction: float = Field(0.21, ge=0, lt=1)
    mean_diameter_um: float = Field(8.0, gt=0)
    diameter_std_um: float = Field(2.0, ge=0)
    seed: int = 0


class StudyConfig(_Strict):
    """One sweep. Cases = structures × electrolytes × current densities × t+ values."""

    name: str
    family: str  # a registered structure builder (``fem_assb.studies.builders``)
    # the sweep as data: {axis path: values}; see the module docstring
    axes: dict[str, list] = {}
    geometry: Geometry = Geometry()
    # perforated: channel radii (µm) and hole layout
    radii_um: list[float] = [0.0]
    layout: Literal["single", "corners"] = "single"
    # layered: thickness fraction of the separator-side layer (f_L60), layer CAM contents
    layer_fractions: list[float] = [0.5]
    layer_cam_fractions: tuple[float, float] = (0.6, 0.7)
    reversed: list[bool] = [False]
    electrolytes: list[Literal["solid", "liquid"]] = ["liquid"]
    current_densities_mA_cm2: list[float] = Field([1.0, 8.0], min_length=1)
    # LIB only; empty: the parameter set's t+(c_e)
    transference_numbers: list[float] = []
    separator_um: float = Field(25.0, ge=0)
    refine: int = Field(1, ge=1)
    # the voxel codes' discretisation (staircase interfaces, plain elements) instead of
    # the continuum answer (smoothed interfaces, the resolved CAM skin)
    voxel_code: bool = False
    cutoff_V: float | None = None
    # a protocol per case instead of one discharge to the cut-off: steps as strings or
    # tables (``fem_assb.protocol.experiment``); '{current}' in a step string becomes the
    # case's current density in mA/cm², e.g. "Discharge at {current} mA/cm2 until 3.0 V"
    experiment: list = []
    parameters: dict = {}  # overrides of the built-in parameter set (nested tables)
    conductivity: bool = True  # σ_eff/σ_bulk of the ion conductor per structure
    render: bool = True  # 3D picture of the end state of the highest-current cases (serial)
    # a running case saves its state every this many minutes (cases/<id>/checkpoint); an
    # interrupted study resumes it from there (same number of ranks). None: no checkpoints
    checkpoint_minutes: float | None = Field(10.0, gt=0)

    def structure_axes(self) -> dict[str, list]:
        """{builder axis: values}, in the builder's order."""
        legacy = {"radius_um": self.radii_um, "f_l60": self.layer_fractions,
                  "reversed": self.reversed}
        return {name: self.axes.get(f"structure.{name}", legacy.get(name, default))
                for name, default in builder(self.family).axes.items()}

    def parameter_axes(self) -> dict[str, list]:
        """{dotted parameter path: values} (``transference_numbers`` is one of them)."""
        out = {k.removeprefix("parameters."): v for k, v in self.axes.items()
               if k.startswith("parameters.")}
        if self.transference_numbers:
            out.setdefault("liquid_electrolyte.transference_number", self.transference_numbers)
        return out

    def electrolyte_axis(self) -> list[str]:
        return self.axes.get("electrolyte", self.electrolytes)

    def current_axis(self) -> list[float]:
        return self.axes.get("current_density_mA_cm2", self.current_densities_mA_cm2)

    def _check_axes(self) -> None:
        b = builder(self.family)
        for path, values in self.axes.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"axes.{path}: give a non-empty list of values")
            head, _, rest = path.partition(".")
            if head == "structure" and rest not in b.axes:
                raise ValueError(f"axes.{path}: the {self.family} family has no axis "
                                 f"'{rest}' (its axes: {', '.join(b.axes) or 'none'})")
            if head not in ("structure", "parameters") and path not in (
                    "electrolyte", "current_density_mA_cm2"):
                raise ValueError(f"axes.{path}: an axis is structure.NAME, parameters."
                                 "TABLE.KEY, electrolyte or current_density_mA_cm2")
        if any(e not in ("solid", "liquid") for e in self.electrolyte_axis()):
            raise ValueError("electrolyte values must be 'solid' or 'liquid'")
        if any(not float(i) > 0 for i in self.current_axis()):
            raise ValueError("current_density_mA_cm2 values must be > 0")

    @model_validator(mode="after")
    def _check(self):
        builder(self.family)  # a registered family
        self._check_axes()
        if any(r < 0 for r in self.radii_um):
            raise ValueError("radii_um must be >= 0")
        if any(not 0 <= f <= 1 for f in self.layer_fractions):
            raise ValueError("layer_fractions must lie in [0, 1]")
        if any(i <= 0 for i in self.current_densities_mA_cm2):
            raise ValueError("current_densities_mA_cm2 must be > 0")
        if any(not 0 <= t <= 1 for t in self.transference_numbers):
            raise ValueError("transference_numbers must lie in [0, 1]")
        if self.experiment:  # readable for every current of the sweep
            for i in self.current_axis():
                experiment_for(self, i)
        return self


def _nested(path: str, value) -> dict:
    """{'a': {'b': value}} of 'a.b'."""
    out: dict = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def experiment_for(cfg: StudyConfig, current_density_mA_cm2: float):
    """The config's experiment for one current density ('{current}' substituted)."""
    from fem_assb.protocol.experiment import Experiment

    steps = [s.replace("{current}", f"{current_density_mA_cm2:g}") if isinstance(s, str)
             else s for s in cfg.experiment]
    return Experiment(steps, source="experiment")


def merge_configs(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``, table by table; a tabulated parameter
    (``{x, y, interpolation}``) is one value, replaced whole."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        tables = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = merge_configs(out[k], v) if tables and not {"x", "y"} <= set(v) else v
    return out


def read_config(path: str | Path) -> dict:
    """The raw table of a study config file (a clear error if missing or not TOML)."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"study config file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ParameterError(f"{path}: not valid TOML ({err})") from err


def parse_config(data: dict, source: str, quick: bool = False,
                 overrides: dict | None = None) -> StudyConfig:
    """Validate a config dict: its entries, then its ``[quick]`` table (with ``quick``),
    then ``overrides`` (and, with ``quick``, the overrides' own ``[quick]`` table)."""
    data = dict(data)
    quick_table = data.pop("quick", {})
    overrides = dict(overrides or {})
    over_quick = overrides.pop("quick", {})  # an override file's own [quick] table
    if quick:
        data = merge_configs(data, quick_table)
    if overrides:
        data = merge_configs(data, overrides)
    if quick and over_quick:
        data = merge_configs(data, over_quick)
    try:
        cfg = StudyConfig.model_validate(data)
    except ValidationError as err:
        raise ParameterError(f"{source}: invalid study config: {_messages(err)}") from None
    _check_physics(cfg, source)
    return cfg


def _messages(err: ValidationError) -> str:
    """pydantic's errors as 'key: message' (no 'Value error,' noise)."""
    out = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        loc = ".".join(str(p) for p in e["loc"])
        out.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(out)


def _check_physics(cfg: StudyConfig, source: str) -> None:
    """The parameter overrides name known keys; the cut-off lies below the rest voltage
    (checked at load, not case by case at run time)."""
    from fem_assb.materials import default_parameters, make_function

    params = default_parameters()
    if cfg.parameters:
        params = params.updated(cfg.parameters, f"{source} [parameters]")
    for path, values in cfg.parameter_axes().items():  # known keys, valid values
        for v in values:
            params.updated(_nested(path, v), f"{source} axes.parameters.{path}")
    if cfg.cutoff_V is not None:
        params = params.updated({"operation": {"cutoff_voltage": cfg.cutoff_V}},
                                f"{source} cutoff_V")
        x0 = params.operation.initial_stoichiometry
        u_rest = float(make_function(params.cam.ocv, "cam.ocv")(x0))
        if cfg.cutoff_V >= u_rest:
            raise ParameterError(f"{source}: cutoff_V = {cfg.cutoff_V:g} V is not below the "
                                 f"rest voltage {u_rest:.3f} V")


def load_config(name_or_path: str | Path, quick: bool = False,
                overrides: dict | None = None, overrides_source: str | None = None
                ) -> StudyConfig:
    """A built-in study or a TOML file, with ``overrides`` on top.

    Parameters
    ----------
    name_or_path : str or Path
        'perforated', 'transference', 'layered', or a TOML file.
    quick : bool
        Apply the config's ``[quick]`` table (a coarse variant).
    overrides : dict, optional
        Config entries applied last.
    overrides_source : str, optional
        Where the overrides come from (named in errors).

    Returns
    -------
    StudyConfig

    Raises
    ------
    ParameterError
        An unknown study, an invalid entry (named), a cut-off above the rest voltage.
    """
    path = Path(name_or_path)
    if str(name_or_path) in BUILTIN_STUDIES:
        text = resources.files("fem_assb.studies").joinpath(f"data/{name_or_path}.toml")
        data, source = tomllib.loads(text.read_text()), f"built-in study '{name_or_path}'"
    elif path.is_file():
        data, source = read_config(path), str(path)
    else:
        raise ParameterError(f"study config '{name_or_path}' is neither a built-in study "
                             f"({', '.join(BUILTIN_STUDIES)}) nor a file")
    if overrides_source:
        source = f"{overrides_source} (over the {source})"
    return parse_config(data, source, quick, overrides)
