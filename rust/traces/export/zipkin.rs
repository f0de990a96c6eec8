//! Zipkin v2 JSON export to `/api/v2/spans`, following OpenTelemetry's Zipkin mapping: status in
//! the `otel.status_code` and `error` tags, events as annotations, microsecond timestamps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use serde_json::{json, Map, Value};

use crate::runtime::seconds::positive as positive_seconds;
use crate::traces::data::{AttrValue, SpanData, SpanKind, StatusCode};
use crate::traces::ids::{span_hex, trace_hex};
use crate::transport::error::ExportError;
use crate::transport::http::{self, HttpTarget, RetryPolicy};
use crate::transport::url::http_url;
use crate::transport::worker::{Exporter, ExporterFactory};

/// Zipkin tags are strings: a str as it is, anything else as its JSON.
fn tag_value(value: &AttrValue) -> String {
    match value {
        AttrValue::Str(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

pub fn zipkin_span(s: &SpanData) -> Value {
    let mut tags = Map::new();
    for (k, v) in &s.attributes {
        tags.insert(k.to_string(), Value::String(tag_value(v)));
    }
    tags.insert("otel.scope.name".into(), json!(s.scope.name));
    if !s.scope.version.is_empty() {
        tags.insert("otel.scope.version".into(), json!(s.scope.version));
    }
    match s.status {
        StatusCode::Unset => {}
        StatusCode::Ok => {
            tags.insert("otel.status_code".into(), json!("OK"));
        }
        StatusCode::Error => {
            tags.insert("otel.status_code".into(), json!("ERROR"));
            tags.insert("error".into(), json!(s.status_message));
        }
    }
    if s.dropped_attributes > 0 {
        tags.insert(
            "otel.dropped_attributes_count".into(),
            json!(s.dropped_attributes.to_string()),
        );
    }
    if s.dropped_events > 0 {
        tags.insert("otel.dropped_events_count".into(), json!(s.dropped_events.to_string()));
    }
    if s.dropped_links > 0 {
        tags.insert("otel.dropped_links_count".into(), json!(s.dropped_links.to_string()));
    }
    let mut annotations: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let value = if e.attributes.is_empty() {
                e.name.clone()
            } else {
                let attrs: Map<String, Value> =
                    e.attributes.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect();
                json!({ e.name.clone(): attrs }).to_string()
            };
            json!({ "timestamp": e.time_ns / 1_000, "value": value })
        })
        .collect();
    // Zipkin's schema wants unique annotations: two equal events in one microsecond are one.
    let mut seen = std::collections::HashSet::new();
    annotations.retain(|a| seen.insert(a.to_string()));
    let mut span = json!({
        "traceId": trace_hex(s.trace_id),
        "id": span_hex(s.span_id),
        "name": s.name,
        "timestamp": s.start_ns / 1_000,
        "duration": (s.end_ns.saturating_sub(s.start_ns) / 1_000).max(1),
        "localEndpoint": { "serviceName": s.resource.service_name() },
        "tags": tags,
    });
    let object = span.as_object_mut().expect("built as an object");
    if let Some(parent) = s.parent_span_id {
        object.insert("parentId".into(), json!(span_hex(parent)));
    }
    let kind = match s.kind {
        SpanKind::Internal => None,
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
    };
    if let Some(kind) = kind {
        object.insert("kind".into(), json!(kind));
    }
    if !annotations.is_empty() {
        object.insert("annotations".into(), Value::Array(annotations));
    }
    span
}

struct ZipkinExporter {
    agent: ureq::Agent,
    target: HttpTarget,
    retry: RetryPolicy,
}

impl Exporter<Arc<SpanData>> for ZipkinExporter {
    fn name(&self) -> &str {
        "zipkin"
    }

    fn export(&mut self, batch: &[Arc<SpanData>], deadline: Instant) -> Result<(), ExportError> {
        let spans: Vec<Value> = batch.iter().map(|s| zipkin_span(s)).collect();
        let body = serde_json::to_vec(&spans).map_err(|e| ExportError::Encode(e.to_string()))?;
        http::outcome_result(
            http::post(
                &self.agent,
                &self.target,
                "application/json",
                &body,
                &self.retry,
                deadline,
            ),
            &self.target.url,
        )
    }
}

/// Zipkin v2 JSON over HTTP; given to `ferrotel.tracing.configure(exporters=...)`.
#[pyclass(frozen, name = "ZipkinExporter", module = "ferrotel._core")]
#[derive(Clone)]
pub struct ZipkinExporterConfig {
    #[pyo3(get)]
    endpoint: String,
    timeout: Duration,
}

#[pymethods]
impl ZipkinExporterConfig {
    #[new]
    #[pyo3(signature = (endpoint="http://localhost:9411/api/v2/spans", timeout=10.0))]
    fn new(endpoint: &str, timeout: f64) -> PyResult<Self> {
        Ok(Self {
            endpoint: http_url(endpoint)?,
            timeout: positive_seconds(timeout, "timeout")?,
        })
    }

    fn __repr__(&self) -> String {
        format!("ZipkinExporter(endpoint={:?})", self.endpoint)
    }
}

impl ZipkinExporterConfig {
    pub fn factory(&self) -> ExporterFactory<Arc<SpanData>> {
        let config = self.clone();
        Arc::new(move || {
            Box::new(ZipkinExporter {
                agent: http::agent(),
                target: HttpTarget {
                    url: config.endpoint.clone(),
                    headers: Vec::new(),
                    gzip: false,
                    timeout: config.timeout,
                },
                retry: RetryPolicy::default(),
            })
        })
    }
}
