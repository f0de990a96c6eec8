//! ferrotel's native core: metrics recorded in Rust, rendered and served without the GIL.
#![deny(clippy::undocumented_unsafe_blocks)]

/// Span and log data are built on the application's threads and freed on exporter threads;
/// mimalloc makes those cross-thread frees cheap where glibc's arenas contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod export;
pub mod logs;
pub mod metrics;
pub mod middleware;
pub mod traces;
pub mod vectorcall;

use pyo3::prelude::*;

/// Raises a Rust panic, so tests can check it surfaces as a Python exception.
#[pyfunction]
fn _debug_panic(message: &str) {
    panic!("{message}");
}

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::_debug_panic;
    #[pymodule_export]
    use crate::export::elasticsearch::ElasticsearchSink;
    #[pymodule_export]
    use crate::export::files::FileSink;
    #[pymodule_export]
    use crate::export::lifecycle::{_after_fork_in_child, _after_fork_in_parent, _before_fork, flush, shutdown};
    #[pymodule_export]
    use crate::export::otlp::{_otlp_encode_rate, OtlpSpanExporterConfig};
    #[pymodule_export]
    use crate::export::otlp_logs::OtlpLogSink;
    #[pymodule_export]
    use crate::export::pushgateway::{_push_to_gateway, PyPushGateway};
    #[pymodule_export]
    use crate::export::server::{start_http_server, MetricsServer};
    #[pymodule_export]
    use crate::export::span_files::{ConsoleSpanExporterConfig, DiscardSpanExporterConfig, FileSpanExporterConfig};
    #[pymodule_export]
    use crate::export::zipkin::ZipkinExporterConfig;
    #[pymodule_export]
    use crate::logs::bridge::emit_stdlib_record;
    #[pymodule_export]
    use crate::logs::context::LogContext;
    #[pymodule_export]
    use crate::logs::logger::PyLogger;
    #[pymodule_export]
    use crate::logs::pipeline::{configure_logs, log_level};
    #[pymodule_export]
    use crate::metrics::counter::PyCounter;
    #[pymodule_export]
    use crate::metrics::gauge::PyGauge;
    #[pymodule_export]
    use crate::metrics::histogram::PyHistogram;
    #[pymodule_export]
    use crate::metrics::info::{PyInfo, PyStateSet};
    #[pymodule_export]
    use crate::metrics::registry::{generate_latest, generate_openmetrics, PyRegistry};
    #[pymodule_export]
    use crate::metrics::summary::PySummary;
    #[pymodule_export]
    use crate::metrics::timer::{ExceptionCounter, InprogressTracker, Timer};
    #[pymodule_export]
    use crate::middleware::{AsgiSend, PyHttpRequest, PyHttpTelemetry, WsgiExchange, WsgiMiddlewareBase};
    #[pymodule_export]
    use crate::traces::configure::{_tracing_configured, configure_tracing};
    #[pymodule_export]
    use crate::traces::ids::random_id;
    #[pymodule_export]
    use crate::traces::memory::InMemorySpanExporter;
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
        use crate::metrics::native::NativeFamily;
        use crate::metrics::registry::default_registry;
        let py = m.py();
        let registry = default_registry(py);
        let core = &registry.get().core;
        core.register_native(NativeFamily::Counter(crate::metrics::selfmetrics::dropped().clone()))?;
        core.register_native(NativeFamily::Counter(
            crate::metrics::selfmetrics::export_failures().clone(),
        ))?;
        // Like prometheus_client's REGISTRY: process and Python runtime metrics included.
        registry.get().register_process_metrics(py)?;
        m.add("REGISTRY", registry.clone_ref(py))?;
        m.add("PanicException", py.get_type::<pyo3::panic::PanicException>())?;
        crate::traces::with_block::install(py)?;
        m.add("DEFAULT_BUCKETS", crate::metrics::histogram::DEFAULT_BUCKETS.to_vec())?;
        Ok(())
    }
}
