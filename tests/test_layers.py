"""The layers hold: read from the import graph of every module in the package (lazy imports
inside functions included), so a new import that breaks them fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streamer"

# Nothing below `pipeline/` reaches up into the pipeline, the server or the command line.
BELOW_PIPELINE = ("frame", "errors", "capture", "tracking", "engines", "compose", "sinks")
ABOVE = ("streamer.pipeline", "streamer.server", "streamer.cli", "streamer.webpage", "streamer.demo")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every `streamer...` module `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "streamer" or name.startswith("streamer.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # `from streamer.x import y` names module x.y when y is a module, else module x.
        graph[name] = {target for target in _imports(path) if target in modules and target != name}
    return graph


GRAPH = _graph()


def test_the_graph_covers_the_package():
    assert "streamer.pipeline.stylizer" in GRAPH and "streamer.engines.registry" in GRAPH
    assert "streamer.engines.base" in GRAPH["streamer.pipeline.stylizer"]


@pytest.mark.parametrize("layer", BELOW_PIPELINE)
def test_nothing_below_the_pipeline_imports_it_or_anything_above(layer):
    offenders = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module == f"streamer.{layer}" or module.startswith(f"streamer.{layer}.")
        for target in targets
        if target.startswith(ABOVE)
    ]
    assert not offenders, "\n".join(offenders)


def test_engines_know_no_tracking_compositing_sources_or_sinks():
    lower = ("streamer.tracking", "streamer.compose", "streamer.capture", "streamer.sinks")
    offenders = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("streamer.engines")
        for target in targets
        if target.startswith(lower)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_pipeline_does_not_import_the_server_or_the_command_line():
    offenders = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("streamer.pipeline")
        for target in targets
        if target.startswith(("streamer.server", "streamer.cli"))
    ]
    assert not offenders, "\n".join(offenders)


def test_there_is_no_import_circle():
    """Between modules (a package's __init__ re-exporting its own modules is not a circle)."""

    def edges(module: str) -> set[str]:
        return {t for t in GRAPH[module] if not (GRAPH.get(t) is not None and module.startswith(t + "."))}

    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges(module)):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (circle := visit(target)):
                return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (circle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(circle))
