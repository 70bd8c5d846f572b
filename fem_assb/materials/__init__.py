"""Material parameter sets (TOML data shipped with the package) and their functional forms."""

from fem_assb.materials.functions import (
    butler_volmer,
    exchange_current_density,
    make_function,
    nmc811_ocv_fit,
    table_function,
)
from fem_assb.materials.mass import structure_capacity, structure_capacity_mAh_cm2
from fem_assb.materials.parameters import (
    ParameterError,
    Parameters,
    Table,
    default_parameters,
    load_parameters,
    parse_assignments,
)

__all__ = [
    "ParameterError", "Parameters", "Table", "butler_volmer", "default_parameters",
    "exchange_current_density", "load_parameters", "make_function", "nmc811_ocv_fit",
    "parse_assignments", "structure_capacity", "structure_capacity_mAh_cm2", "table_function",
]
