"""The package's structure: the engine never imports the command layer, and no module imports itself back.

Every import counts, those inside functions too (read from the source with ast, nothing is run)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "reportgen"
COMMAND_LAYER = ("reportgen.cli", "reportgen.commands")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(current: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = current.split(".")
        if not is_pkg:
            parts = parts[:-1]
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve(name, path.name == "__init__.py", node)
            else:
                continue
            deps.update(t for t in targets if t in mods and t != name)
        graph[name] = deps
    return graph


def _in_layer(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in COMMAND_LAYER)


def test_the_engine_never_imports_the_command_layer():
    graph = import_graph()
    bad = sorted(f"{m} imports {d}" for m, deps in graph.items() if not _in_layer(m)
                 for d in deps if _in_layer(d))
    assert not bad, bad


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ is imported by its modules implicitly: ignore edges into a parent package
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_each_command_has_its_module():
    from reportgen.cli import COMMANDS, command_module
    for name in COMMANDS:
        path = PKG.parent / (command_module(name).replace(".", "/") + ".py")
        assert path.is_file(), path
