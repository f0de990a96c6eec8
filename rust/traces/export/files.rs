//! Spans as JSON lines, one object per span, to a file or to the console.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use pyo3::prelude::*;

use crate::runtime::errors::{self, Error};
use serde_json::{json, Value};

use crate::traces::data::{Attributes, SpanData};
use crate::traces::ids::{span_hex, trace_hex};
use crate::transport::error::ExportError;
use crate::transport::worker::{Exporter, ExporterFactory};

fn attrs_json(attributes: &Attributes) -> Value {
    Value::Object(attributes.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
}

pub fn span_json(s: &SpanData) -> Value {
    json!({
        "trace_id": trace_hex(s.trace_id),
        "span_id": span_hex(s.span_id),
        "parent_span_id": s.parent_span_id.map(span_hex),
        "name": s.name,
        "kind": s.kind.name(),
        "start_time_unix_nano": s.start_ns,
        "end_time_unix_nano": s.end_ns,
        "status": { "code": s.status.name(), "message": s.status_message },
        "attributes": attrs_json(&s.attributes),
        "events": s.events.iter().map(|e| json!({
            "name": e.name, "time_unix_nano": e.time_ns, "attributes": attrs_json(&e.attributes)
        })).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({
            "trace_id": trace_hex(l.trace_id), "span_id": span_hex(l.span_id), "attributes": attrs_json(&l.attributes)
        })).collect::<Vec<_>>(),
        "resource": attrs_json(&s.resource.attributes),
        "scope": { "name": s.scope.name, "version": s.scope.version },
    })
}

fn write_lines(out: &mut dyn Write, batch: &[Arc<SpanData>]) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(batch.len() * 512);
    for span in batch {
        serde_json::to_writer(&mut buffer, &span_json(span))?;
        buffer.push(b'\n');
    }
    out.write_all(&buffer)?;
    out.flush()
}

enum Target {
    File(File),
    Stdout,
    Stderr,
}

struct JsonLinesExporter {
    name: &'static str,
    target: Target,
}

impl Exporter<Arc<SpanData>> for JsonLinesExporter {
    fn name(&self) -> &str {
        self.name
    }

    fn export(&mut self, batch: &[Arc<SpanData>], _deadline: Instant) -> Result<(), ExportError> {
        let result = match &mut self.target {
            Target::File(f) => write_lines(f, batch),
            Target::Stdout => write_lines(&mut std::io::stdout().lock(), batch),
            Target::Stderr => write_lines(&mut std::io::stderr().lock(), batch),
        };
        result.map_err(|source| ExportError::Io {
            target: self.name.to_string(),
            source,
        })
    }
}

/// Appends spans as JSON lines to `path`.
#[pyclass(frozen, name = "FileSpanExporter", module = "ferrotel._core")]
#[derive(Clone)]
pub struct FileSpanExporterConfig {
    #[pyo3(get)]
    path: String,
}

#[pymethods]
impl FileSpanExporterConfig {
    #[new]
    fn new(path: std::path::PathBuf) -> PyResult<Self> {
        // Opened now so a bad path fails in configure(), not on the exporter thread.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::Os(format!("cannot open span file {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_string_lossy().into_owned(),
        })
    }

    fn __repr__(&self) -> String {
        format!("FileSpanExporter({:?})", self.path)
    }
}

impl FileSpanExporterConfig {
    pub fn factory(&self) -> ExporterFactory<Arc<SpanData>> {
        let path = self.path.clone();
        Arc::new(move || {
            let target = match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(file) => Target::File(file),
                Err(_) => Target::Stderr,
            };
            Box::new(JsonLinesExporter {
                name: "span_file",
                target,
            })
        })
    }
}

/// Writes spans as JSON lines to stdout (or stderr).
#[pyclass(frozen, name = "ConsoleSpanExporter", module = "ferrotel._core")]
#[derive(Clone)]
pub struct ConsoleSpanExporterConfig {
    stderr: bool,
}

#[pymethods]
impl ConsoleSpanExporterConfig {
    #[new]
    #[pyo3(signature = (stream="stdout"))]
    fn new(stream: &str) -> errors::Result<Self> {
        match stream {
            "stdout" => Ok(Self { stderr: false }),
            "stderr" => Ok(Self { stderr: true }),
            other => Err(Error::invalid(format!("stream {other:?} is not 'stdout' or 'stderr'"))),
        }
    }
}

impl ConsoleSpanExporterConfig {
    pub fn factory(&self) -> ExporterFactory<Arc<SpanData>> {
        let stderr = self.stderr;
        Arc::new(move || {
            let target = if stderr { Target::Stderr } else { Target::Stdout };
            Box::new(JsonLinesExporter {
                name: "console_spans",
                target,
            })
        })
    }
}

struct Discard;

impl Exporter<Arc<SpanData>> for Discard {
    fn name(&self) -> &str {
        "discard"
    }

    fn export(&mut self, _batch: &[Arc<SpanData>], _deadline: Instant) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Runs the whole batch pipeline and throws the spans away: for measuring the cost of tracing
/// itself, as the benchmarks do.
#[pyclass(frozen, name = "DiscardSpanExporter", module = "ferrotel._core")]
#[derive(Clone, Default)]
pub struct DiscardSpanExporterConfig;

#[pymethods]
impl DiscardSpanExporterConfig {
    #[new]
    fn new() -> Self {
        Self
    }
}

impl DiscardSpanExporterConfig {
    pub fn factory(&self) -> ExporterFactory<Arc<SpanData>> {
        Arc::new(|| Box::new(Discard))
    }
}
