"""Parameter sets as data: the built-in TOML set and user overrides.

``load_parameters(path)`` returns the built-in set with the user's entries merged over it.
A key the built-in set does not have is an error naming the key and the file, so a typo can
never silently leave a default in place.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


class ParameterError(ValueError):
    """A parameter file or entry is invalid (the message names the key and file)."""


def default_parameters() -> dict[str, dict[str, Any]]:
    """The built-in parameter set (NMC811, Li6PS5Cl, LiPF6 EC:EMC, Li metal), SI units."""
    text = resources.files("fem_assb.materials").joinpath("data/default.toml").read_text()
    return tomllib.loads(text)


def _merge(base: dict, override: dict, where: str, source: str) -> None:
    for key, value in override.items():
        name = f"{where}.{key}" if where else key
        if key not in base:
            known = ", ".join(sorted(base))
            raise ParameterError(f"{source}: unknown parameter '{name}' (known here: {known})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ParameterError(f"{source}: '{name}' must be a table")
            _merge(base[key], value, name, source)
        else:
            if isinstance(value, dict):
                raise ParameterError(f"{source}: '{name}' must be a value, not a table")
            base[key] = value


def load_parameters(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Built-in parameters, updated from a TOML file and/or a dict of overrides."""
    params = copy.deepcopy(default_parameters())
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"parameter file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ParameterError(f"{path}: not valid TOML ({err})") from err
        _merge(params, data, "", str(path))
    if overrides:
        _merge(params, overrides, "", "overrides")
    return params
