//! A request's end: the span stops being current and the in-flight count goes down on the
//! application's thread; the rest (counter, latency histogram and exemplar, log line, span
//! export) is handed to the recording thread in `ends`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::ends;
use super::recorder::{InlineStr, Recorder, RequestId};
use crate::logs::context::current as log_context;
use crate::logs::pipeline as log_pipeline;
use crate::logs::record::Level;
use crate::traces::context;
use crate::traces::data::StatusCode;
use crate::traces::ids;
use crate::traces::span::{error_description, PySpan};

/// One request in flight: its server span (current until the request ends), request id,
/// start time and response status.
pub struct Request {
    pub(super) recorder: Arc<Recorder>,
    pub(super) method: Cow<'static, str>,
    pub(super) path: InlineStr,
    pub(super) scheme: Cow<'static, str>,
    /// The span's start, wall clock: its end is this plus the monotonic duration.
    pub(super) start_ns: u64,
    pub(super) request_id: RequestId,
    pub(super) trace_id: ids::TraceHex,
    pub(super) span: Py<PySpan>,
    pub(super) token: Mutex<Option<Py<PyAny>>>,
    pub(super) started: Instant,
    pub(super) status: AtomicU16,
    pub(super) finished: AtomicBool,
    /// ASGI's `root_path` when the request started: a Mount's prefix is what the router adds.
    pub(super) root_path: String,
    /// The WSGI route noted when the response started, while the framework still held it.
    pub(super) route: Mutex<Option<Arc<str>>>,
}

impl Request {
    pub(super) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub(super) fn record_status(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    pub(super) fn failed(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) {
        self.status.store(500, Ordering::Relaxed);
        let span = self.span.get();
        if !span.is_recording() {
            return;
        }
        if let Err(err) = span.record_exception(py, exc, None, None, true) {
            err.write_unraisable(py, Some(exc));
        }
        let description = error_description(exc);
        span.with_recording(|r| {
            r.status = StatusCode::Error;
            r.status_message = description;
        });
    }

    /// Records the finished request under `route` (the raw route the framework matched, None
    /// when nothing matched). Only the first call counts.
    pub(super) fn finish(&self, py: Python<'_>, route: Option<&str>) {
        if !self.is_finished() {
            self.finish_with(py, self.recorder.template(route));
        }
    }

    /// Records the finished request under `template`. Only the first call counts. The span
    /// stops being current here; the rest is recorded off this thread (`ends`).
    pub(super) fn finish_with(&self, py: Python<'_>, template: Arc<str>) {
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
            // `crate::runtime::vectorcall::guarded`).
            context::reset(py, &token.into_bound(py));
        }
    }
}

impl Request {
    /// The `x-trace-id` and `x-request-id` response headers, as ASGI's byte pairs.
    pub(super) fn header_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
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
}
