//! The HTTP middlewares' work per request, in one native call when the request starts and one
//! when it ends: the server span continuing the caller's trace (made current), the request id,
//! the in-flight gauge; then, recorded off the application's thread (`ends`),
//! `http_requests_total`, the latency histogram with its trace-id exemplar, the request log line
//! and the span's export. The Python middlewares only adapt ASGI and WSGI to these calls; the
//! WSGI one runs here whole.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use smallvec::SmallVec;

use crate::logs::context::current as log_context;
use crate::logs::pipeline as log_pipeline;
use crate::logs::record::Level;
use crate::metrics::counter::{CounterCore, PyCounter};
use crate::metrics::family::Family;
use crate::metrics::gauge::{GaugeCore, PyGauge};
use crate::metrics::histogram::{HistogramCore, PyHistogram};
use crate::metrics::selfmetrics;
use crate::traces::context;
use crate::traces::data::{now_ns, Scope, SpanKind, StatusCode};
use crate::traces::ids;
use crate::traces::propagation::extract_with;
use crate::traces::span::{PySpan, Recording};
use crate::traces::tracer::{sample_child, PyTracer};

pub mod ends;

/// The path label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";
/// Route templates remembered; past this many distinct routes they are converted each time.
const TEMPLATE_CACHE: usize = 4096;
/// A caller's `x-request-id` longer than this, or with other than visible ASCII, is replaced.
const MAX_REQUEST_ID: usize = 128;

