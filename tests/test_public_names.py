"""Every public name of prometheus_client, prometheus_client.core, .registry and .exposition
(and .validation, .multiprocess)
exists in the matching ferrotel module, except those listed below with the reason they are out
of scope: a gap cannot hide."""

from __future__ import annotations

import importlib
import importlib.util
import types

import prometheus_client
import pytest

MODULES = {
    "prometheus_client": "ferrotel",
    "prometheus_client.core": "ferrotel.core",
    "prometheus_client.registry": "ferrotel.registry",
    "prometheus_client.exposition": "ferrotel.exposition",
    "prometheus_client.validation": "ferrotel.validation",
    "prometheus_client.multiprocess": "ferrotel.multiprocess",
}

# Names of those modules that are out of scope, each with its reason. Keep this short: anything
# listed here is a place where moving over is more than an import change. (Empty: every public
# name of the modules above has a ferrotel counterpart.)
EXCLUDED: dict[str, str] = {}

# Whole prometheus_client modules with no ferrotel counterpart, and why.
EXCLUDED_MODULES = {
    # Serving /metrics from Twisted: ferrotel serves it from a Rust thread, or from any WSGI or
    # ASGI app (make_wsgi_app, make_asgi_app).
    "prometheus_client.twisted": "Twisted bridge",
    # Pushing to Graphite: out of scope; ferrotel exports to Prometheus, the Pushgateway and OTLP.
    "prometheus_client.bridge.graphite": "Graphite bridge",
    # The aiohttp and Django views: make_asgi_app / make_wsgi_app serve both frameworks.
    "prometheus_client.aiohttp": "aiohttp handler",
    "prometheus_client.django": "Django view",
}


def public_names(module: types.ModuleType) -> set[str]:
    """``__all__``, and every other name defined in the module itself (not imported into it)."""
    names = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        defined_in = getattr(value, "__module__", None)
        if not callable(value) and not isinstance(value, type):
            defined_in = type(value).__module__ if defined_in is None else defined_in
        if defined_in == module.__name__:
            names.add(name)
    return names


@pytest.mark.parametrize("theirs", sorted(MODULES))
def test_ferrotel_has_every_public_name(theirs: str) -> None:
    reference = importlib.import_module(theirs)
    ours = importlib.import_module(MODULES[theirs])
    missing = sorted(
        name
        for name in public_names(reference)
        if f"{theirs}.{name}" not in EXCLUDED and not hasattr(ours, name)
    )
    assert missing == [], f"{MODULES[theirs]} lacks {missing}"


def test_exclusions_are_still_needed() -> None:
    for qualified in EXCLUDED:
        module, _, name = qualified.rpartition(".")
        assert hasattr(importlib.import_module(module), name), f"{qualified} no longer exists"
        assert not hasattr(importlib.import_module(MODULES[module]), name), f"{qualified} is now there"
    for module in EXCLUDED_MODULES:
        assert importlib.util.find_spec(module) is not None, f"{module} no longer exists"
        ours = module.replace("prometheus_client", "ferrotel")
        assert not _exists(ours), f"{ours} now exists: drop {module} from EXCLUDED_MODULES"


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def test_the_scan_sees_prometheus_clients_names() -> None:
    """The scan is not vacuous: it finds the names everyone uses."""
    assert {"Counter", "REGISTRY", "start_http_server", "write_to_textfile"} <= public_names(
        prometheus_client
    )
