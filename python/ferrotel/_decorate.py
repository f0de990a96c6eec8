"""Decorator forms of ``time()``, ``count_exceptions()`` and ``track_inprogress()``.

Called once when a function is decorated; each call of the wrapped function enters a fresh
context manager made by the metric, so concurrent calls never share timing state.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def wrap(metric: Any, method: str, args: tuple[Any, ...], func: Callable[..., Any]) -> Callable[..., Any]:
    make = getattr(metric, method)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*a: Any, **kw: Any) -> Any:
            with make(*args):
                return await func(*a, **kw)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*a: Any, **kw: Any) -> Any:
        with make(*args):
            return func(*a, **kw)

    return wrapper
