"""Redaction settings, the same for log records and spans: what ``ferrotel.logs.configure`` and
``ferrotel.tracing.configure`` take, checked and put in the form the Rust core reads.

The rules, applied on the threads that write and export (never on the application's):

- keys: a value under a key containing password, passwd, passphrase, secret, token, api_key,
  authorization, cookie, credential, private_key, access_key, session, jwt, csrf or xsrf
  (matched without case or separators), or with a word pwd, ssn, pin, cvv or cvc, is written as
  ``[REDACTED]``; ``keys`` adds keys, ``defaults=False`` drops the built-in ones;
- secrets inside text (messages, exception messages and stack traces, string values): the value
  after such a key (``password=…``, ``"api_key": "…"``, ``Authorization: Bearer …``) and a URL's
  credentials (``scheme://user:pass@host``, with the defaults);
- ``values``, opt-in rules that recognise secrets by their shape wherever they are: ``cards``
  (13 to 19 digits with a valid Luhn checksum), ``emails``, ``bearer_tokens`` (``Bearer …`` and
  JSON Web Tokens). Each is one more scan of every string that leaves;
- ``patterns``: a regex (replaced by ``[REDACTED]``) or ``(regex, replacement)`` with ``$1``
  group references, in Rust regex syntax (no look-around or backreferences).

What it costs, measured on the writer's thread (release build, short log-like strings): the
defaults about 1.5 ns per byte of text, and a memoised key lookup (about 20 ns) per key and per
``=`` or ``:`` in text; ``cards`` about 1.5 ns per byte more; ``emails`` and ``bearer_tokens``
next to nothing on text without ``@``, ``bearer`` or ``eyJ`` (a memchr scan decides), a regex
search where it has them. With no rule at all, spans are not looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Union

__all__ = ["MASK_EMAILS", "VALUE_RULES", "RedactPattern", "arguments"]

#: Keeps an address's first character and its domain: ``jane@example.com`` -> ``j***@example.com``.
MASK_EMAILS = (r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", "${1}***@${2}")
#: The opt-in value rules.
VALUE_RULES = ("cards", "emails", "bearer_tokens")

_REDACT_ALL = "[REDACTED]"
# typing.Union, not `|`: a module-level alias is evaluated at import, and `|` between types needs 3.10.
RedactPattern = Union[str, re.Pattern[str], tuple[Union[str, re.Pattern[str]], str]]


def _pattern(rule: RedactPattern) -> tuple[str, str]:
    pattern, replacement = rule if isinstance(rule, tuple) else (rule, _REDACT_ALL)
    if isinstance(pattern, re.Pattern):
        flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
        pattern = flags + pattern.pattern
    if not isinstance(pattern, str) or not isinstance(replacement, str):
        raise TypeError(f"a redact pattern is a regex or a (regex, replacement) pair, not {rule!r}")
    return pattern, replacement


def _names(value: Iterable[str], what: str) -> list[str]:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a list, not the str {value!r}")
    return list(value)


def arguments(
    keys: Iterable[str] = (),
    defaults: bool = True,
    patterns: Iterable[RedactPattern] = (),
    values: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``redact_*`` keyword arguments of the Rust core's ``configure_logs`` and
    ``configure_tracing``; an unknown value rule or an invalid regex raises ``ValueError`` there."""
    return {
        "redact_keys": _names(keys, "redact_keys"),
        "redact_defaults": bool(defaults),
        "redact_patterns": [_pattern(rule) for rule in patterns],
        "redact_values": _names(values, "redact_values"),
    }
