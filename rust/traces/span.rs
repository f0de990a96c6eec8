//! Spans: the context that identifies one (`SpanContext`) and the recording that becomes
//! `SpanData` when it ends. An unsampled span carries only its context and records nothing.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::runtime::errors::{self, Error};
use pyo3::types::{PyDict, PyInt, PyString, PyType};
use smallvec::SmallVec;

use super::attributes::{self, SpanLimits};
use super::context;
use super::data::{now_ns, AttrValue, Attributes, Event, Link, Scope, SpanData, SpanKind, StatusCode};
use super::ids;
use super::pipeline::Pipeline;
use super::text;
use crate::runtime::selfmetrics;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub flags: u8,
    pub trace_state: String,
    pub remote: bool,
}

impl SpanContext {
    /// W3C trace flags: the caller may have recorded the trace.
    pub const SAMPLED: u8 = 0x01;
    /// W3C Trace Context Level 2: the trace id's right-most 7 bytes (at least) are random.
    pub const RANDOM: u8 = 0x02;

    pub fn sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    pub fn is_valid(&self) -> bool {
        self.trace_id != 0 && self.span_id != 0
    }
}

/// The identity of a span, as propagated: `span.context.trace_id` is 32 lower-case hex digits.
#[pyclass(frozen, freelist = 64, name = "SpanContext", module = "ferrotel._core")]
pub struct PySpanContext {
    pub inner: SpanContext,
}

#[pymethods]
impl PySpanContext {
    #[new]
    #[pyo3(signature = (trace_id, span_id, trace_flags=1, trace_state="", is_remote=true))]
    fn new(trace_id: &str, span_id: &str, trace_flags: u8, trace_state: &str, is_remote: bool) -> PyResult<Self> {
        let trace = ids::parse_trace_id(trace_id)
            .ok_or_else(|| Error::invalid(format!("trace_id {trace_id:?} is not 32 lower-case hex digits")))?;
        let span = ids::parse_span_id(span_id)
            .ok_or_else(|| Error::invalid(format!("span_id {span_id:?} is not 16 lower-case hex digits")))?;
        Ok(Self {
            inner: SpanContext {
                trace_id: trace,
                span_id: span,
                flags: trace_flags,
                trace_state: trace_state.to_string(),
                remote: is_remote,
            },
        })
    }

    #[getter]
    fn trace_id(&self) -> String {
        ids::trace_hex(self.inner.trace_id)
    }

    #[getter]
    fn span_id(&self) -> String {
        ids::span_hex(self.inner.span_id)
    }

    #[getter]
    fn trace_flags(&self) -> u8 {
        self.inner.flags
    }

    #[getter]
    fn trace_state(&self) -> &str {
        &self.inner.trace_state
    }

    #[getter]
    fn is_remote(&self) -> bool {
        self.inner.remote
    }

    #[getter]
    fn is_valid(&self) -> bool {
        self.inner.is_valid()
    }

    #[getter]
    fn sampled(&self) -> bool {
        self.inner.sampled()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PySpanContext>().is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        (self.inner.trace_id as u64) ^ self.inner.span_id
    }

    fn __repr__(&self) -> String {
        format!(
            "SpanContext(trace_id='{}', span_id='{}', trace_flags={}, is_remote={})",
            self.trace_id(),
            self.span_id(),
            self.inner.flags,
            if self.inner.remote { "True" } else { "False" }
        )
    }
}

pub struct Recording {
    pub name: String,
    pub kind: SpanKind,
    pub parent_span_id: Option<u64>,
    pub parent_is_remote: bool,
    pub start_ns: u64,
    pub attributes: Attributes,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    pub status: StatusCode,
    pub status_message: String,
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
    pub scope: Arc<Scope>,
    pub pipeline: Arc<Pipeline>,
}

impl Recording {
    pub fn new(
        name: String,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_ns: u64,
        scope: Arc<Scope>,
        pipeline: Arc<Pipeline>,
    ) -> Self {
        Self {
            name,
            kind,
            parent_span_id: parent.map(|p| p.span_id),
            parent_is_remote: parent.is_some_and(|p| p.remote),
            start_ns,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            status: StatusCode::Unset,
            status_message: String::new(),
            dropped_attributes: 0,
            dropped_events: 0,
            dropped_links: 0,
            scope,
            pipeline,
        }
    }

