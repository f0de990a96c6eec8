"""Decorator forms of ``time()``, ``count_exceptions()`` and ``track_inprogress()``.

Called once when a function is decorated; each call of the wrapped function enters a fresh
context manager made by the metric, so concurrent calls never share timing state. The wrapper
keeps the function's signature for ``inspect.signature`` and ``inspect.getfullargspec`` (as
prometheus_client's decorators do) and its kind: a coroutine function is measured until it
returns, a generator function until it is exhausted or closed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any


def wrap(metric: Any, method: str, args: tuple[Any, ...], func: Callable[..., Any]) -> Callable[..., Any]:
    make = getattr(metric, method)
    wrapper: Callable[..., Any]

    if inspect.iscoroutinefunction(func):

        async def async_wrapper(*a: Any, **kw: Any) -> Any:
            with make(*args):
                return await func(*a, **kw)

        wrapper = async_wrapper
    elif inspect.isgeneratorfunction(func):

        def generator_wrapper(*a: Any, **kw: Any) -> Generator[Any, Any, Any]:
            with make(*args):
                return (yield from func(*a, **kw))

        wrapper = generator_wrapper
    else:

        def plain_wrapper(*a: Any, **kw: Any) -> Any:
            with make(*args):
                return func(*a, **kw)

        wrapper = plain_wrapper

    functools.update_wrapper(wrapper, func)
    try:
        # getfullargspec does not follow __wrapped__, but it reads __signature__.
        setattr(wrapper, "__signature__", inspect.signature(func))  # noqa: B010 - not a plain attribute to mypy
    except (TypeError, ValueError):  # a callable without a signature (some builtins)
        pass
    return wrapper
