"""Phase ids of voxel structures (the file contract: README, 'What works today').

0 void/pore, 1 CAM (cathode active material), 2 electrolyte (liquid or solid, decided by
the cell type), 3 CBD (carbon-binder domain, liquid cells only). Label 4 marks the
separator in an assembled virtual cell (``assemble_cell``); structure files hold 0–3.
"""

from __future__ import annotations

VOID = 0
CAM = 1
ELECTROLYTE = 2
CBD = 3
SEPARATOR = 4

PHASE_IDS: dict[str, int] = {
    "void": VOID,
    "cam": CAM,
    "electrolyte": ELECTROLYTE,
    "cbd": CBD,
    "separator": SEPARATOR,
}
PHASE_NAMES: dict[int, str] = {v: k for k, v in PHASE_IDS.items()}
ALIASES = {"am": "cam", "active": "cam", "se": "electrolyte", "le": "electrolyte",
           "pore": "void", "binder": "cbd", "sep": "separator"}


def phase_id(name: str | int) -> int:
    """Phase id from a name ('cam', 'electrolyte', 'cbd', 'void', 'separator') or an id."""
    if isinstance(name, int) and not isinstance(name, bool):
        if name not in PHASE_NAMES:
            raise ValueError(f"unknown phase id {name}; known ids: {sorted(PHASE_NAMES)}")
        return name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in PHASE_IDS:
        raise ValueError(f"unknown phase '{name}'; known phases: {', '.join(PHASE_IDS)}")
    return PHASE_IDS[key]


def phase_ids(names) -> tuple[int, ...]:
    """Sorted unique phase ids of a name, an id or a sequence of them."""
    if isinstance(names, (str, int)):
        names = [names]
    return tuple(sorted({phase_id(n) for n in names}))