    pub fn limits(&self) -> &SpanLimits {
        &self.pipeline.limits
    }
}

/// One span. `with tracer.span("name") as span:` makes it current and ends it on exit.
#[pyclass(frozen, freelist = 256, name = "Span", module = "ferrotel._core")]
pub struct PySpan {
    /// What CPython calls when a `with` block enters or leaves the span (`with_block`).
    call: pyo3::ffi::vectorcallfunc,
    pub ctx: SpanContext,
    /// One lock for both, so a `with` block's exit takes it once.
    state: Mutex<SpanState>,
}

struct SpanState {
    /// Boxed: the Python object stays small, so an unsampled span allocates little.
    recording: Option<Box<Recording>>,
    /// ContextVar tokens of the `with` blocks this span is current in, innermost last.
    tokens: SmallVec<[Py<PyAny>; 1]>,
}

impl PySpan {
    pub fn new(ctx: SpanContext, recording: Option<Recording>) -> Self {
        Self {
            call: super::with_block::call,
            ctx,
            state: Mutex::new(SpanState {
                recording: recording.map(Box::new),
                tokens: SmallVec::new(),
            }),
        }
    }

    /// Where the span's vectorcall function pointer is, for `with_block::install`.
    pub(super) fn call_slot(&self) -> *const pyo3::ffi::vectorcallfunc {
        &self.call
    }

    /// A span that only carries a context, e.g. one extracted from incoming headers.
    pub fn non_recording(ctx: SpanContext) -> Self {
        Self::new(ctx, None)
    }

    pub fn with_recording(&self, f: impl FnOnce(&mut Recording)) {
        if let Some(recording) = self.state.lock().recording.as_mut() {
            f(recording);
        }
    }

    pub fn end_at(&self, end_ns: u64) {
        let recording = self.state.lock().recording.take();
        if let Some(r) = recording {
            self.finish(*r, end_ns);
        }
    }

    /// Ends the span now; an unsampled span does not even read the clock.
    pub fn end_now(&self) {
        let recording = self.state.lock().recording.take();
        if let Some(r) = recording {
            self.finish(*r, now_ns());
        }
    }

    fn finish(&self, r: Recording, end_ns: u64) {
        finish_recording(&self.ctx, r, end_ns);
    }

    /// Ends the span's recording without exporting it: the caller hands it to
    /// [`finish_recording`], perhaps on another thread. The span is no longer recording.
    pub fn take_recording(&self) -> Option<Box<Recording>> {
        self.state.lock().recording.take()
    }

    fn link(&self, context: &Bound<'_, PyAny>, attributes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let ctx = link_context(context)?;
        self.with_recording(|r| {
            if r.links.len() >= r.limits().max_links {
                r.dropped_links += 1;
                selfmetrics::record_drop("traces", "link_limit");
                return;
            }
            let limits = r.limits().clone();
            let mut attrs = Vec::new();
            let dropped = attributes
                .map(|a| attributes::read_dict(a, &mut attrs, limits.max_attributes, &limits))
                .unwrap_or(0);
            r.links.push(Link {
                trace_id: ctx.trace_id,
                span_id: ctx.span_id,
                trace_state: ctx.trace_state.clone(),
                flags: ctx.flags,
                attributes: attrs,
                dropped_attributes: dropped,
            });
        });
        Ok(())
    }

    /// A link given to `start_span(links=[...])`: a Span, a SpanContext, or an object with
    /// `context` and `attributes` (OpenTelemetry's `Link`).
    pub fn add_link_from(&self, link: &Bound<'_, PyAny>) -> PyResult<()> {
        if link.cast::<PySpan>().is_ok() || link.cast::<PySpanContext>().is_ok() {
            return self.link(link, None);
        }
        let context = link.getattr("context")?;
        let attributes = match link.getattr("attributes").ok().filter(|a| !a.is_none()) {
            Some(mapping) => {
                let dict = PyDict::new(link.py());
                dict.update(mapping.cast::<pyo3::types::PyMapping>()?)?;
                Some(dict)
            }
            None => None,
        };
        self.link(&context, attributes.as_ref())
    }

