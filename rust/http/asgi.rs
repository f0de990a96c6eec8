//! ASGI: a request starts from the connection `scope`, its status and response headers pass
//! through the `send` the app gets, and it ends under the route Starlette or FastAPI left in
//! the scope.

use std::sync::atomic::Ordering;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::recorder::{known_or_owned, unrecorded, PyHttpTelemetry, METHODS, SCHEMES};
use super::request::Request;
use super::routes::mount_template;
use crate::runtime::selfmetrics;
use crate::traces::span::PySpan;

#[pymethods]
impl PyHttpTelemetry {
    /// Starts an ASGI request: `scope` gives the method, path, scheme and headers.
    /// None when the request cannot be recorded (a scope that is not a dict); the middleware
    /// then serves it unrecorded rather than fail the application.
    fn start_asgi(&self, scope: &Bound<'_, PyAny>) -> Option<PyHttpRequest> {
        let py = scope.py();
        let Ok(scope) = scope.cast::<PyDict>() else {
            selfmetrics::record_drop("http", "unrecordable_request");
            return None;
        };
        let text = |key: &Bound<'_, PyString>, default: &str| -> String {
            scope
                .get_item(key)
                .ok()
                .flatten()
                .and_then(|v| {
                    v.cast::<PyString>()
                        .ok()
                        .and_then(|s| s.to_str().ok().map(str::to_owned))
                })
                .unwrap_or_else(|| default.to_owned())
        };
        let method = known_or_owned(&text(intern!(py, "method"), "GET"), &METHODS);
        let path = text(intern!(py, "path"), "");
        let scheme = known_or_owned(&text(intern!(py, "scheme"), "http"), &SCHEMES);
        let headers = asgi_headers(scope.get_item(intern!(py, "headers")).ok().flatten());
        let started = self.recorder.start(py, method, &path, scheme, |name| {
            headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        let mut request = unrecorded(py, started)?;
        request.root_path = text(intern!(py, "root_path"), "");
        Some(PyHttpRequest { inner: request })
    }
}

/// The headers a request's telemetry reads, from ASGI's `[(name, value), ...]` byte pairs.
fn asgi_headers(headers: Option<Bound<'_, PyAny>>) -> Vec<(String, String)> {
    const WANTED: [&str; 8] = [
        "traceparent",
        "tracestate",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "x-b3-flags",
        "x-request-id",
    ];
    let mut found = Vec::new();
    let Some(Ok(iter)) = headers.map(|h| h.try_iter()) else {
        return found;
    };
    for pair in iter.flatten() {
        let (Ok(name), Ok(value)) = (pair.get_item(0), pair.get_item(1)) else {
            continue;
        };
        let bytes = |v: &Bound<'_, PyAny>| -> Option<Vec<u8>> {
            if let Ok(b) = v.cast::<PyBytes>() {
                Some(b.as_bytes().to_vec())
            } else {
                v.cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok().map(|s| s.as_bytes().to_vec()))
            }
        };
        let Some(name) = bytes(&name) else { continue };
        let Some(wanted) = WANTED.iter().find(|w| w.as_bytes().eq_ignore_ascii_case(&name)) else {
            continue;
        };
        let Some(value) = bytes(&value).and_then(|v| String::from_utf8(v).ok()) else {
            continue;
        };
        // Repeated lines are one comma-separated list (RFC 9110 5.3), as WSGI servers hand them
        // over: several `tracestate` lines are one list, two `traceparent` lines are invalid.
        match found.iter_mut().find(|(k, _)| k == wanted) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => found.push(((*wanted).to_owned(), value)),
        }
    }
    found
}

/// A request in flight, for the ASGI middleware (and any server the Python layer adapts).
#[pyclass(frozen, name = "HttpRequest", module = "ferrotel._core")]
pub struct PyHttpRequest {
    pub(super) inner: Request,
}

