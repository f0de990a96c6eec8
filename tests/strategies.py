"""Shared by the property-based tests (issue #16, "fuzzing as a habit"): test_properties_*.py.

Whatever the input, recording never raises into the caller (defining a metric may raise
``ValueError`` or ``TypeError``, nothing else), and the output stays valid: the exposition parses
with prometheus_client's parsers, each log line with ``json.loads``, each OTLP request with
opentelemetry-proto. The example count is bounded by the hypothesis profile in conftest.py.

A bug found outside the logs is marked ``xfail(strict=True, reason="issue #N: what fails")``
for its owner (the marker goes when the fix makes the test pass).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# The fixtures configure a pipeline once per test, for all of its examples.
once_per_test = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any Python text, lone surrogates included (what os.fsdecode and surrogateescape produce).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# Text that is valid Unicode (no lone surrogates).
clean_text = st.text(max_size=40)
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text holding at least one lone surrogate.
surrogate_text = st.tuples(clean_text, SURROGATE, clean_text).map("".join)


def lossy(text: str) -> str:
    """Text as ferrotel keeps it: lone surrogates replaced."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
