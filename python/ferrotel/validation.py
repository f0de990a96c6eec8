"""Metric and label name validation, switchable as prometheus_client's ``validation`` module is.

By default any UTF-8 metric or label name is accepted (Prometheus 3); the exposition quotes it
for a scraper that asked for ``escaping=allow-utf-8`` and rewrites it to underscores for one that
did not. ``enable_legacy_validation()`` (or ``PROMETHEUS_LEGACY_NAME_VALIDATION=true`` at import)
brings back the ``[a-zA-Z_:][a-zA-Z0-9_:]*`` rule for metrics declared from then on.
"""

from __future__ import annotations

from ._core import disable_legacy_validation, enable_legacy_validation, get_legacy_validation

__all__ = ["disable_legacy_validation", "enable_legacy_validation", "get_legacy_validation"]
