"""The registry of structure builders: a study family is a builder plus a TOML file.

A builder turns the study's generated geometry (``[geometry]``), its own options (config
keys such as ``layout`` or ``layer_cam_fractions``) and the values of its structure axes
(``axes = {"structure.radius_um" = [...]}``) into a cathode structure, and names the
structure (the part of a case id after the chemistry). Register a new family with
``register(Builder(...))``; its TOML file then sweeps ``structure.<axis>`` like any
built-in one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from fem_assb.structure import VoxelStructure, homogeneous, perforate, stack_layers


@dataclass(frozen=True)
class Builder:
    """A structure family.

    Attributes:
        family: its name in a study config (``family = "..."``).
        axes: its structure axes: {name: default values when the config sweeps none}.
        build: (geometry dict, config options dict, axis values dict) -> VoxelStructure.
        key: axis values -> the parts of the structure's id (e.g. ``["r8"]``).
        skip: axis values that repeat another combination's structure (not run twice).
        options: the config keys the builder reads besides ``geometry``.
    """

    family: str
    axes: dict
    build: Callable[[dict, dict, dict], VoxelStructure]
    key: Callable[[dict], list[str]]
    skip: Callable[[dict], bool] = lambda values: False
    options: tuple[str, ...] = field(default=())


BUILDERS: dict[str, Builder] = {}


def register(builder: Builder) -> Builder:
    BUILDERS[builder.family] = builder
    return builder


def builder(family: str) -> Builder:
    if family not in BUILDERS:
        raise ValueError(f"unknown structure family '{family}' (known: "
                         f"{', '.join(sorted(BUILDERS))})")
    return BUILDERS[family]


@lru_cache(maxsize=4)
def _homogeneous(**kw) -> VoxelStructure:
    return homogeneous(**kw)


def _base(g: dict, **over) -> VoxelStructure:
    """The homogeneous generator on the study's geometry (cached within a process)."""
    kw = dict(size_um=tuple(g["size_um"]), voxel_size_um=g["voxel_size_um"],
              cam_fraction=g["cam_fraction"], cbd_fraction=g["cbd_fraction"],
              mean_diameter_um=g["mean_diameter_um"], diameter_std_um=g["diameter_std_um"],
              seed=g["seed"])
    return _homogeneous(**{**kw, **over})


def _perforated(g: dict, opts: dict, v: dict) -> VoxelStructure:
    s = _base(g)
    return perforate(s, v["radius_um"], layout=opts["layout"]) if v["radius_um"] else s


def _layered(g: dict, opts: dict, v: dict) -> VoxelStructure:
    layers = [_base(g, cam_fraction=f, seed=g["seed"] + 1000 * k)
              for k, f in enumerate(opts["layer_cam_fractions"])]
    f = v["f_l60"]
    return stack_layers(layers, [f, 1.0 - f], reverse=bool(v["reversed"]))


register(Builder("homogeneous", {}, lambda g, opts, v: _base(g), lambda v: []))
register(Builder("perforated", {"radius_um": [0.0]}, _perforated,
                 lambda v: [f"r{v['radius_um']:g}"], options=("layout",)))
register(Builder("layered", {"reversed": [False], "f_l60": [0.5]}, _layered,
                 lambda v: [f"f{v['f_l60']:g}" + ("rev" if v["reversed"] else "")],
                 # reversed stacks of one layer are the normal ones
                 skip=lambda v: bool(v["reversed"]) and v["f_l60"] in (0.0, 1.0),
                 options=("layer_cam_fractions",)))
