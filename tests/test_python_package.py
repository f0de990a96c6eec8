"""The shape of the Python package: its modules import each other without a cycle (issue #12),
and ``ferrotel.logs.OtlpLogSink`` is a class its sinks are instances of.

The import graph is read from the source with ``ast``: every ``import`` and ``from ... import``,
at the top of a module and inside functions alike (a function-local import is still an edge,
only a later one), relative imports resolved. ``ferrotel._core`` (the native module) imports
nothing back and is left out; imports under ``if TYPE_CHECKING:`` never run and are left out.
A module's parent packages, which Python imports first, are not edges: else every package would
be in a cycle with the submodules its ``__init__`` imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ferrotel
import pytest

PACKAGE = "ferrotel"
# the package as imported: the checkout's python/ferrotel in development, site-packages when the
# suite runs against an installed wheel (scripts/test-wheels.sh)
ROOT = Path(ferrotel.__file__).resolve().parent
NATIVE = f"{PACKAGE}._core"


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its own name (its
    ``__init__.py``)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under ``tree`` (functions and classes included), except those in
    the body of an ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _in_package(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:
            # ``from . import x`` in a package's __init__ is relative to the package itself.
            anchor = name.split(".")
            drop = node.level - 1 if is_package else node.level
            base = ".".join(anchor[: len(anchor) - drop] if drop else anchor)
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        for alias in node.names:
            # ``from pkg import sub`` imports the submodule when there is one, else a name of pkg.
            candidate = f"{base}.{alias.name}"
            targets.add(candidate if candidate in modules or candidate == NATIVE else base)
    edges = set()
    for target in targets:
        if not _in_package(target):
            continue
        # ``import ferrotel.logs.x``/``from ferrotel.logs.x import y`` where x is not a module:
        # the nearest enclosing module.
        while target not in modules and target != NATIVE and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != name and target != NATIVE:
            edges.add(target)
    return edges


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import ferrotel.tracing\n"
        "from . import logs, _core\n"
        "from .middleware import asgi\n"
        "if TYPE_CHECKING:\n"
        "    from . import otel\n"
        "def f():\n"
        "    from .config import configure\n"
        "    class C:\n"
        "        def g(self):\n"
        "            import ferrotel.propagation as p\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = {**module_files(), f"{PACKAGE}.probe": path}
    assert imported_modules(f"{PACKAGE}.probe", path, modules) == {
        f"{PACKAGE}.tracing",
        f"{PACKAGE}.logs",
        f"{PACKAGE}.middleware.asgi",
        f"{PACKAGE}.config",
        f"{PACKAGE}.propagation",
    }
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_covers_the_package() -> None:
    graph = import_graph()
    assert {f"{PACKAGE}.otel", f"{PACKAGE}.otel_context", f"{PACKAGE}.bench"} <= graph.keys()
    assert f"{PACKAGE}.tracing" in graph[f"{PACKAGE}.otel"]
    # function-local imports count: the bench's CLI entry is imported inside __main__.main
    assert f"{PACKAGE}.bench" in graph[f"{PACKAGE}.__main__"]


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in the ferrotel package: " + " -> ".join(cycle or ())


def test_otel_and_its_runtime_context_do_not_import_each_other() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.otel" not in graph[f"{PACKAGE}.otel_context"]


def test_otlp_log_sink_is_a_class_of_its_sinks() -> None:
    from ferrotel import _core, logs

    sink = logs.OtlpLogSink("http://127.0.0.1:4318/v1/logs", headers={"x-team": "music"})
    assert isinstance(logs.OtlpLogSink, type)
    assert isinstance(sink, logs.OtlpLogSink)
    assert isinstance(sink, _core.OtlpLogSink)
    assert issubclass(logs.OtlpLogSink, _core.OtlpLogSink)
    assert type(sink) is logs.OtlpLogSink
    assert sink.endpoint == "http://127.0.0.1:4318/v1/logs"
    assert not isinstance(object(), logs.OtlpLogSink)


def test_elasticsearch_sink_is_a_class_of_its_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferrotel import _core, logs

    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    sink = logs.ElasticsearchSink()
    assert type(sink) is logs.ElasticsearchSink
    assert isinstance(sink, _core.ElasticsearchSink)
    assert "http://127.0.0.1:9200" in repr(sink)


def test_otlp_log_sink_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferrotel import logs

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", raising=False)
    sink = logs.OtlpLogSink()
    assert isinstance(sink, logs.OtlpLogSink)
    assert sink.endpoint == "http://localhost:4318/v1/logs"
