"""The project's structure: no import cycles."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

from conftest import REPO

PACKAGES = ("bench", "bench_codecs", "bench_datasets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """First-party modules a module imports anywhere (functions included), except under TYPE_CHECKING."""
    found: set[str] = set()

    def resolve(name: str) -> str | None:  # the longest known module that ``name`` names or lies in
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if target := resolve(alias.name):
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                prefix = f"{base}.{node.module}" if node.module else base
            else:
                prefix = node.module or ""
            for alias in node.names:
                if target := resolve(f"{prefix}.{alias.name}") or resolve(prefix):
                    found.add(target)
        todo.extend(ast.iter_child_nodes(node))
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {(_module_name(p), p) for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    known = {name for name, _ in files}
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
        for name, path in files
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert "bench.run.runner" in graph and "bench_codecs.jpeg" in graph  # the scan sees the project
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles_through_function_level_imports():
    tree = ast.parse("def f():\n    from pkg import b\n")
    graph = {"pkg.a": _imports(tree, "pkg.a", False, {"pkg.a", "pkg.b"}), "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    assert _imports(typed, "pkg.a", False, {"pkg.a", "pkg.b"}) == set()
