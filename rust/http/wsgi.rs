//! WSGI, served natively: one object is both the `start_response` the app gets (recording the
//! status, adding the response headers) and the body the server gets (closing it ends the
//! request), called through vectorcall.

use std::borrow::Cow;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyString, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

use super::recorder::{known_or_owned, unrecorded, PyHttpTelemetry, METHODS, SCHEMES};
use super::request::Request;
use super::routes::UNMATCHED;
use crate::runtime::errors::Error;
use crate::runtime::vectorcall;

/// Where `WsgiMiddlewareBase` keeps its vectorcall function, and its `tp_call` from before
/// `install_types` pointed it at vectorcall: set once, at import.
static BASE_VECTORCALL: std::sync::OnceLock<(isize, usize)> = std::sync::OnceLock::new();

/// At import, before any object of either type exists: `WsgiMiddlewareBase` and `WsgiExchange`
/// are called through the function each keeps in its `call` field.
pub(super) fn install_types(py: Python<'_>) -> PyResult<()> {
    // Both values lie at the same place in their objects: same alignment, same PyO3 header.
    const _: () = assert!(std::mem::align_of::<WsgiExchange>() == std::mem::align_of::<WsgiMiddlewareBase>());
    let probe = Bound::new(py, WsgiMiddlewareBase::unbound())?;
    let value = vectorcall::value_offset(&probe);
    let base = py.get_type::<WsgiMiddlewareBase>();
    let base_offset = value + std::mem::offset_of!(WsgiMiddlewareBase, call) as isize;
    let base_call = vectorcall::tp_call_address(&base);
    // SAFETY: every WsgiMiddlewareBase (and WsgiExchange) holds a valid vectorcall function in
    // its `call` field, at these offsets; no object of either type has been called yet.
    unsafe {
        vectorcall::install(&base, base_offset);
        let exchange_offset = value + std::mem::offset_of!(WsgiExchange, call) as isize;
        vectorcall::install(&py.get_type::<WsgiExchange>(), exchange_offset);
    }
    let _ = BASE_VECTORCALL.set((base_offset, base_call));
    Ok(())
}

#[pymethods]
impl PyHttpTelemetry {
    /// Serves one WSGI request through `app`, recording it; the body it returns ends the
    /// request when the server closes it, so a streamed body is measured to its last chunk.
    fn wsgi<'py>(
        slf: &Bound<'py, Self>,
        app: &Bound<'py, PyAny>,
        environ: &Bound<'py, PyAny>,
        start_response: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let Ok(env) = environ.cast::<PyDict>() else {
            return app.call1((environ, start_response));
        };
        let text = |key: &Bound<'_, PyString>| -> Option<String> {
            env.get_item(key).ok().flatten().and_then(|v| {
                v.cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok().map(str::to_owned))
            })
        };
        // Read in place: the environ holds these strs while the request starts.
        let field = |key: &Bound<'py, PyString>| -> Option<Bound<'py, PyString>> {
            env.get_item(key)
                .ok()
                .flatten()
                .and_then(|v| v.cast_into::<PyString>().ok())
        };
        let path_str = field(intern!(py, "PATH_INFO"));
        let path = path_str.as_ref().and_then(|s| s.to_str().ok()).unwrap_or("");
        if this.excluded.contains(path) {
            return app.call1((environ, start_response));
        }
        let method = field(intern!(py, "REQUEST_METHOD"))
            .and_then(|s| s.to_str().ok().map(|m| known_or_owned(m, &METHODS)))
            .unwrap_or(Cow::Borrowed("GET"));
        let scheme = field(intern!(py, "wsgi.url_scheme"))
            .and_then(|s| s.to_str().ok().map(|m| known_or_owned(m, &SCHEMES)))
            .unwrap_or(Cow::Borrowed("http"));
        let started = this.recorder.start(py, method, path, scheme, |name| {
            let key = match name {
                "traceparent" => intern!(py, "HTTP_TRACEPARENT"),
                "tracestate" => intern!(py, "HTTP_TRACESTATE"),
                "b3" => intern!(py, "HTTP_B3"),
                "x-b3-traceid" => intern!(py, "HTTP_X_B3_TRACEID"),
                "x-b3-spanid" => intern!(py, "HTTP_X_B3_SPANID"),
                "x-b3-sampled" => intern!(py, "HTTP_X_B3_SAMPLED"),
                "x-b3-flags" => intern!(py, "HTTP_X_B3_FLAGS"),
                "x-request-id" => intern!(py, "HTTP_X_REQUEST_ID"),
                _ => return None,
            };
            text(key)
        });
        let Some(request) = unrecorded(py, started) else {
            return app.call1((environ, start_response));
        };
        // One object is both the app's `start_response` and the body handed to the server.
        let exchange = Bound::new(
            py,
            WsgiExchange {
                call: exchange_call,
                request,
                start_response: start_response.clone().unbind(),
                environ: env.clone().unbind(),
                telemetry: slf.clone().unbind(),
                body: Mutex::new(None),
                iter: Mutex::new(None),
            },
        )?;
        match app.call1((environ, &exchange)) {
            Ok(body) => {
                *exchange.get().body.lock() = Some(body.unbind());
                Ok(exchange.into_any())
            }
            Err(err) => {
                let request = &exchange.get().request;
                request.failed(py, err.value(py).as_any());
                request.finish_with(py, this.wsgi_template(request, env));
                Err(err)
            }
        }
    }
}

