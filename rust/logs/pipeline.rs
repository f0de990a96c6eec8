//! The configured log pipeline: the level every call checks first, and one export worker per
//! sink. Until `configure_logs` is called, JSON lines go to stdout.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use pyo3::prelude::*;

use super::enrich::Enrichment;
use super::format::FormatSpec;
use super::record::{Level, LogRecord};
use super::sinks::console::{start_console, Stream};
use super::sinks::elasticsearch::ElasticsearchSink;
use super::sinks::files::FileSink;
use super::sinks::otlp::OtlpLogSink;
use crate::runtime::errors::{Error, Result};
use crate::runtime::lifecycle::Lifecycle;
use crate::transport::redact::Redactor;
use crate::transport::worker::BatchWorker;

pub type LogWorker = Arc<BatchWorker<Arc<LogRecord>>>;

const CONSOLE_QUEUE: usize = 10_000;

/// How long `configure_logs` waits for the previous sinks to write what they hold.
const HANDOVER: Duration = Duration::from_secs(5);

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::INFO.0);

/// Read on every record, written only by configuration. Never held while attached to Python.
static SINKS: RwLock<Option<Vec<LogWorker>>> = RwLock::new(None);
/// Set once SINKS holds a pipeline; it never goes back to None.
static INSTALLED: AtomicBool = AtomicBool::new(false);

#[inline]
pub fn enabled(level: Level) -> bool {
    level.0 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Hands the record to every sink; never blocks (a full queue drops and counts).
pub fn dispatch(py: Python<'_>, record: LogRecord) {
    ensure_installed(py);
    dispatch_detached(record);
}

/// Installs the default pipeline (JSON lines to stdout) unless one is: afterwards records can
/// be dispatched from a thread not attached to Python.
#[inline]
pub fn ensure_installed(py: Python<'_>) {
    if !INSTALLED.load(Ordering::Acquire) {
        install_default(py);
    }
}

/// Hands the record to every sink of the installed pipeline, needing no Python: see
/// [`ensure_installed`]. Without a pipeline the record is dropped and counted.
pub fn dispatch_detached(record: LogRecord) {
    let record = Arc::new(record);
    match SINKS.read().as_ref() {
        Some(sinks) => {
            // The last sink gets the record itself: the application's thread never holds the
            // last reference, so the record is freed by the writer.
            if let Some((last, others)) = sinks.split_last() {
                for sink in others {
                    sink.send(record.clone());
                }
                last.send(record);
            }
        }
        None => crate::runtime::selfmetrics::record_drop("logs", "no_pipeline"),
    }
}

fn install_default(py: Python<'_>) {
    let spec = FormatSpec {
        pretty: false,
        enrichment: Enrichment::from_environment(py),
        redactor: Arc::new(Redactor::new(&[], true, &[], &[]).expect("the default denylist compiles")),
    };
    let mut sinks = SINKS.write();
    if sinks.is_none() {
        // JSON lines: no colour to allow.
        *sinks = Some(vec![start_console(Stream::Stdout, &spec, CONSOLE_QUEUE, false)]);
    }
    INSTALLED.store(true, Ordering::Release);
}

/// Replaces the log pipeline; see `ferrotel.logs.configure` for the arguments.
#[pyfunction]
#[pyo3(signature = (
    *, level, format, console, file, elasticsearch, otlp, service, environment, version, hostname,
    redact_keys, redact_defaults, redact_patterns, redact_values=Vec::new(), color=true,
))]
#[allow(clippy::too_many_arguments)]
pub fn configure_logs(
    py: Python<'_>,
    level: &Bound<'_, PyAny>,
    format: &str,
    console: Option<&str>,
    file: Option<PyRef<'_, FileSink>>,
    elasticsearch: Option<PyRef<'_, ElasticsearchSink>>,
    otlp: Option<PyRef<'_, OtlpLogSink>>,
    service: Option<String>,
    environment: Option<String>,
    version: Option<String>,
    hostname: Option<String>,
    redact_keys: Vec<String>,
    redact_defaults: bool,
    redact_patterns: Vec<(String, String)>,
    redact_values: Vec<String>,
    color: bool,
) -> Result<()> {
    let level = Level::extract(level)?;
    let pretty = match format {
        "json" => false,
        "pretty" => true,
        _ => {
            return Err(Error::invalid(format!(
                "format must be \"json\" or \"pretty\", not {format:?}"
            )))
        }
    };
    let console = console.map(Stream::parse).transpose()?;
    let spec = FormatSpec {
        pretty,
        enrichment: Enrichment {
            service,
            environment,
            version,
            hostname,
        },
        redactor: Arc::new(Redactor::new(
            &redact_keys,
            redact_defaults,
            &redact_values,
            &redact_patterns,
        )?),
    };
    let mut sinks = Vec::new();
    if let Some(file) = file {
        sinks.push(file.start(&spec)?);
    }
    if let Some(stream) = console {
        sinks.push(start_console(stream, &spec, CONSOLE_QUEUE, color));
    }
    if let Some(elasticsearch) = elasticsearch {
        sinks.push(elasticsearch.start(&spec));
    }
    if let Some(otlp) = otlp {
        sinks.push(otlp.start(&spec));
    }
    MIN_LEVEL.store(level.0, Ordering::Relaxed);
    // The log lines of requests that ended before this call go to the sinks of their time.
    crate::runtime::hooks::settle();
    let previous = SINKS.write().replace(sinks);
    INSTALLED.store(true, Ordering::Release);
    if let Some(previous) = previous {
        py.detach(|| {
            let deadline = Instant::now() + HANDOVER;
            for sink in previous {
                sink.shutdown(deadline);
            }
        });
    }
    Ok(())
}

/// The level below which calls return at once, as a stdlib level number.
#[pyfunction]
pub fn log_level() -> u8 {
    MIN_LEVEL.load(Ordering::Relaxed)
}