    /// The `exception` event's attributes. Never fails: what cannot be read is left out (and
    /// counted), since this runs while the application's own exception propagates.
    fn exception_event(&self, py: Python<'_>, exception: &Bound<'_, PyAny>, escaped: bool) -> Attributes {
        let kind = exception.get_type();
        let type_name = kind.qualname().map(|n| text::owned(&n)).unwrap_or_default();
        let module = kind.module().map(|m| text::owned(&m)).unwrap_or_default();
        let full_type = if module.is_empty() || module == "builtins" {
            type_name
        } else {
            format!("{module}.{type_name}")
        };
        let stacktrace = format_traceback(py, exception).unwrap_or_else(|_| {
            selfmetrics::record_drop("traces", "unreadable_exception");
            String::new()
        });
        vec![
            ("exception.type".into(), AttrValue::Str(full_type)),
            ("exception.message".into(), AttrValue::Str(text::str_of(exception))),
            ("exception.stacktrace".into(), AttrValue::Str(stacktrace)),
            ("exception.escaped".into(), AttrValue::Bool(escaped)),
        ]
    }

    fn push_event(&self, name: String, time_ns: u64, attributes: Attributes, dropped: u32) {
        self.with_recording(|r| {
            if r.events.len() >= r.limits().max_events {
                r.dropped_events += 1;
                selfmetrics::record_drop("traces", "event_limit");
                return;
            }
            r.events.push(Event {
                name,
                time_ns,
                attributes,
                dropped_attributes: dropped,
            });
        });
    }

    pub fn enter(slf: &Bound<'_, Self>) -> PyResult<()> {
        let token = context::set(slf.py(), slf.as_any())?;
        slf.get().state.lock().tokens.push(token.unbind());
        Ok(())
    }

    /// Leaves the span: records an escaping exception, ends the span and restores the context
    /// as it was before `enter`. Never fails, so the application's exception (or result) is
    /// what the caller gets, and the span never stays current.
    pub fn exit(slf: &Bound<'_, Self>, exc: Option<&Bound<'_, PyAny>>) {
        let py = slf.py();
        let this = slf.get();
        if let Some(exc) = exc.filter(|e| !e.is_none()) {
            if this.is_recording() {
                let attributes = this.exception_event(py, exc, true);
                this.push_event("exception".into(), now_ns(), attributes, 0);
                let description = error_description(exc);
                this.with_recording(|r| {
                    r.status = StatusCode::Error;
                    r.status_message = description;
                });
            }
        }
        let (recording, token) = {
            let mut state = this.state.lock();
            (state.recording.take(), state.tokens.pop())
        };
        if let Some(r) = recording {
            this.finish(*r, now_ns());
        }
        if let Some(token) = token {
            // Released as a Bound, directly: see `crate::runtime::vectorcall::guarded`.
            context::reset(py, &token.into_bound(py));
        }
    }
}

/// `traceback.format_exception(exception)`, joined, as valid text.
fn format_traceback(py: Python<'_>, exception: &Bound<'_, PyAny>) -> PyResult<String> {
    let lines = py.import("traceback")?.call_method1(
        "format_exception",
        (exception.get_type(), exception, exception.getattr("__traceback__")?),
    )?;
    let joined = PyString::new(py, "").call_method1("join", (lines,))?;
    Ok(text::owned(joined.cast::<PyString>()?))
}

/// A span's ERROR description for an exception: `Type: message`.
pub fn error_description(exc: &Bound<'_, PyAny>) -> String {
    let kind = exc.get_type().name().map(|n| text::owned(&n)).unwrap_or_default();
    format!("{kind}: {}", text::str_of(exc))
}

/// Seconds or nanoseconds given by the caller: ints are nanoseconds (as OpenTelemetry's API),
/// floats seconds since the epoch.
fn timestamp_ns(value: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    match value {
        None => Ok(now_ns()),
        Some(v) if v.is_none() => Ok(now_ns()),
        Some(v) if v.is_instance_of::<PyInt>() => v.extract::<u64>(),
        Some(v) => Ok((v.extract::<f64>()? * 1e9) as u64),
    }
}

