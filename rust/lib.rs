//! ferrotel's native core. Layers, each using only those below it (see docs/architecture.md):
//! `runtime` (lifecycle floor) < `transport` (export plumbing) < `metrics`, `traces`, `logs`
//! (one pipeline per signal) < `http` (the middlewares). This file only registers the module.
#![deny(clippy::undocumented_unsafe_blocks)]

/// Span and log data are built on the application's threads and freed on exporter threads;
/// mimalloc makes those cross-thread frees cheap where glibc's arenas contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod http;
pub mod logs;
pub mod metrics;
pub mod runtime;
pub mod traces;
pub mod transport;

#[pyo3::pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::http::{AsgiSend, PyHttpRequest, PyHttpTelemetry, WsgiExchange, WsgiMiddlewareBase};
    #[pymodule_export]
    use crate::logs::bridge::emit_stdlib_record;
    #[pymodule_export]
    use crate::logs::context::LogContext;
    #[pymodule_export]
    use crate::logs::logger::PyLogger;
    #[pymodule_export]
    use crate::logs::pipeline::{configure_logs, log_level};
    #[pymodule_export]
    use crate::logs::sinks::elasticsearch::ElasticsearchSink;
    #[pymodule_export]
    use crate::logs::sinks::files::FileSink;
    #[pymodule_export]
    use crate::logs::sinks::otlp::OtlpLogSink;
    #[pymodule_export]
    use crate::metrics::counter::PyCounter;
    #[pymodule_export]
    use crate::metrics::export::pushgateway::{_push_to_gateway, PyPushGateway};
    #[pymodule_export]
    use crate::metrics::export::server::{start_http_server, MetricsServer, MetricsServerThread};
    #[pymodule_export]
    use crate::metrics::gauge::PyGauge;
    #[pymodule_export]
    use crate::metrics::histogram::PyHistogram;
    #[pymodule_export]
    use crate::metrics::info::{PyInfo, PyStateSet};
    #[pymodule_export]
    use crate::metrics::multiprocess::{
        _mark_process_dead, _multiprocess_active, _multiprocess_dir, _multiprocess_supported, PyMultiProcessCollector,
    };
    #[pymodule_export]
    use crate::metrics::registry::{generate_latest, generate_openmetrics, PyRegistry};
    #[pymodule_export]
    use crate::metrics::summary::PySummary;
    #[pymodule_export]
    use crate::metrics::timer::{ExceptionCounter, InprogressTracker, Timer};
    #[pymodule_export]
    use crate::runtime::errors::_debug_panic;
    #[pymodule_export]
    use crate::runtime::lifecycle::{_after_fork_in_child, _after_fork_in_parent, _before_fork, flush, shutdown};
    #[pymodule_export]
    use crate::traces::configure::{_tracing_configured, configure_tracing};
    #[pymodule_export]
    use crate::traces::export::files::{ConsoleSpanExporterConfig, DiscardSpanExporterConfig, FileSpanExporterConfig};
    #[pymodule_export]
    use crate::traces::export::memory::InMemorySpanExporter;
    #[pymodule_export]
    use crate::traces::export::otlp::OtlpSpanExporterConfig;
    #[pymodule_export]
    use crate::traces::export::zipkin::ZipkinExporterConfig;
    #[pymodule_export]
    use crate::traces::ids::random_id;
    #[pymodule_export]
    use crate::traces::propagation::{extract, extract_baggage, inject, set_propagators};
    #[pymodule_export]
    use crate::traces::span::{PySpan, PySpanContext, Ready};
    #[pymodule_export]
    use crate::traces::tracer::{
        _current_span_var, _reset_current_span, _set_current_span, current_span, non_recording_span, PyTraced, PyTracer,
    };
    #[pymodule_export]
    use crate::traces::with_block::WithMethod;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add(
            "PanicException",
            m.py().get_type::<crate::runtime::errors::PanicException>(),
        )?;
        crate::metrics::init(m)?;
        crate::traces::init(m)?;
        crate::http::init(m.py())?;
        Ok(())
    }
}
