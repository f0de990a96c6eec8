//! Log records to an OTLP/HTTP collector (`/v1/logs`, protobuf), one scope per logger name;
//! the enrichment becomes resource attributes, context fields log attributes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use pyo3::prelude::*;

use crate::logs::enrich::Enrichment;
use crate::logs::format::FormatSpec;
use crate::logs::pipeline::LogWorker;
use crate::logs::record::{Field, LogRecord, Value};
use crate::runtime::errors::{self, Error};
use crate::runtime::seconds::positive as positive_seconds;
use crate::runtime::selfmetrics;
use crate::transport::error::ExportError;
use crate::transport::http::{self, HttpTarget, Outcome, RetryPolicy};
use crate::transport::redact::{Redactor, REDACTED};
use crate::transport::url::http_url;
use crate::transport::worker::{BatchConfig, BatchWorker, Exporter};

/// `OtlpLogSink(endpoint)`: OTLP/HTTP logs, protobuf encoded.
#[pyclass(subclass, frozen, name = "OtlpLogSink", module = "ferrotel._core")]
pub struct OtlpLogSink {
    target: HttpTarget,
    config: BatchConfig,
}

#[pymethods]
impl OtlpLogSink {
    /// `ferrotel.logs.OtlpLogSink` fills in the endpoint and headers from the environment.
    #[new]
    #[pyo3(signature = (endpoint, *, headers=None, gzip=false, timeout=10.0, max_batch=512, max_queue=2048, flush_interval=1.0))]
    fn new(
        endpoint: &str,
        headers: Option<HashMap<String, String>>,
        gzip: bool,
        timeout: f64,
        max_batch: usize,
        max_queue: usize,
        flush_interval: f64,
    ) -> errors::Result<Self> {
        if max_batch == 0 || max_queue == 0 {
            return Err(Error::invalid("max_batch and max_queue must be at least 1"));
        }
        let timeout = positive_seconds(timeout, "timeout")?;
        Ok(Self {
            target: HttpTarget {
                url: http_url(endpoint)?,
                headers: headers.unwrap_or_default().into_iter().collect(),
                gzip,
                timeout,
            },
            config: BatchConfig {
                max_queue,
                max_batch,
                delay: positive_seconds(flush_interval, "flush_interval")?,
                export_timeout: timeout * 3,
            },
        })
    }

    #[getter]
    fn endpoint(&self) -> &str {
        &self.target.url
    }

    fn __repr__(&self) -> String {
        format!("OtlpLogSink({:?})", self.target.url)
    }
}

impl OtlpLogSink {
    pub fn start(&self, spec: &FormatSpec) -> LogWorker {
        let target = self.target.clone();
        let resource = resource(&spec.enrichment);
        let redactor = spec.redactor.clone();
        BatchWorker::start(
            "logs",
            self.config.clone(),
            Arc::new(move || {
                Box::new(OtlpLogExporter {
                    agent: http::agent(),
                    target: target.clone(),
                    resource: resource.clone(),
                    redactor: redactor.clone(),
                })
            }),
        )
    }
}

fn string(text: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    }
}