impl PyHttpTelemetry {
    /// The template of the route a WSGI request matched: the one noted while the app
    /// answered, else the app's or framework's, else the fallback's answer (Django's resolver).
    fn wsgi_template(&self, request: &Request, environ: &Bound<'_, PyDict>) -> Arc<str> {
        let py = environ.py();
        if let Some(template) = request.route.lock().take() {
            return template;
        }
        if let Some(template) = self.recorder.framework_template(environ) {
            return template;
        }
        let Some(fallback) = self.route_fallback.as_ref() else {
            return UNMATCHED.into();
        };
        match fallback.bind(py).call1((environ,)) {
            Ok(route) => self
                .recorder
                .template(route.cast::<PyString>().ok().and_then(|s| s.to_str().ok())),
            Err(err) => {
                err.write_unraisable(py, Some(fallback.bind(py)));
                UNMATCHED.into()
            }
        }
    }
}

/// A Python str of ASCII text: made at its size and the bytes copied in (no decoding).
fn ascii_string<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyString>> {
    debug_assert!(text.is_ascii());
    // SAFETY: PyUnicode_New(n, 127) makes a compact ASCII str of n one-byte characters (or
    // NULL with an error set); exactly n ASCII bytes are written into it before it is used.
    unsafe {
        let raw = pyo3::ffi::PyUnicode_New(text.len() as pyo3::ffi::Py_ssize_t, 127);
        let string = Bound::from_owned_ptr_or_err(py, raw)?;
        std::ptr::copy_nonoverlapping(text.as_ptr(), pyo3::ffi::PyUnicode_1BYTE_DATA(raw), text.len());
        Ok(string.cast_into_unchecked())
    }
}

/// One WSGI request: the `start_response` the app gets (it records the status and adds the
/// response headers) and the body the server gets (passed through chunk by chunk; closing it
/// ends the request, so a streamed body is measured to its last chunk).
#[pyclass(frozen, module = "ferrotel._core")]
pub struct WsgiExchange {
    /// What CPython calls when the app calls `start_response` (see `crate::runtime::vectorcall`).
    pub(super) call: pyo3::ffi::vectorcallfunc,
    pub(super) request: Request,
    pub(super) start_response: Py<PyAny>,
    pub(super) environ: Py<PyDict>,
    pub(super) telemetry: Py<PyHttpTelemetry>,
    pub(super) body: Mutex<Option<Py<PyAny>>>,
    pub(super) iter: Mutex<Option<Py<PyIterator>>>,
}

/// `WsgiExchange`'s vectorcall: the app calling `start_response(status, headers, exc_info=None)`.
///
/// # Safety
/// Called by CPython, attached, with `callable` a live `WsgiExchange` and the arguments as
/// vectorcall passes them.
unsafe extern "C" fn exchange_call(
    callable: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargsf: usize,
    kwnames: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    crate::runtime::vectorcall::guarded(|py| {
        // SAFETY: only WsgiExchange's type points its vectorcall slot here; the arguments are
        // as CPython passed them.
        let (this, [status, headers, exc_info]) = unsafe {
            (
                Borrowed::from_ptr(py, callable).cast_unchecked::<WsgiExchange>(),
                crate::runtime::vectorcall::bind(
                    py,
                    "start_response",
                    ["status", "headers", "exc_info"],
                    args,
                    nargsf,
                    kwnames,
                )?,
            )
        };
        let missing = |name: &str| Error::wrong_type(format!("start_response() missing argument '{name}'"));
        let status = status.ok_or_else(|| missing("status"))?;
        let status = status.cast::<PyString>()?;
        let headers = headers.ok_or_else(|| missing("headers"))?;
        this.get()
            .start_response(&status, &headers, exc_info.as_deref())
            .map(Bound::into_ptr)
    })
}

