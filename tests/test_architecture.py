"""The house rules that can be checked by reading the sources: no import cycle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "hearlike"
LIB = Path(__file__).resolve().parents[1] / "lib"


def _module_names() -> dict[str, Path]:
    """``hearlike.eeg.epochs`` -> its file (packages by their ``__init__.py``)."""
    names = {}
    for path in sorted((LIB / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(LIB).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Package modules that ``module`` imports anywhere in its body (lazy in-function imports too)."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            # `from x import y` imports the module x.y when there is one, else names of x
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import hearlike.eeg.epochs as e` etc.
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    names = _module_names()
    return {module: _imported(module, path, set(names)) for module, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]`` of ``graph``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_sees_a_lazy_import_circle(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from .other import g\n    from . import sibling\n")
    known = {"pkg", "pkg.m", "pkg.other", "pkg.sibling"}
    assert _imported("pkg.m", source, known) == {"pkg.other", "pkg.sibling"}


def test_no_import_cycles():
    graph = import_graph()
    assert "hearlike.eeg.epochs" in graph and graph["hearlike.eeg.epochs"], "the import graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle between modules of {PACKAGE}: {' -> '.join(cycle)}"


def test_every_module_and_function_stays_small():
    """Issue 12's size rule for the whole package: <= 600 lines a module, <= 80 lines a function
    (its signature included, its docstring excluded)."""
    too_long = []
    for module, path in _module_names().items():
        source = path.read_text()
        if len(source.splitlines()) > 600:
            too_long.append(f"{module}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n_lines = node.end_lineno - node.lineno + 1
                if ast.get_docstring(node) is not None:
                    n_lines -= node.body[0].end_lineno - node.body[0].lineno + 1
                if n_lines > 80:
                    too_long.append(f"{module}:{node.lineno} {node.name}: {n_lines} lines")
    assert not too_long, too_long
