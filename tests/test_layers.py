"""The Rust core keeps its shape: each top-level module imports only from the layers below it.

The order is written once, here (docs/architecture.md draws it). The test reads every
``crate::`` and ``super::`` path in ``rust/`` (``use`` lines and inline paths alike), resolves
it to the top-level module it names, and fails on any import of a higher layer, of another
signal (except the read-only ids of the current span), or of a module it does not know.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RUST = Path(__file__).resolve().parent.parent / "rust"
# the Rust sources: in a source checkout only (tests/ copied next to an installed wheel has none)
pytestmark = pytest.mark.skipif(not RUST.is_dir(), reason="reads the Rust sources in rust/, not in this tree")

# Bottom up: a module may import from its own layer's module and from every layer below.
LAYERS: dict[str, int] = {
    "runtime": 1,  # workers, flush/shutdown/fork sequencing, hooks, errors, self-metric counts
    "transport": 2,  # batch worker, queues, retry, HTTP client, gzip, sizes, URLs
    "metrics": 3,  # one pipeline per signal ...
    "traces": 3,
    "logs": 3,
    "http": 4,  # the middlewares
}
# What one signal may read of another: the ids of the current span (log correlation).
SHARED_ACROSS_SIGNALS = {("traces", "context"), ("traces", "ids")}

PATH = re.compile(r"\b((?:crate|super)(?:::\w+)+)")
GROUP = re.compile(r"\buse\s+((?:crate|super)(?:::\w+)*)::\{([^;]*)\}", re.S)


def module_path(file: Path, root: Path) -> list[str]:
    """``rust/http/asgi.rs`` -> ["http", "asgi"]; ``rust/http/mod.rs`` -> ["http"]."""
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "mod" or parts == ["lib"]:
        parts = parts[:-1]
    return parts


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def paths_in(text: str) -> list[str]:
    """Every crate:: / super:: path, with `use a::{b, c::d}` groups expanded."""
    text = strip_comments(text)
    found = []
    for match in GROUP.finditer(text):
        base = match.group(1)
        for item in re.split(r",", match.group(2)):
            item = item.strip().split(" as ")[0].strip()
            if item and item not in ("self", "*") and re.fullmatch(r"[\w:]+", item):
                found.append(f"{base}::{item}")
            elif item in ("self", "*"):
                found.append(base)
        text = text.replace(match.group(0), "")
    found.extend(PATH.findall(text))
    return found


def resolve(path: str, here: list[str]) -> list[str]:
    """A path as module names from the crate root."""
    parts = path.split("::")
    if parts[0] == "crate":
        return parts[1:]
    base = list(here)
    while parts and parts[0] == "super":
        base = base[:-1]
        parts = parts[1:]
    return base + parts


def violations(root: Path = RUST) -> list[str]:
    found = []
    for file in sorted(p for p in root.rglob("*.rs") if p.relative_to(root) != Path("lib.rs")):
        here = module_path(file, root)
        own = here[0]
        if own not in LAYERS:
            found.append(f"{file.relative_to(root)}: top-level module {own!r} has no layer")
            continue
        for path in paths_in(file.read_text()):
            target = resolve(path, here)
            if not target or target[0] == own:
                continue
            top = target[0]
            where = f"{file.relative_to(root)} imports {path}"
            if top not in LAYERS:
                found.append(f"{where}: {top!r} has no layer")
            elif LAYERS[top] > LAYERS[own]:
                found.append(f"{where}: {top} (layer {LAYERS[top]}) is above {own} (layer {LAYERS[own]})")
            elif LAYERS[top] == LAYERS[own] and tuple(target[:2]) not in SHARED_ACROSS_SIGNALS:
                found.append(f"{where}: one signal may read only {sorted(SHARED_ACROSS_SIGNALS)} of another")
    return found


def test_every_top_level_module_has_a_layer() -> None:
    tops = {p.relative_to(RUST).parts[0].removesuffix(".rs") for p in RUST.iterdir()}
    assert tops - {"lib"} == set(LAYERS), "a top-level module was added or removed: give it a layer here"


def test_no_module_imports_from_a_higher_layer_or_another_signal() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("use crate::http::ends;", ["crate::http::ends"]),
        (
            "use crate::traces::{context, ids::trace_hex};",
            ["crate::traces::context", "crate::traces::ids::trace_hex"],
        ),
        (
            "let x = crate::metrics::registry::default_registry(py);",
            ["crate::metrics::registry::default_registry"],
        ),
        ("// use crate::http::ends;\nuse super::super::Exemplar;", ["super::super::Exemplar"]),
    ],
)
def test_paths_are_read_from_use_lines_groups_and_inline_code(source: str, expected: list[str]) -> None:
    assert paths_in(source) == expected


def test_the_check_reports_an_upward_import_and_a_cross_signal_one(tmp_path: Path) -> None:
    """The check itself can fail: a tree that breaks the rule is reported, line by line."""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "runtime").mkdir()
    (tmp_path / "metrics" / "registry.rs").write_text("fn read() { crate::http::ends::drain(); }\n")
    (tmp_path / "logs" / "format.rs").write_text(
        "use crate::traces::ids::trace_hex;\nuse crate::metrics::family;\n"
    )
    (tmp_path / "runtime" / "mod.rs").write_text("use super::transport::worker;\n")
    found = violations(tmp_path)
    assert len(found) == 3, found
    assert any("metrics/registry.rs imports crate::http::ends::drain" in v for v in found)
    assert any("logs/format.rs imports crate::metrics::family" in v for v in found)
    assert any("runtime/mod.rs imports super::transport::worker" in v for v in found)


def test_super_paths_resolve_from_the_file_they_are_in() -> None:
    assert resolve("super::super::Exemplar", ["metrics", "exposition", "text"]) == ["metrics", "Exemplar"]
    assert resolve("super::context", ["traces", "span"]) == ["traces", "context"]
    assert resolve("super::transport", ["runtime"]) == ["transport"]