impl Request {
    /// Ends an ASGI request under the route Starlette or FastAPI left in `scope`.
    fn finish_asgi(&self, scope: &Bound<'_, PyDict>) {
        let py = scope.py();
        let path = scope
            .get_item(intern!(py, "route"))
            .ok()
            .flatten()
            .and_then(|route| route.getattr_opt(intern!(py, "path")).ok().flatten())
            .and_then(|p| p.cast_into::<PyString>().ok());
        let Some(path) = path else {
            self.finish(py, None);
            return;
        };
        let path = path.to_str().unwrap_or_default();
        // Under a Mount, the router records the inner route; the mount's prefix is in root_path.
        let root: String = scope
            .get_item(intern!(py, "root_path"))
            .ok()
            .flatten()
            .and_then(|r| r.extract::<String>().ok())
            .unwrap_or_default();
        let mounted: String = match root.strip_prefix(self.root_path.as_str()) {
            Some(rest) => rest.to_owned(),
            None => root.chars().skip(self.root_path.chars().count()).collect(),
        };
        if mounted.is_empty() {
            self.finish(py, Some(path));
            return;
        }
        // A Mount with parameters leaves its concrete prefix (`/users/42`) in root_path; its
        // parameters are put back as `{name}`, or the request is unmatched, never the raw URL.
        match mount_template(
            &mounted,
            path,
            scope.get_item(intern!(py, "path_params")).ok().flatten(),
        ) {
            Some(prefix) => self.finish(py, Some(&format!("{prefix}{path}"))),
            None => self.finish(py, None),
        }
    }
}

#[pymethods]
impl PyHttpRequest {
    #[getter]
    fn trace_id(&self) -> &str {
        self.inner.trace_id.as_str()
    }

    #[getter]
    fn request_id(&self) -> &str {
        self.inner.request_id.as_str()
    }

    #[getter]
    fn span(&self, py: Python<'_>) -> Py<PySpan> {
        self.inner.span.clone_ref(py)
    }

    #[getter]
    fn status(&self) -> u16 {
        self.inner.status.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_status(&self, status: u16) {
        self.inner.record_status(status);
    }

    /// The `x-trace-id` and `x-request-id` response headers, as ASGI's byte pairs.
    fn header_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.inner.header_bytes(py)
    }

    /// An ASGI `send` that records the response status and adds the response headers.
    fn wrap_send(slf: &Bound<'_, Self>, send: Py<PyAny>) -> AsgiSend {
        AsgiSend {
            send,
            request: slf.clone().unbind(),
        }
    }

    /// Records an exception that escaped the handler: status 500, the exception on the span.
    fn failed(&self, exc: &Bound<'_, PyAny>) {
        self.inner.failed(exc.py(), exc);
    }

    /// Ends the request under `route`, a framework's raw route (None: no route matched).
    #[pyo3(signature = (route=None))]
    fn finish(&self, py: Python<'_>, route: Option<&str>) {
        self.inner.finish(py, route);
    }

    /// Ends an ASGI request under the route Starlette or FastAPI left in `scope`.
    fn finish_asgi(&self, scope: &Bound<'_, PyDict>) {
        self.inner.finish_asgi(scope);
    }
}

/// The `send` an ASGI app gets: the response start sets the status and gains the headers.
#[pyclass(frozen, module = "ferrotel._core")]
pub struct AsgiSend {
    pub(super) send: Py<PyAny>,
    pub(super) request: Py<PyHttpRequest>,
}

#[pymethods]
impl AsgiSend {
    fn __call__<'py>(&self, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = message.py();
        if let Ok(message) = message.cast::<PyDict>() {
            let start = message.get_item(intern!(py, "type"))?.is_some_and(|t| {
                t.cast::<PyString>()
                    .is_ok_and(|t| t.to_str().ok() == Some("http.response.start"))
            });
            if start {
                let request = &self.request.get().inner;
                if let Some(status) = message.get_item(intern!(py, "status"))? {
                    if let Ok(status) = status.extract::<u16>() {
                        request.record_status(status);
                    }
                }
                let headers = request.header_bytes(py)?;
                if let Some(existing) = message.get_item(intern!(py, "headers"))? {
                    for (i, item) in existing.try_iter()?.enumerate() {
                        headers.insert(i, item?)?;
                    }
                }
                message.set_item(intern!(py, "headers"), headers)?;
            }
        }
        self.send.bind(py).call1((message,))
    }
}