impl WsgiExchange {
    /// The app's `start_response(status, headers, exc_info=None)`.
    fn start_response<'py>(
        &self,
        status: &Bound<'py, PyString>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = status.py();
        let request = &self.request;
        if let Some(code) = status.to_str()?.get(..3).and_then(|c| c.parse::<u16>().ok()) {
            request.record_status(code);
        }
        // Flask drops its request from the environ when its context ends, before the server
        // closes the body: the rule it matched is read now.
        if let Some(template) = request.recorder.framework_template(self.environ.bind(py)) {
            *request.route.lock() = Some(template);
        }
        // A new list (the app may hand the same one to every response) with room for ours.
        let ours = [
            (intern!(py, "x-trace-id"), ascii_string(py, request.trace_id.as_str())?),
            (
                intern!(py, "x-request-id"),
                ascii_string(py, request.request_id.as_str())?,
            ),
        ];
        let all = match headers.cast::<PyList>() {
            Ok(list) => {
                let n = list.len();
                // SAFETY: a new list of n + 2 slots, each set once with a new reference before
                // the list is used.
                unsafe {
                    let raw = pyo3::ffi::PyList_New((n + 2) as pyo3::ffi::Py_ssize_t);
                    let all = Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked::<PyList>();
                    for (i, item) in list.iter().enumerate().take(n) {
                        pyo3::ffi::PyList_SET_ITEM(raw, i as pyo3::ffi::Py_ssize_t, item.into_ptr());
                    }
                    for (j, pair) in ours.into_iter().enumerate() {
                        let pair = pair.into_pyobject(py)?;
                        pyo3::ffi::PyList_SET_ITEM(raw, (n + j) as pyo3::ffi::Py_ssize_t, pair.into_ptr());
                    }
                    all
                }
            }
            Err(_) => {
                let list = PyList::empty(py);
                for item in headers.try_iter()? {
                    list.append(item?)?;
                }
                for pair in ours {
                    list.append(pair)?;
                }
                list
            }
        };
        let start_response = self.start_response.bind(py);
        match exc_info.filter(|e| !e.is_none()) {
            Some(exc_info) => start_response.call1((status, all, exc_info)),
            None => start_response.call1((status, all)),
        }
    }
}

#[pymethods]
impl WsgiExchange {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let existing = self.iter.lock().as_ref().map(|i| i.clone_ref(py));
        let iter = match existing {
            Some(iter) => iter.into_bound(py),
            None => {
                let Some(body) = self.body.lock().as_ref().map(|b| b.clone_ref(py)) else {
                    return Ok(None);
                };
                let iter = body.bind(py).try_iter().inspect_err(|err| self.body_failed(py, err))?;
                *self.iter.lock() = Some(iter.clone().unbind());
                iter
            }
        };
        match iter.clone().next() {
            None => Ok(None),
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(err)) => {
                self.body_failed(py, &err);
                Err(err)
            }
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        // Taken, not borrowed: a body that holds its `start_response` (this object) would
        // otherwise keep itself alive in a cycle.
        let body = self.body.lock().take();
        drop(self.iter.lock().take());
        let closed = match body {
            Some(body) => {
                let body = body.bind(py);
                // A list or tuple (the common body) has no close; asking would raise and catch
                // an AttributeError on every request.
                let plain = body.is_exact_instance_of::<PyList>() || body.is_exact_instance_of::<PyTuple>();
                let close = if plain {
                    Ok(None)
                } else {
                    body.getattr_opt(intern!(py, "close"))
                };
                close.and_then(|close| close.map_or(Ok(()), |close| close.call0().map(drop)))
            }
            None => Ok(()),
        };
        if !self.request.is_finished() {
            let template = self.telemetry.get().wsgi_template(&self.request, self.environ.bind(py));
            self.request.finish_with(py, template);
        }
        closed
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.start_response)?;
        visit.call(&self.environ)?;
        visit.call(&self.telemetry)?;
        visit.call(&self.request.span)?;
        // A lock held elsewhere (never across a Python call) only makes the collector keep
        // these alive a while longer.
        if let Some(body) = self.body.try_lock() {
            visit.call(body.as_ref())?;
        }
        if let Some(iter) = self.iter.try_lock() {
            visit.call(iter.as_ref())?;
        }
        if let Some(token) = self.request.token.try_lock() {
            visit.call(token.as_ref())?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(self.body.lock().take());
        drop(self.iter.lock().take());
    }
}