fn key_value(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

fn resource(enrichment: &Enrichment) -> Resource {
    let attributes = [
        ("service.name", &enrichment.service),
        ("service.version", &enrichment.version),
        ("deployment.environment", &enrichment.environment),
        ("host.name", &enrichment.hostname),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.as_ref().map(|v| key_value(key, string(v.as_str()))))
    .collect();
    Resource {
        attributes,
        ..Default::default()
    }
}

/// OpenTelemetry's SeverityNumber: DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21.
fn severity(record: &LogRecord) -> i32 {
    match record.level.name() {
        "debug" => 5,
        "info" => 9,
        "warning" => 13,
        "error" => 17,
        _ => 21,
    }
}

struct OtlpLogExporter {
    agent: ureq::Agent,
    target: HttpTarget,
    resource: Resource,
    redactor: Arc<Redactor>,
}

impl OtlpLogExporter {
    fn any_value(&self, value: &Value) -> AnyValue {
        let value = match value {
            Value::Null => return AnyValue { value: None },
            Value::Bool(b) => any_value::Value::BoolValue(*b),
            Value::Int(n) => any_value::Value::IntValue(*n),
            Value::Float(f) => any_value::Value::DoubleValue(*f),
            Value::Str(s) => any_value::Value::StringValue(self.redactor.scrub(s).into_owned()),
            Value::List(items) => any_value::Value::ArrayValue(ArrayValue {
                values: items.iter().map(|v| self.any_value(v)).collect(),
            }),
            Value::Map(fields) => any_value::Value::KvlistValue(KeyValueList {
                values: fields.iter().map(|f| self.attribute(f)).collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }

    fn attribute(&self, (key, value): &Field) -> KeyValue {
        if self.redactor.is_sensitive(key) {
            return key_value(key, string(REDACTED));
        }
        key_value(key, self.any_value(value))
    }

    fn record(&self, record: &LogRecord) -> OtlpRecord {
        let mut attributes: Vec<KeyValue> = record.context().map(|f| self.attribute(f)).collect();
        if let Some(error) = &record.error {
            let scrub = |text: &str| string(self.redactor.scrub(text).into_owned());
            attributes.push(key_value("exception.type", string(error.kind.as_str())));
            attributes.push(key_value("exception.message", scrub(&error.message)));
            attributes.push(key_value("exception.stacktrace", scrub(&error.stack_trace)));
        }
        if let Some(origin) = &record.origin {
            attributes.push(key_value("code.filepath", string(origin.file.as_str())));
            attributes.push(key_value(
                "code.lineno",
                AnyValue {
                    value: Some(any_value::Value::IntValue(origin.line.into())),
                },
            ));
            attributes.push(key_value("code.function", string(origin.function.as_str())));
        }
        let (trace_id, span_id, flags) = match record.span {
            Some((trace, span)) => (trace.to_be_bytes().to_vec(), span.to_be_bytes().to_vec(), 1),
            None => (Vec::new(), Vec::new(), 0),
        };
        OtlpRecord {
            time_unix_nano: record.time_ns,
            observed_time_unix_nano: record.time_ns,
            severity_number: severity(record),
            severity_text: record.level.name().to_ascii_uppercase(),
            body: Some(string(self.redactor.scrub(&record.message).into_owned())),
            attributes,
            flags,
            trace_id,
            span_id,
            ..Default::default()
        }
    }

    fn request(&self, batch: &[Arc<LogRecord>]) -> ExportLogsServiceRequest {
        let mut scopes: IndexMap<&str, Vec<OtlpRecord>> = IndexMap::new();
        for record in batch {
            scopes.entry(&record.logger).or_default().push(self.record(record));
        }
        let scope_logs = scopes
            .into_iter()
            .map(|(name, log_records)| ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: name.to_string(),
                    ..Default::default()
                }),
                log_records,
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs,
                ..Default::default()
            }],
        }
    }
}

impl Exporter<Arc<LogRecord>> for OtlpLogExporter {
    fn name(&self) -> &str {
        "otlp_logs"
    }

    fn export(&mut self, batch: &[Arc<LogRecord>], deadline: Instant) -> Result<(), ExportError> {
        let body = self.request(batch).encode_to_vec();
        let policy = RetryPolicy::default();
        match http::post(
            &self.agent,
            &self.target,
            "application/x-protobuf",
            &body,
            &policy,
            deadline,
        ) {
            Outcome::Sent(answer) => {
                let rejected = ExportLogsServiceResponse::decode(answer.as_slice())
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| p.rejected_log_records.max(0) as usize);
                if rejected > 0 {
                    selfmetrics::record_drops("logs", "rejected_by_collector", rejected);
                }
                Ok(())
            }
            failed => http::outcome_result(failed, &self.target.url),
        }
    }
}
