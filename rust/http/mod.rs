//! The HTTP middlewares' work per request, in one native call when the request starts and one
//! when it ends: the server span continuing the caller's trace (made current), the request id,
//! the in-flight gauge; then, recorded off the application's thread (`ends`),
//! `http_requests_total`, the latency histogram with its trace-id exemplar, the request log line
//! and the span's export. The Python middlewares only adapt ASGI and WSGI to these calls; the
//! WSGI one runs here whole.

mod asgi;
pub mod ends;
mod recorder;
mod request;
mod routes;
mod url;
mod wsgi;

pub use asgi::{AsgiSend, PyHttpRequest};
pub use recorder::PyHttpTelemetry;
pub use wsgi::{WsgiExchange, WsgiMiddlewareBase};

/// At import: ended requests still queued are recorded before any read of telemetry, and
/// around a fork.
pub fn init(py: pyo3::Python<'_>) -> pyo3::PyResult<()> {
    crate::runtime::hooks::on_settle(ends::drain);
    crate::runtime::hooks::on_fork(crate::runtime::hooks::ForkHooks {
        before: ends::before_fork,
        parent: ends::after_fork_in_parent,
        child: ends::after_fork_in_child,
    });
    wsgi::install_types(py)
}