impl WsgiExchange {
    fn body_failed(&self, py: Python<'_>, err: &PyErr) {
        self.request.failed(py, err.value(py).as_any());
    }
}

/// The native base of the Python `WSGIMiddleware`: calling it serves a request without a
/// Python frame of its own, through vectorcall (no argument tuple) once `_bind` has run.
#[pyclass(subclass, frozen, name = "WsgiMiddlewareBase", module = "ferrotel._core")]
pub struct WsgiMiddlewareBase {
    /// What CPython calls when the server calls the middleware (see `crate::runtime::vectorcall`).
    pub(super) call: pyo3::ffi::vectorcallfunc,
    pub(super) bound: parking_lot::RwLock<Option<(Py<PyAny>, Py<PyHttpTelemetry>)>>,
}

impl WsgiMiddlewareBase {
    /// A middleware not yet given its app (`_bind`).
    fn unbound() -> Self {
        Self {
            call: middleware_call,
            bound: parking_lot::RwLock::new(None),
        }
    }

    fn serve<'py>(
        &self,
        environ: &Bound<'py, PyAny>,
        start_response: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = environ.py();
        let Some((app, telemetry)) = self
            .bound
            .read()
            .as_ref()
            .map(|(a, t)| (a.clone_ref(py).into_bound(py), t.clone_ref(py).into_bound(py)))
        else {
            return Err(Error::wrong_type("the WSGI middleware was not given an app").into());
        };
        PyHttpTelemetry::wsgi(&telemetry, &app, environ, start_response)
    }
}

/// `WsgiMiddlewareBase`'s vectorcall: the server calling `middleware(environ, start_response)`.
///
/// # Safety
/// Called by CPython, attached, with `callable` a live `WsgiMiddlewareBase` (or an instance of
/// a Python subclass) and the arguments as vectorcall passes them.
unsafe extern "C" fn middleware_call(
    callable: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargsf: usize,
    kwnames: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    crate::runtime::vectorcall::guarded(|py| {
        // SAFETY: only types whose instances lay out a WsgiMiddlewareBase point their vectorcall
        // slot here; the arguments are as CPython passed them.
        let (this, [environ, start_response]) = unsafe {
            (
                Borrowed::from_ptr(py, callable).cast_unchecked::<WsgiMiddlewareBase>(),
                crate::runtime::vectorcall::bind(
                    py,
                    "WSGIMiddleware",
                    ["environ", "start_response"],
                    args,
                    nargsf,
                    kwnames,
                )?,
            )
        };
        let missing = |name: &str| Error::wrong_type(format!("WSGIMiddleware() missing argument '{name}'"));
        let environ = environ.ok_or_else(|| missing("environ"))?;
        let start_response = start_response.ok_or_else(|| missing("start_response"))?;
        this.get().serve(&environ, &start_response).map(Bound::into_ptr)
    })
}

#[pymethods]
impl WsgiMiddlewareBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Self::unbound()
    }

    /// Serves requests through `app`, recorded by `telemetry`.
    fn _bind(&self, app: Py<PyAny>, telemetry: Py<PyHttpTelemetry>) {
        *self.bound.write() = Some((app, telemetry));
    }

    /// A subclass (the Python `WSGIMiddleware`, or a user's) is called through vectorcall too,
    /// set up here as the class is made, unless it defines its own `__call__`.
    #[classmethod]
    #[pyo3(signature = (**_kwargs))]
    fn __init_subclass__(cls: &Bound<'_, PyType>, _kwargs: Option<&Bound<'_, PyDict>>) {
        if let Some(&(offset, base_call)) = BASE_VECTORCALL.get() {
            // SAFETY: a subclass lays out its base's part at the same place, so every object
            // of `cls` holds the base's vectorcall function at `offset`.
            unsafe { vectorcall::install_for_subclass(cls, offset, base_call) };
        }
    }

    fn __call__<'py>(
        &self,
        environ: &Bound<'py, PyAny>,
        start_response: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.serve(environ, start_response)
    }
}
