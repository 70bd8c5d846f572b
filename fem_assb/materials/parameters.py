"""Parameter sets as data: the built-in TOML set, user overrides, validation (pydantic).

``load_parameters(path)`` returns the built-in set with the user's entries merged over
it, validated: an unknown key, a wrong type or an out-of-range value is a
``ParameterError`` naming the key (and the file).
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ParameterError(ValueError):
    """A parameter file or entry is invalid (the message names the key and file)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Table(_Strict):
    """A tabulated function y(x), linear or log-linear between points, constant outside."""

    x: list[float] = Field(min_length=2)
    y: list[float] = Field(min_length=2)
    interpolation: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _check(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} points but y has {len(self.y)}")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("x must increase strictly")
        if self.interpolation == "log" and min(self.y) <= 0:
            raise ValueError("log interpolation needs y > 0")
        return self


Functional = float | str | Table
Positive = Field(gt=0)


def _check_range(model, names, low: float = 0.0, high: float | None = None) -> None:
    """Constant or tabulated functions ``names`` of ``model`` within (low, high]."""
    for name in names:
        f = getattr(model, name)
        values = f.y if isinstance(f, Table) else [f] if isinstance(f, float) else []
        for v in values:
            if not v > low or (high is not None and v > high):
                bound = f"in ({low:g}, {high:g}]" if high is not None else f"> {low:g}"
                raise ValueError(f"{name} must be {bound}, got {v:g}")


class Operation(_Strict):
    temperature: float = Field(gt=200, lt=400)  # K
    initial_stoichiometry: float = Field(gt=0, lt=1)
    cutoff_voltage: float = Field(gt=0, lt=5)  # V


class Cam(_Strict):
    c_max: float = Positive
    density: float = Positive
    alpha: float = Field(gt=0, lt=1)
    ocv: Functional
    k_liquid: float = Positive
    k_solid: float = Positive
    diffusivity_liquid: Functional
    conductivity: Functional
    diffusivity_solid: Functional

    @model_validator(mode="after")
    def _physical(self):
        _check_range(self, ("diffusivity_liquid", "conductivity", "diffusivity_solid"))
        return self


class SolidElectrolyte(_Strict):
    conductivity: float = Positive
    li_concentration: float = Positive
    density: float = Positive


class LiquidElectrolyte(_Strict):
    initial_concentration: float = Positive  # mol/m³
    density: float = Positive
    # functions of c_e (mol/m³): constant, built-in fit name or table over c_e
    conductivity: Functional  # S/m
    diffusivity: Functional  # m²/s
    transference_number: Functional
    thermodynamic_factor: Functional

    @model_validator(mode="after")
    def _physical(self):
        _check_range(self, ("conductivity", "diffusivity", "thermodynamic_factor"))
        _check_range(self, ("transference_number",), 0.0, 1.0)
        return self


class Cbd(_Strict):
    porosity: float = Field(gt=0, le=1)
    ionic_factor: float = Field(gt=0, le=1)
    electronic_conductivity: float = Positive
    solid_density: float = Positive


class Separator(_Strict):
    thickness_um: float = Field(ge=0)
    porosity: float = Field(gt=0, le=1)
    ionic_factor: float = Field(gt=0, le=1)
    polymer_density: float = Positive


class Anode(_Strict):
    kinetics: Literal["butler-volmer", "ideal"]
    exchange_current_solid: float = Positive
    exchange_current_liquid: float = Positive  # A/m² at the initial c_e
    liquid_concentration_exponent: float = Field(ge=0, le=1)  # i0 ∝ c_e^this
    alpha: float = Field(gt=0, lt=1)
    density: float = Positive
    specific_capacity_mAh_g: float = Positive


class Film(_Strict):
    thickness_nm: float = Field(ge=0)
    conductivity: float = Positive

    @property
    def resistance(self) -> float:
        """Area-specific film resistance R_f = δ/σ_f in Ω m² (0 when off)."""
        return self.thickness_nm * 1e-9 / self.conductivity


class Collector(_Strict):
    contact_conductance: float = Positive


class Solver(_Strict):
    """Solver settings as data (the ``[solver]`` table); see ``fem_assb.numerics.options``."""

    linear: Literal["auto", "direct", "iterative"] = "auto"
    direct_dof_limit: int = Field(200_000, gt=0)  # 'auto': MUMPS up to this many unknowns
    ksp_rtol: float = Field(1e-6, gt=0, lt=1)  # Krylov tolerance on the true residual
    newton_atol: float = Field(1e-9, gt=0, lt=1)  # ‖F‖ in units of the applied current
    newton_rtol: float = Field(1e-10, gt=0, lt=1)
    # correct each Newton direction by a local solve of the interface c_s rows
    # (``fem_assb.numerics.elimination``): 2-4x fewer Newton iterations once surfaces saturate
    interface_elimination: bool = True
    petsc_options: dict[str, str | int | float | bool] = {}  # passed to the SNES prefix