pub fn parse_status(status: &Bound<'_, PyAny>) -> errors::Result<StatusCode> {
    // Strings, ints (0 unset, 1 ok, 2 error) and enums with a `name` (OpenTelemetry's StatusCode).
    let text = if let Ok(s) = status.cast::<PyString>() {
        s.to_string()
    } else if let Ok(i) = status.extract::<i64>() {
        match i {
            0 => "unset".into(),
            1 => "ok".into(),
            2 => "error".into(),
            _ => String::new(),
        }
    } else if let Ok(name) = status.getattr("name") {
        name.str()?.to_string()
    } else {
        String::new()
    };
    match text.to_ascii_lowercase().as_str() {
        "unset" => Ok(StatusCode::Unset),
        "ok" => Ok(StatusCode::Ok),
        "error" => Ok(StatusCode::Error),
        _ => Err(Error::invalid(format!(
            "status {} is not one of 'unset', 'ok', 'error'",
            status.repr()?
        ))),
    }
}

#[pymethods]
impl PySpan {
    #[getter]
    fn context(&self) -> PySpanContext {
        PySpanContext {
            inner: self.ctx.clone(),
        }
    }

    fn get_span_context(&self) -> PySpanContext {
        self.context()
    }

    pub fn is_recording(&self) -> bool {
        self.state.lock().recording.is_some()
    }

    #[getter]
    fn name(&self) -> Option<String> {
        self.state.lock().recording.as_ref().map(|r| r.name.clone())
    }

    fn set_attribute(&self, key: &Bound<'_, PyString>, value: &Bound<'_, PyAny>) {
        self.with_recording(|r| {
            match attributes::attr_value(value, r.limits().max_value_length) {
                Some(v) => {
                    let max = r.limits().max_attributes;
                    if !attributes::set(&mut r.attributes, text::owned(key), v, max) {
                        r.dropped_attributes += 1;
                        selfmetrics::record_drop("traces", "attribute_limit");
                    }
                }
                None => {
                    r.dropped_attributes += 1;
                    selfmetrics::record_drop("traces", "invalid_attribute");
                }
            };
        });
    }

    fn set_attributes(&self, attributes: &Bound<'_, PyDict>) {
        self.with_recording(|r| {
            let limits = r.limits().clone();
            r.dropped_attributes +=
                attributes::read_dict(attributes, &mut r.attributes, limits.max_attributes, &limits);
        });
    }

