"""Material parameter sets (TOML data shipped with the package) and their functional forms."""

from fem_assb.materials.parameters import default_parameters, load_parameters

__all__ = ["default_parameters", "load_parameters"]