class Resolution(_Strict):
    """How finely c_s is resolved under the CAM surface (``fem_assb.physics.skin``)."""

    skin: bool = True  # graded 1D columns under every interface vertex, condensed
    depth_um: float = Field(1.0, gt=0)  # column depth, µm (less where the mesh cannot give it)
    first_cell_nm: float = Field(3.0, gt=0)  # thickness of the outermost cell, nm
    growth: float = Field(1.3, gt=1, le=2)  # growth of the cells' thickness inward


class Parameters(_Strict):
    """A complete, validated parameter set (SI units unless a field names its unit)."""

    operation: Operation
    cam: Cam
    solid_electrolyte: SolidElectrolyte
    liquid_electrolyte: LiquidElectrolyte
    cbd: Cbd
    separator: Separator
    anode: Anode
    film: Film
    collector: Collector
    solver: Solver = Solver()
    resolution: Resolution = Resolution()

    def updated(self, overrides: dict, source: str = "overrides") -> Parameters:
        """A copy with ``overrides`` (nested dict) merged in and validated."""
        return _validate(_merged(self.model_dump(), overrides, source), source)


def _raw_default() -> dict:
    text = resources.files("fem_assb.materials").joinpath("data/default.toml").read_text()
    return tomllib.loads(text)


def _merged(base: dict, override: dict, source: str, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        name = f"{where}.{key}" if where else key
        if key not in out:
            known = ", ".join(sorted(out))
            raise ParameterError(f"{source}: unknown parameter '{name}' (known here: {known})")
        if key == "petsc_options" and isinstance(value, dict):  # free-form PETSc keys
            out[key] = {**out[key], **value}
        elif isinstance(out[key], dict) and set(out[key]) != {"x", "y", "interpolation"}:
            if not isinstance(value, dict):
                raise ParameterError(f"{source}: '{name}' must be a table of parameters")
            out[key] = _merged(out[key], value, source, name)
        else:
            out[key] = value
    return out


def _validate(data: dict, source: str) -> Parameters:
    try:
        return Parameters.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("float", "str",
                                                                               "Table")))
            got = e.get("input")
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"'{loc}': {msg}" + ("" if isinstance(got, dict) else f" (got {got!r})"))
        raise ParameterError(f"{source}: invalid parameter " + "; ".join(lines)) from None


def default_parameters() -> Parameters:
    """The built-in parameter set (NMC811, Li6PS5Cl, LiPF6 EC:EMC, Li metal).

    Returns
    -------
    Parameters
    """
    return _validate(_raw_default(), "built-in parameters")


def parse_assignments(items, source: str = "--set") -> dict:
    """Nested overrides from ``KEY=VALUE`` strings, KEY dotted as in the parameter TOML
    (``solid_electrolyte.conductivity=0.0233``), VALUE a TOML value (a number, a
    boolean, a quoted or a bare string, an array or an inline table)."""
    out: dict = {}
    for item in items:
        key, eq, text = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not eq or not all(path) or not text.strip():
            raise ParameterError(f"{source} '{item}': expected SECTION.NAME=VALUE, e.g. "
                                 "solid_electrolyte.conductivity=0.0233")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a built-in name such as nmc811_table
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParameterError(f"{source} '{item}': '{part}' is set twice, as a value "
                                     "and as a table")
        if isinstance(node.get(path[-1]), dict):
            raise ParameterError(f"{source} '{item}': '{key.strip()}' is a table; set its "
                                 "entries one by one")
        node[path[-1]] = value
    return out


def load_parameters(path: str | Path | None = None, overrides: dict | None = None) -> Parameters:
    """Built-in parameters, updated from a TOML file and/or a dict of overrides.

    Parameters
    ----------
    path : str or Path, optional
        A TOML file with the tables and keys of the built-in set.
    overrides : dict, optional
        Nested tables applied last.

    Returns
    -------
    Parameters

    Raises
    ------
    ParameterError
        A missing or unreadable file, an unknown key, a wrong type or an out-of-range
        value (named with the file).
    """
    params = default_parameters()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"parameter file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ParameterError(f"{path}: not valid TOML ({err})") from None
        params = params.updated(data, str(path))
    if overrides:
        params = params.updated(overrides)
    return params