    #[pyo3(signature = (name, attributes=None, timestamp=None))]
    fn add_event(
        &self,
        name: &Bound<'_, PyString>,
        attributes: Option<&Bound<'_, PyDict>>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !self.is_recording() {
            return Ok(());
        }
        let time_ns = timestamp_ns(timestamp)?;
        let limits = self
            .state
            .lock()
            .recording
            .as_ref()
            .map(|r| r.limits().clone())
            .unwrap_or_default();
        let mut attrs = Vec::new();
        let dropped = attributes
            .map(|a| attributes::read_dict(a, &mut attrs, limits.max_attributes_per_event, &limits))
            .unwrap_or(0);
        self.push_event(text::owned(name), time_ns, attrs, dropped);
        Ok(())
    }

    #[pyo3(signature = (context, attributes=None))]
    fn add_link(&self, context: &Bound<'_, PyAny>, attributes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        self.link(context, attributes)
    }

    /// `set_status("error", "what went wrong")`; also takes 0/1/2 and OpenTelemetry's StatusCode.
    #[pyo3(signature = (status, description=None))]
    fn set_status(&self, status: &Bound<'_, PyAny>, description: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        // OpenTelemetry's Status object carries both.
        let (code, description) = match status.getattr("status_code") {
            Ok(code) => {
                let own = status.getattr("description")?;
                (
                    parse_status(&code)?,
                    Some(own).filter(|d| !d.is_none()).or(description.cloned()),
                )
            }
            Err(_) => (parse_status(status)?, description.cloned()),
        };
        // Read only when it is kept: an error description.
        let description = || {
            description
                .filter(|d| !d.is_none())
                .map(|d| {
                    d.cast::<PyString>()
                        .map(text::owned)
                        .unwrap_or_else(|_| text::str_of(&d))
                })
                .unwrap_or_default()
        };
        self.with_recording(|r| {
            // OK is final; an error description only goes with ERROR.
            if r.status == StatusCode::Ok {
                return;
            }
            r.status = code;
            r.status_message = if code == StatusCode::Error {
                description()
            } else {
                String::new()
            };
        });
        Ok(())
    }

    #[pyo3(signature = (exception, attributes=None, timestamp=None, escaped=false))]
    pub fn record_exception(
        &self,
        py: Python<'_>,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyDict>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        escaped: bool,
    ) -> PyResult<()> {
        if !self.is_recording() {
            return Ok(());
        }
        let mut attrs = self.exception_event(py, exception, escaped);
        if let Some(extra) = attributes {
            let limits = SpanLimits::default();
            attributes::read_dict(extra, &mut attrs, limits.max_attributes_per_event, &limits);
        }
        self.push_event("exception".into(), timestamp_ns(timestamp)?, attrs, 0);
        Ok(())
    }

    fn update_name(&self, name: &Bound<'_, PyString>) {
        self.with_recording(|r| r.name = text::owned(name));
    }

    /// Ends the span (once; later calls do nothing). `end_time` in ns (int) or seconds (float).
    #[pyo3(signature = (end_time=None))]
    fn end(&self, end_time: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.end_at(timestamp_ns(end_time)?);
        Ok(())
    }

    // `__enter__` and `__exit__` are installed by `with_block`, so a `with` block allocates no
    // bound methods.

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Ready> {
        Self::enter(slf)?;
        Ok(Ready {
            value: slf.clone().into_any().unbind(),
        })
    }

    #[pyo3(signature = (_exc_type=None, exc=None, _tb=None))]
    fn __aexit__(
        slf: &Bound<'_, Self>,
        _exc_type: Option<&Bound<'_, PyType>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ready> {
        Self::exit(slf, exc);
        Ok(Ready {
            value: false.into_pyobject(slf.py())?.to_owned().into_any().unbind(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<Span {:?} trace_id={} span_id={}{}>",
            self.name().unwrap_or_default(),
            ids::trace_hex(self.ctx.trace_id),
            ids::span_hex(self.ctx.span_id),
            if self.is_recording() { "" } else { " not recording" }
        )
    }
}

/// The context a link or a `parent=` argument points at: a Span or a SpanContext.
pub fn link_context(value: &Bound<'_, PyAny>) -> errors::Result<SpanContext> {
    if let Ok(span) = value.cast::<PySpan>() {
        return Ok(span.get().ctx.clone());
    }
    if let Ok(ctx) = value.cast::<PySpanContext>() {
        return Ok(ctx.get().inner.clone());
    }
    Err(Error::wrong_type(format!(
        "expected a ferrotel Span or SpanContext, got {}",
        value.repr()?
    )))
}

/// An awaitable that is already done: what `async with span:` awaits.
#[pyclass(frozen, module = "ferrotel._core")]
pub struct Ready {
    value: Py<PyAny>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<()> {
        // Not an error: the iterator protocol's way to hand back an awaitable's value.
        Err(PyStopIteration::new_err((self.value.clone_ref(py),)))
    }
}

/// Exports an ended span: its identity from `ctx`, the rest from its recording.
pub fn finish_recording(ctx: &SpanContext, r: Recording, end_ns: u64) {
    let data = SpanData {
        trace_id: ctx.trace_id,
        span_id: ctx.span_id,
        parent_span_id: r.parent_span_id,
        parent_is_remote: r.parent_is_remote,
        trace_state: ctx.trace_state.clone(),
        flags: ctx.flags,
        name: r.name,
        kind: r.kind,
        start_ns: r.start_ns,
        end_ns: end_ns.max(r.start_ns),
        attributes: r.attributes,
        events: r.events,
        links: r.links,
        status: r.status,
        status_message: r.status_message,
        dropped_attributes: r.dropped_attributes,
        dropped_events: r.dropped_events,
        dropped_links: r.dropped_links,
        scope: r.scope,
        resource: r.pipeline.resource.clone(),
    };
    r.pipeline.on_end(Arc::new(data));
}
