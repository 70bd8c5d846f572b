"""The house rules that keep the package easy to read, checked on its source: no import
cycle (module-level and in-function imports alike), no function over 80 lines, the
entry points on the top level, and the cell contract kept by both cell models."""

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fem_assb"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The fem_assb modules ``path`` imports, anywhere in the file (a ``from package
    import name`` counts as importing the submodule when it is one)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # fem_assb.x.y.attr -> the module fem_assb.x.y
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, name, known) for name, path in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a package's ``__init__`` importing its own
    submodules is not one: a submodule importing its parent package is followed to the
    submodule it needs, the parent only re-exports)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if n.startswith(m + "."):  # a submodule importing its own package's face
                continue
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_function_over_80_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                                f"{node.name} ({n} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_the_top_level_lists_the_entry_points():
    import fem_assb

    names = set(dir(fem_assb))
    for name in ("Simulation", "Experiment", "discharge", "run", "effective_conductivity",
                 "homogeneous", "layered", "perforate", "RunOptions", "Solution"):
        assert name in names
        assert getattr(fem_assb, name) is not None


def test_structures_import_no_dolfinx():
    """The structure stage is pure geometry: no DOLFINx, no materials."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("fem_assb.structure"):
            bad = {d for d in deps if not d.startswith(("fem_assb.structure",
                                                        "fem_assb.constants"))}
            assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("model", ["SolidCellModel", "LiquidCellModel"])
def test_models_keep_the_cell_contract(model):
    from fem_assb.physics import contract

    cls = getattr(importlib.import_module("fem_assb.physics"), model)
    wanted = {n for n in dir(contract.CellModel) if not n.startswith("_")}
    missing = {n for n in wanted if not hasattr(cls, n)} - {
        "unknowns", "residuals", "bcs", "nodal_terms"}  # made in __init__
    assert not missing, f"{model} lacks {missing}"


def test_the_entry_points_are_typed_and_documented():
    """Every public function of the top level: annotations on every parameter and the
    return, a numpydoc docstring with its Returns."""
    import inspect

    import fem_assb

    for name in fem_assb.__all__[1:]:
        obj = getattr(fem_assb, name)
        if not inspect.isfunction(obj):
            continue
        sig = inspect.signature(obj)
        untyped = [p for p, v in sig.parameters.items()
                   if v.annotation is inspect.Parameter.empty
                   and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
        assert not untyped, f"{name}: {untyped} untyped"
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert "Returns\n    -------" in (obj.__doc__ or ""), f"{name}: no Returns section"