/// Flask's and Django's `<int:id>`, Starlette's `{id:int}`, as `{id}`; with a leading `/`.
pub fn route_template(route: &str) -> String {
    let mut out = String::with_capacity(route.len() + 1);
    if !route.starts_with('/') {
        out.push('/');
    }
    let mut rest = route;
    while let Some(i) = rest.find(['<', '{']) {
        out.push_str(&rest[..i]);
        let (open, close) = if rest.as_bytes()[i] == b'<' {
            ('<', '>')
        } else {
            ('{', '}')
        };
        let after = &rest[i + 1..];
        let end = after.find([open, close]).filter(|&j| after[j..].starts_with(close));
        let Some(j) = end else {
            out.push(open);
            rest = after;
            continue;
        };
        let inner = &after[..j];
        let name = match (open, inner.split_once(':')) {
            // <converter:name>, <converter(args):name>
            ('<', Some((converter, name))) if !converter.is_empty() => name,
            ('<', _) => inner,
            // {name:converter}; a bare {name} is already a template
            (_, Some((name, converter))) if !converter.is_empty() => name,
            (_, _) => "",
        };
        if name.is_empty() {
            out.push(open);
            out.push_str(inner);
            out.push(close);
        } else {
            out.push('{');
            out.push_str(name);
            out.push('}');
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

/// A request id: the caller's `x-request-id` when it is a sensible one, else 32 random hex
/// digits (held inline, no allocation).
#[derive(Clone)]
pub enum RequestId {
    Given(String),
    Made(ids::TraceHex),
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Given(id) => id,
            Self::Made(id) => id.as_str(),
        }
    }
}

/// `text` as one of `known` (no copy), else copied.
fn known_or_owned(text: &str, known: &[&'static str]) -> Cow<'static, str> {
    match known.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_owned()),
    }
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];
const SCHEMES: [&str; 2] = ["http", "https"];

/// Text held inline up to 64 bytes (a request's path, usually), so it needs no allocation.
#[derive(Clone)]
pub struct InlineStr(SmallVec<[u8; 64]>);

impl InlineStr {
    fn new(text: &str) -> Self {
        Self(SmallVec::from_slice(text.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: only ever made from a &str.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

fn request_id(given: Option<String>) -> RequestId {
    match given.filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())) {
        Some(id) => RequestId::Given(id),
        None => RequestId::Made(ids::TraceHex::new(ids::trace_id())),
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

/// A matched rule object's address → the object (kept alive) and its template.
type RuleTemplates = HashMap<usize, (Py<PyAny>, Arc<str>), foldhash::fast::RandomState>;

/// What every request of one middleware records into.
pub struct Recorder {
    requests: Arc<Family<CounterCore>>,
    latency: Arc<HistogramCore>,
    in_flight: Arc<GaugeCore>,
    scope: Arc<Scope>,
    logger: Option<Arc<str>>,
    templates: Mutex<HashMap<String, Arc<str>, foldhash::fast::RandomState>>,
    /// Flask's (werkzeug's) matched `Rule` objects and their templates, keyed by identity: the
    /// rules live as long as the app, and are held here so an address is never reused.
    rules: Mutex<RuleTemplates>,
}

impl Recorder {
    fn template(&self, route: Option<&str>) -> Arc<str> {
        let Some(route) = route.filter(|r| *r != UNMATCHED) else {
            return UNMATCHED.into();
        };
        if let Some(found) = self.templates.lock().get(route) {
            return found.clone();
        }
        let template: Arc<str> = route_template(route).into();
        let mut templates = self.templates.lock();
        if templates.len() < TEMPLATE_CACHE {
            templates.insert(route.to_owned(), template.clone());
        }
        template
    }

    /// Starts a request. Nothing here allocates in the common case (a standard method, a path
    /// of up to 64 bytes, no caller's request id) but the span's recording: a block this thread
    /// allocates was most likely freed by an exporter thread, and costs a cache miss.
    fn start(
        self: &Arc<Self>,
        py: Python<'_>,
        method: Cow<'static, str>,
        path: &str,
        scheme: Cow<'static, str>,
        header: impl Fn(&str) -> Option<String>,
    ) -> PyResult<Request> {
        let parent = extract_with(&header);
        let request_id = request_id(header("x-request-id"));
        let (ctx, pipeline) = sample_child(parent.as_ref());
        let start_ns = now_ns();
        // Named, and given its attributes, when the request ends (off this thread).
        let recording = pipeline.map(|pipeline| {
            Recording::new(
                String::new(),
                SpanKind::Server,
                parent.as_ref(),
                start_ns,
                self.scope.clone(),
                pipeline,
            )
        });
        let trace_id = ids::TraceHex::new(ctx.trace_id);
        let span = Bound::new(py, PySpan::new(ctx, recording))?;
        let token = context::set(py, span.as_any())?;
        self.in_flight.add(1.0);
        Ok(Request {
            recorder: self.clone(),
            method,
            path: InlineStr::new(path),
            scheme,
            request_id,
            trace_id,
            span: span.unbind(),
            token: Mutex::new(Some(token.unbind())),
            start_ns,
            started: Instant::now(),
            status: AtomicU16::new(500),
            finished: AtomicBool::new(false),
            root_path: String::new(),
            route: Mutex::new(None),
        })
    }
}

/// One middleware's telemetry: `start_asgi(scope)` per request, or `wsgi(...)` around a WSGI app.
#[pyclass(frozen, name = "HttpTelemetry", module = "ferrotel._core")]
pub struct PyHttpTelemetry {
    recorder: Arc<Recorder>,
    excluded: HashSet<String, foldhash::fast::RandomState>,
    /// Called with the environ when a WSGI framework left no route in it (Django's resolver).
    route_fallback: Option<Py<PyAny>>,
}

#[pymethods]
impl PyHttpTelemetry {
    #[new]
    #[pyo3(signature = (requests, latency, in_flight, tracer, logger=None, excluded=Vec::new(), route_fallback=None))]
    fn new(
        requests: &Bound<'_, PyAny>,
        latency: &Bound<'_, PyAny>,
        in_flight: &Bound<'_, PyAny>,
        tracer: &Bound<'_, PyTracer>,
        logger: Option<&str>,
        excluded: Vec<String>,
        route_fallback: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let not = |what: &str, value: &Bound<'_, PyAny>| {
            PyTypeError::new_err(format!(
                "the middleware needs {what}, got {}",
                value.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        };
        let requests_family = requests
            .cast::<PyCounter>()
            .ok()
            .map(|c| c.get().family.clone())
            .filter(|f| f.desc.labelnames.len() == 3)
            .ok_or_else(|| not("a ferrotel Counter with labels (method, path, status)", requests))?;
        let latency_core = latency
            .cast::<PyHistogram>()
            .ok()
            .and_then(|h| h.get().child.clone())
            .ok_or_else(|| not("a ferrotel Histogram without labels", latency))?;
        let in_flight_core = in_flight
            .cast::<PyGauge>()
            .ok()
            .and_then(|g| g.get().child.clone())
            .ok_or_else(|| not("a ferrotel Gauge without labels", in_flight))?;
        Ok(Self {
            recorder: Arc::new(Recorder {
                requests: requests_family,
                latency: latency_core,
                in_flight: in_flight_core,
                scope: tracer.get().scope().clone(),
                logger: logger.map(Into::into),
                templates: Mutex::new(HashMap::default()),
                rules: Mutex::new(HashMap::default()),
            }),
            excluded: excluded.into_iter().collect(),
            route_fallback,
        })
    }

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
        crate::vectorcall::install(&EXCHANGE_CALL, &exchange, &exchange.get().call);
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

impl Recorder {
    /// The template of the route a WSGI app or framework left in the environ:
    /// `environ["ferrotel.route"]`, or the rule Flask matched (werkzeug keeps the request in the
    /// environ until Flask's context ends).
    fn framework_template(&self, environ: &Bound<'_, PyDict>) -> Option<Arc<str>> {
        let py = environ.py();
        if let Some(route) = environ.get_item(intern!(py, "ferrotel.route")).ok().flatten() {
            // Empty: the app named no route, so the framework's (or the fallback's) is used.
            if let Some(route) = route.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
                if !route.is_empty() {
                    return Some(self.template(Some(route)));
                }
            }
        }
        let request = environ.get_item(intern!(py, "werkzeug.request")).ok().flatten()?;
        if request.is_none() {
            return None;
        }
        let rule = request.getattr_opt(intern!(py, "url_rule")).ok().flatten()?;
        if rule.is_none() {
            return None;
        }
        let key = rule.as_ptr() as usize;
        if let Some((_, template)) = self.rules.lock().get(&key) {
            return Some(template.clone());
        }
        let raw = rule.getattr_opt(intern!(py, "rule")).ok().flatten()?;
        let template = self.template(Some(raw.cast::<PyString>().ok()?.to_str().ok()?));
        let mut rules = self.rules.lock();
        if rules.len() < TEMPLATE_CACHE {
            rules.insert(key, (rule.unbind(), template.clone()));
        }
        Some(template)
    }
}

/// The parameter names in a route template: `{name}`, `{name:converter}`.
fn template_names(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| {
            part.split_once('}')
                .map(|(inner, _)| inner.split(':').next().unwrap_or(inner))
        })
        .collect()
}

/// `mounted` (a Mount's concrete prefix) with the values of the parameters the inner route
/// does not declare replaced by `{name}`; None when one cannot be placed (its value is not a
/// whole path segment), so the path label is never a raw URL.
fn mount_template(mounted: &str, inner: &str, params: Option<Bound<'_, PyAny>>) -> Option<String> {
    let params = params.and_then(|p| p.cast_into::<PyDict>().ok());
    let Some(params) = params.filter(|p| !p.is_empty()) else {
        return Some(mounted.to_owned());
    };
    let declared = template_names(inner);
    let mut segments: Vec<String> = mounted.split('/').map(str::to_owned).collect();
    for (name, value) in params.iter() {
        let name = name.str().ok()?.to_string();
        if declared.contains(&name.as_str()) {
            continue;
        }
        let value = value.str().ok()?.to_string();
        let segment = segments.iter_mut().find(|s| **s == value)?;
        *segment = format!("{{{name}}}");
    }
    Some(segments.join("/"))
}

/// The request, or None (the failure reported as unraisable and counted) when telemetry could
/// not start it: the application is then served unrecorded, never failed by telemetry.
fn unrecorded(py: Python<'_>, started: PyResult<Request>) -> Option<Request> {
    match started {
        Ok(request) => Some(request),
        Err(err) => {
            err.write_unraisable(py, None);
            selfmetrics::record_drop("http", "unrecordable_request");
            None
        }
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
        if found.iter().any(|(k, _)| k == wanted) {
            continue;
        }
        if let Some(value) = bytes(&value).and_then(|v| String::from_utf8(v).ok()) {
            found.push(((*wanted).to_owned(), value));
        }
    }
    found
}

/// One request in flight: its server span (current until the request ends), request id,
/// start time and response status.
pub struct Request {
    recorder: Arc<Recorder>,
    method: Cow<'static, str>,
    path: InlineStr,
    scheme: Cow<'static, str>,
    /// The span's start, wall clock: its end is this plus the monotonic duration.
    start_ns: u64,
    request_id: RequestId,
    trace_id: ids::TraceHex,
    span: Py<PySpan>,
    token: Mutex<Option<Py<PyAny>>>,
    started: Instant,
    status: AtomicU16,
    finished: AtomicBool,
    /// ASGI's `root_path` when the request started: a Mount's prefix is what the router adds.
    root_path: String,
    /// The WSGI route noted when the response started, while the framework still held it.
    route: Mutex<Option<Arc<str>>>,
}

/// A request in flight, for the ASGI middleware (and any server the Python layer adapts).
#[pyclass(frozen, name = "HttpRequest", module = "ferrotel._core")]
pub struct PyHttpRequest {
    inner: Request,
}

impl Request {
    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn record_status(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    fn failed(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) {
        self.status.store(500, Ordering::Relaxed);
        let span = self.span.get();
        if !span.is_recording() {
            return;
        }
        if let Err(err) = span.record_exception(py, exc, None, None, true) {
            err.write_unraisable(py, Some(exc));
        }
        let description = match (exc.get_type().name(), exc.str()) {
            (Ok(kind), Ok(text)) => format!("{kind}: {text}"),
            _ => String::new(),
        };
        span.with_recording(|r| {
            r.status = StatusCode::Error;
            r.status_message = description;
        });
    }

    /// Records the finished request under `route` (the raw route the framework matched, None
    /// when nothing matched). Only the first call counts.
    fn finish(&self, py: Python<'_>, route: Option<&str>) {
        if !self.is_finished() {
            self.finish_with(py, self.recorder.template(route));
        }
    }

    /// Records the finished request under `template`. Only the first call counts. The span
    /// stops being current here; the rest is recorded off this thread (`ends`).
    fn finish_with(&self, py: Python<'_>, template: Arc<str>) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        // One clock reading: the duration, and the span's end (also the exemplar's and the log
        // line's time) as its start plus that duration.
        let elapsed = self.started.elapsed();
        let duration = elapsed.as_secs_f64();
        let end_ns = self.start_ns.saturating_add(elapsed.as_nanos() as u64);
        let span = self.span.get();
        let log_context = self
            .recorder
            .logger
            .as_ref()
            .filter(|_| log_pipeline::enabled(Level::INFO))
            .map(|_| {
                log_pipeline::ensure_installed(py);
                log_context(py)
            });
        self.recorder.in_flight.add(-1.0);
        ends::submit(ends::Ended {
            recorder: self.recorder.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            scheme: self.scheme.clone(),
            template,
            status: self.status.load(Ordering::Relaxed),
            duration,
            end_ns,
            ctx: span.ctx.clone(),
            recording: span.take_recording(),
            request_id: self.request_id.clone(),
            log_context,
        });
        if let Some(token) = self.token.lock().take() {
            // Released as a Bound, directly (this may run inside a vectorcall: see
            // `crate::vectorcall::guarded`).
            context::reset(py, &token.into_bound(py));
        }
    }
}

impl Request {
    /// The `x-trace-id` and `x-request-id` response headers, as ASGI's byte pairs.
    fn header_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            [
                (
                    PyBytes::new(py, b"x-trace-id"),
                    PyBytes::new(py, self.trace_id.as_str().as_bytes()),
                ),
                (
                    PyBytes::new(py, b"x-request-id"),
                    PyBytes::new(py, self.request_id.as_str().as_bytes()),
                ),
            ],
        )
    }

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
    send: Py<PyAny>,
    request: Py<PyHttpRequest>,
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

/// One WSGI request: the `start_response` the app gets (it records the status and adds the
/// response headers) and the body the server gets (passed through chunk by chunk; closing it
/// ends the request, so a streamed body is measured to its last chunk).
#[pyclass(frozen, module = "ferrotel._core")]
pub struct WsgiExchange {
    /// What CPython calls when the app calls `start_response` (see `crate::vectorcall`).
    call: pyo3::ffi::vectorcallfunc,
    request: Request,
    start_response: Py<PyAny>,
    environ: Py<PyDict>,
    telemetry: Py<PyHttpTelemetry>,
    body: Mutex<Option<Py<PyAny>>>,
    iter: Mutex<Option<Py<PyIterator>>>,
}

static EXCHANGE_CALL: std::sync::Once = std::sync::Once::new();

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
    crate::vectorcall::guarded(|py| {
        // SAFETY: only WsgiExchange's type points its vectorcall slot here; the arguments are
        // as CPython passed them.
        let (this, [status, headers, exc_info]) = unsafe {
            (
                Borrowed::from_ptr(py, callable).cast_unchecked::<WsgiExchange>(),
                crate::vectorcall::bind(
                    py,
                    "start_response",
                    ["status", "headers", "exc_info"],
                    args,
                    nargsf,
                    kwnames,
                )?,
            )
        };
        let missing = |name: &str| PyTypeError::new_err(format!("start_response() missing argument '{name}'"));
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
    /// What CPython calls when the server calls the middleware (see `crate::vectorcall`).
    call: pyo3::ffi::vectorcallfunc,
    bound: parking_lot::RwLock<Option<(Py<PyAny>, Py<PyHttpTelemetry>)>>,
}

impl WsgiMiddlewareBase {
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
            return Err(PyTypeError::new_err("the WSGI middleware was not given an app"));
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
    crate::vectorcall::guarded(|py| {
        // SAFETY: only types whose instances lay out a WsgiMiddlewareBase point their vectorcall
        // slot here; the arguments are as CPython passed them.
        let (this, [environ, start_response]) = unsafe {
            (
                Borrowed::from_ptr(py, callable).cast_unchecked::<WsgiMiddlewareBase>(),
                crate::vectorcall::bind(
                    py,
                    "WSGIMiddleware",
                    ["environ", "start_response"],
                    args,
                    nargsf,
                    kwnames,
                )?,
            )
        };
        let missing = |name: &str| PyTypeError::new_err(format!("WSGIMiddleware() missing argument '{name}'"));
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
        Self {
            call: middleware_call,
            bound: parking_lot::RwLock::new(None),
        }
    }

    /// Serves requests through `app`, recorded by `telemetry`.
    fn _bind(slf: &Bound<'_, Self>, app: Py<PyAny>, telemetry: Py<PyHttpTelemetry>) {
        *slf.get().bound.write() = Some((app, telemetry));
        static BASE_CALL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        crate::vectorcall::install_for_subclass(slf, &slf.get().call, &BASE_CALL);
    }

    fn __call__<'py>(
        &self,
        environ: &Bound<'py, PyAny>,
        start_response: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.serve(environ, start_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        for (route, template) in [
            ("/songs/<int:song_id>", "/songs/{song_id}"),
            ("songs/<int:song_id>", "/songs/{song_id}"),
            ("/songs/<song_id>", "/songs/{song_id}"),
            ("/songs/{song_id:int}", "/songs/{song_id}"),
            ("/songs/{song_id}", "/songs/{song_id}"),
            ("/a/<path:p>/b/<re(\"x\"):q>", "/a/{p}/b/{q}"),
            ("^songs/[0-9]{1,3}$", "/^songs/[0-9]{1,3}$"),
            ("/odd<", "/odd<"),
            ("/", "/"),
            ("", "/"),
        ] {
            assert_eq!(route_template(route), template, "{route}");
        }
    }

    #[test]
    fn template_parameter_names() {
        assert_eq!(template_names("/songs/{song_id}/x/{n:int}"), ["song_id", "n"]);
        assert!(template_names("/plain").is_empty());
    }

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some("req-1".into())).as_str(), "req-1");
        for bad in ["", "has space", "new\nline", &"x".repeat(200)] {
            let made = request_id(Some(bad.into()));
            assert_eq!(made.as_str().len(), 32, "{bad:?}");
        }
        assert_eq!(request_id(None).as_str().len(), 32);
    }
}
