"""HTTP middleware: per request, ``http_requests_total{method,path,status}`` and
``http_request_duration_seconds`` (with the route template as ``path``), an in-flight gauge,
a server span continuing an incoming ``traceparent``, a request log line with a request id,
and ``x-trace-id`` / ``x-request-id`` response headers.

    from ferrotel.middleware import ASGIMiddleware, WSGIMiddleware
"""

from .asgi import ASGIMiddleware
from .wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "WSGIMiddleware"]
