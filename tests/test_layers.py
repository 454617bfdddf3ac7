"""The package's import graph: no cycle, and the core never imports the layers above it.

Every ``import`` statement counts, those inside functions included (a lazy import is still a
dependency). See docs/ARCHITECTURE.md for the layers.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "diffblend_astra"
ABOVE_THE_CORE = ("diffblend_astra.comparisons", "diffblend_astra.cli",
                  "diffblend_astra.methods", "diffblend_astra.experiment",
                  "diffblend_astra.__main__")
"""The registry, the comparison systems and the command line: everything else is the core."""


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else \
                node.module
            for alias in node.names:          # ``from . import baselines`` names a module
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m in modules and m != name}


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _in(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_core_imports_neither_the_comparisons_nor_the_cli():
    graph = _graph()
    wrong = {name: sorted(m for m in targets if _in(m, ABOVE_THE_CORE))
             for name, targets in graph.items() if not _in(name, ABOVE_THE_CORE)}
    assert not {name: targets for name, targets in wrong.items() if targets}


def test_no_import_cycle():
    graph, state, path = _graph(), {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            assert state.get(target) != "open", \
                "import cycle: " + " -> ".join(path[path.index(target):] + [target])
            if target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
