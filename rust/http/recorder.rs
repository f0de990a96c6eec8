//! A request's start: one native call makes the server span (continuing the caller's trace,
//! made current), the request id and the in-flight count; `HttpTelemetry` holds what every
//! request of one middleware records into.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use pyo3::prelude::*;
use smallvec::SmallVec;

use super::request::Request;
use crate::metrics::counter::{CounterCore, PyCounter};
use crate::metrics::family::Family;
use crate::metrics::gauge::{GaugeCore, PyGauge};
use crate::metrics::histogram::{HistogramCore, PyHistogram};
use crate::runtime::errors::Error;
use crate::runtime::selfmetrics;
use crate::traces::context;
use crate::traces::data::{now_ns, Scope, SpanKind};
use crate::traces::ids;
use crate::traces::propagation::extract_with;
use crate::traces::span::{PySpan, Recording};
use crate::traces::tracer::{sample_child, PyTracer};

/// A caller's `x-request-id` longer than this, or with other than visible ASCII, is replaced.
const MAX_REQUEST_ID: usize = 128;

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
pub(super) fn known_or_owned(text: &str, known: &[&'static str]) -> Cow<'static, str> {
    match known.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_owned()),
    }
}

pub(super) const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];
pub(super) const SCHEMES: [&str; 2] = ["http", "https"];

/// Text held inline up to 64 bytes (a request's path, usually), so it needs no allocation.
#[derive(Clone)]
pub struct InlineStr(SmallVec<[u8; 64]>);

impl InlineStr {
    pub(super) fn new(text: &str) -> Self {
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

/// A matched rule object's address → the object (kept alive) and its template.
type RuleTemplates = HashMap<usize, (Py<PyAny>, Arc<str>), foldhash::fast::RandomState>;

/// What every request of one middleware records into.
pub struct Recorder {
    pub(super) requests: Arc<Family<CounterCore>>,
    pub(super) latency: Arc<HistogramCore>,
    pub(super) in_flight: Arc<GaugeCore>,
    pub(super) scope: Arc<Scope>,
    pub(super) logger: Option<Arc<str>>,
    pub(super) templates: Mutex<HashMap<String, Arc<str>, foldhash::fast::RandomState>>,
    /// Flask's (werkzeug's) matched `Rule` objects and their templates, keyed by identity: the
    /// rules live as long as the app, and are held here so an address is never reused.
    pub(super) rules: Mutex<RuleTemplates>,
}

impl Recorder {
    /// Starts a request. Nothing here allocates in the common case (a standard method, a path
    /// of up to 64 bytes, no caller's request id) but the span's recording: a block this thread
    /// allocates was most likely freed by an exporter thread, and costs a cache miss.
    pub(super) fn start(
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
    pub(super) recorder: Arc<Recorder>,
    pub(super) excluded: HashSet<String, foldhash::fast::RandomState>,
    /// Called with the environ when a WSGI framework left no route in it (Django's resolver).
    pub(super) route_fallback: Option<Py<PyAny>>,
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
            Error::wrong_type(format!(
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
}

/// The request, or None (the failure reported as unraisable and counted) when telemetry could
/// not start it: the application is then served unrecorded, never failed by telemetry.
pub(super) fn unrecorded(py: Python<'_>, started: PyResult<Request>) -> Option<Request> {
    match started {
        Ok(request) => Some(request),
        Err(err) => {
            err.write_unraisable(py, None);
            selfmetrics::record_drop("http", "unrecordable_request");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
