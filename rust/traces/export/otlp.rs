//! OTLP/HTTP span export (protobuf or JSON) to `/v1/traces`: collectors, and Jaeger, which takes
//! OTLP on port 4318. Messages are the official generated ones from `opentelemetry-proto`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use pyo3::prelude::*;

use crate::runtime::errors::{self, Error};

use crate::runtime::seconds::positive as positive_seconds;
use crate::traces::data::{AttrValue, Attributes, Resource, Scope, SpanData, SpanKind, StatusCode};
use crate::transport::error::ExportError;
use crate::transport::http::{self, HttpTarget, RetryPolicy};
use crate::transport::url::http_url;
use crate::transport::worker::{Exporter, ExporterFactory};

pub fn any_value(value: &AttrValue) -> AnyValue {
    use any_value::Value;
    let array = |values: Vec<Value>| {
        Value::ArrayValue(ArrayValue {
            values: values.into_iter().map(|v| AnyValue { value: Some(v) }).collect(),
        })
    };
    let value = match value {
        AttrValue::Str(s) => Value::StringValue(s.clone()),
        AttrValue::Bool(b) => Value::BoolValue(*b),
        AttrValue::Int(i) => Value::IntValue(*i),
        AttrValue::Double(f) => Value::DoubleValue(*f),
        AttrValue::StrArray(v) => array(v.iter().map(|s| Value::StringValue(s.clone())).collect()),
        AttrValue::BoolArray(v) => array(v.iter().map(|b| Value::BoolValue(*b)).collect()),
        AttrValue::IntArray(v) => array(v.iter().map(|i| Value::IntValue(*i)).collect()),
        AttrValue::DoubleArray(v) => array(v.iter().map(|f| Value::DoubleValue(*f)).collect()),
    };
    AnyValue { value: Some(value) }
}

pub fn key_values(attributes: &Attributes) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: Some(any_value(v)),
            ..Default::default()
        })
        .collect()
}

pub fn resource(resource: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: key_values(&resource.attributes),
        ..Default::default()
    }
}

fn kind(kind: SpanKind) -> i32 {
    let kind = match kind {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    };
    kind as i32
}

fn status(code: StatusCode, message: &str) -> Status {
    let code = match code {
        StatusCode::Unset => status::StatusCode::Unset,
        StatusCode::Ok => status::StatusCode::Ok,
        StatusCode::Error => status::StatusCode::Error,
    };
    Status {
        code: code as i32,
        message: message.to_string(),
    }
}

/// Span flags: the W3C trace flags, plus whether the parent is known to be remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn proto_span(s: &SpanData) -> Span {
    Span {
        trace_id: s.trace_id.to_be_bytes().to_vec(),
        span_id: s.span_id.to_be_bytes().to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
        flags: s.flags as u32 | HAS_IS_REMOTE | if s.parent_is_remote { IS_REMOTE } else { 0 },
        name: s.name.clone(),
        kind: kind(s.kind),
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: e.dropped_attributes,
            })
            .collect(),
        dropped_events_count: s.dropped_events,
        links: s
            .links
            .iter()
            .map(|l| span::Link {
                trace_id: l.trace_id.to_be_bytes().to_vec(),
                span_id: l.span_id.to_be_bytes().to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: l.dropped_attributes,
                flags: l.flags as u32,
            })
            .collect(),
        dropped_links_count: s.dropped_links,
        status: Some(status(s.status, &s.status_message)),
    }
}

/// One request for a batch: spans grouped by resource, then by instrumentation scope.
pub fn request(spans: &[Arc<SpanData>]) -> ExportTraceServiceRequest {
    let mut by_resource: Vec<(*const Resource, ResourceSpans, HashMap<*const Scope, usize>)> = Vec::new();
    for s in spans {
        let rkey = Arc::as_ptr(&s.resource);
        let index = match by_resource.iter().position(|(k, _, _)| *k == rkey) {
            Some(i) => i,
            None => {
                let rs = ResourceSpans {
                    resource: Some(resource(&s.resource)),
                    ..Default::default()
                };
                by_resource.push((rkey, rs, HashMap::new()));
                by_resource.len() - 1
            }
        };
        let (_, rs, scopes) = &mut by_resource[index];
        let skey = Arc::as_ptr(&s.scope);
        let scope_index = *scopes.entry(skey).or_insert_with(|| {
            rs.scope_spans.push(ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: s.scope.name.clone(),
                    version: s.scope.version.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            rs.scope_spans.len() - 1
        });
        rs.scope_spans[scope_index].spans.push(proto_span(s));
    }
    ExportTraceServiceRequest {
        resource_spans: by_resource.into_iter().map(|(_, rs, _)| rs).collect(),
    }
}

/// Stand-ins for non-finite doubles while serde writes the request; JSON has no NaN, and the
/// protobuf JSON mapping spells them "NaN", "Infinity", "-Infinity". Used only in a batch that
/// holds a non-finite double, so a genuine ±f64::MAX or MIN_POSITIVE elsewhere in it is the
/// one value that could be misread.
const NON_FINITE: [(f64, &str); 3] = [
    (f64::MIN_POSITIVE, "NaN"),
    (f64::MAX, "Infinity"),
    (-f64::MAX, "-Infinity"),
];

fn for_each_double(request: &mut ExportTraceServiceRequest, f: &mut impl FnMut(&mut f64)) {
    fn visit(value: &mut AnyValue, f: &mut impl FnMut(&mut f64)) {
        match &mut value.value {
            Some(any_value::Value::DoubleValue(d)) => f(d),
            Some(any_value::Value::ArrayValue(array)) => array.values.iter_mut().for_each(|v| visit(v, f)),
            _ => {}
        }
    }
    let mut attrs = |kvs: &mut Vec<KeyValue>| {
        kvs.iter_mut()
            .filter_map(|kv| kv.value.as_mut())
            .for_each(|v| visit(v, f))
    };
    for rs in &mut request.resource_spans {
        if let Some(resource) = rs.resource.as_mut() {
            attrs(&mut resource.attributes);
        }
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                attrs(&mut span.attributes);
                span.events.iter_mut().for_each(|e| attrs(&mut e.attributes));
                span.links.iter_mut().for_each(|l| attrs(&mut l.attributes));
            }
        }
    }
}

fn json_body(mut request: ExportTraceServiceRequest) -> serde_json::Result<Vec<u8>> {
    let mut non_finite = false;
    for_each_double(&mut request, &mut |d| {
        if !d.is_finite() {
            non_finite = true;
            *d = if d.is_nan() {
                NON_FINITE[0].0
            } else if *d > 0.0 {
                NON_FINITE[1].0
            } else {
                NON_FINITE[2].0
            };
        }
    });
    if !non_finite {
        return serde_json::to_vec(&request);
    }
    let mut value = serde_json::to_value(&request)?;
    fn patch(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Number(n)) = map.get("doubleValue") {
                    let spelled = n
                        .as_f64()
                        .and_then(|d| NON_FINITE.iter().find(|(s, _)| *s == d).map(|(_, t)| *t));
                    if let Some(text) = spelled {
                        map.insert("doubleValue".into(), serde_json::Value::String(text.into()));
                        return;
                    }
                }
                map.values_mut().for_each(patch);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(patch),
            _ => {}
        }
    }
    patch(&mut value);
    serde_json::to_vec(&value)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Protobuf,
    Json,
}

struct OtlpSpanExporter {
    agent: ureq::Agent,
    target: HttpTarget,
    protocol: Protocol,
    retry: RetryPolicy,
}

impl Exporter<Arc<SpanData>> for OtlpSpanExporter {
    fn name(&self) -> &str {
        "otlp_traces"
    }

    fn export(&mut self, batch: &[Arc<SpanData>], deadline: Instant) -> Result<(), ExportError> {
        let request = request(batch);
        let (body, content_type) = match self.protocol {
            Protocol::Protobuf => (request.encode_to_vec(), "application/x-protobuf"),
            Protocol::Json => (
                json_body(request).map_err(|e| ExportError::Encode(e.to_string()))?,
                "application/json",
            ),
        };
        http::outcome_result(
            http::post(&self.agent, &self.target, content_type, &body, &self.retry, deadline),
            &self.target.url,
        )
    }
}

/// Where and how to send spans over OTLP/HTTP; given to `ferrotel.tracing.configure(exporters=...)`.
#[pyclass(frozen, name = "OTLPSpanExporter", module = "ferrotel._core")]
#[derive(Clone)]
pub struct OtlpSpanExporterConfig {
    #[pyo3(get)]
    endpoint: String,
    protocol: Protocol,
    headers: Vec<(String, String)>,
    #[pyo3(get)]
    gzip: bool,
    timeout: Duration,
}

#[pymethods]
impl OtlpSpanExporterConfig {
    #[new]
    #[pyo3(signature = (endpoint="http://localhost:4318/v1/traces", protocol="http/protobuf", headers=None, gzip=false, timeout=10.0))]
    fn new(
        endpoint: &str,
        protocol: &str,
        headers: Option<HashMap<String, String>>,
        gzip: bool,
        timeout: f64,
    ) -> errors::Result<Self> {
        let protocol = match protocol {
            "http/protobuf" => Protocol::Protobuf,
            "http/json" => Protocol::Json,
            other => {
                return Err(Error::invalid(format!(
                    "OTLP protocol {other:?} is not 'http/protobuf' or 'http/json'"
                )))
            }
        };
        Ok(Self {
            endpoint: http_url(endpoint)?,
            protocol,
            headers: headers.unwrap_or_default().into_iter().collect(),
            gzip,
            timeout: positive_seconds(timeout, "timeout")?,
        })
    }

    #[getter]
    fn protocol(&self) -> &'static str {
        match self.protocol {
            Protocol::Protobuf => "http/protobuf",
            Protocol::Json => "http/json",
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "OTLPSpanExporter(endpoint={:?}, protocol={:?})",
            self.endpoint,
            self.protocol()
        )
    }
}

impl OtlpSpanExporterConfig {
    pub fn factory(&self) -> ExporterFactory<Arc<SpanData>> {
        let config = self.clone();
        Arc::new(move || {
            Box::new(OtlpSpanExporter {
                agent: http::agent(),
                target: HttpTarget {
                    url: config.endpoint.clone(),
                    headers: config.headers.clone(),
                    gzip: config.gzip,
                    timeout: config.timeout,
                },
                protocol: config.protocol,
                retry: RetryPolicy::default(),
            })
        })
    }
}

/// Spans per second that one thread encodes into OTLP protobuf requests of 512 spans, each with
/// three attributes and one event: what an OTLP exporter thread can keep up with. Bench-only:
/// in the extension only when built with the `bench-hooks` feature.
#[cfg(feature = "bench-hooks")]
#[pyfunction]
#[pyo3(signature = (spans=20_000))]
pub fn _otlp_encode_rate(py: Python<'_>, spans: usize) -> f64 {
    use crate::traces::data::{now_ns, Event};
    let resource = Arc::new(Resource {
        attributes: vec![("service.name".into(), AttrValue::Str("bench".into()))],
    });
    let scope = Arc::new(Scope {
        name: "bench".into(),
        version: String::new(),
    });
    let batch: Vec<Arc<SpanData>> = (0..512u64)
        .map(|i| {
            Arc::new(SpanData {
                trace_id: crate::traces::ids::trace_id(),
                span_id: crate::traces::ids::span_id(),
                parent_span_id: Some(i + 1),
                parent_is_remote: false,
                trace_state: String::new(),
                flags: 1,
                name: "GET /songs/{song_id}".into(),
                kind: SpanKind::Server,
                start_ns: now_ns(),
                end_ns: now_ns() + 1_000,
                attributes: vec![
                    ("http.method".into(), AttrValue::Str("GET".into())),
                    ("http.route".into(), AttrValue::Str("/songs/{song_id}".into())),
                    ("http.status_code".into(), AttrValue::Int(200)),
                ],
                events: vec![Event {
                    name: "cache_miss".into(),
                    time_ns: now_ns(),
                    attributes: vec![],
                    dropped_attributes: 0,
                }],
                links: vec![],
                status: StatusCode::Unset,
                status_message: String::new(),
                dropped_attributes: 0,
                dropped_events: 0,
                dropped_links: 0,
                scope: scope.clone(),
                resource: resource.clone(),
            })
        })
        .collect();
    py.detach(|| {
        let rounds = spans.div_ceil(batch.len()).max(1);
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            bytes += request(&batch).encode_to_vec().len();
        }
        let elapsed = start.elapsed().as_secs_f64();
        std::hint::black_box(bytes);
        (rounds * batch.len()) as f64 / elapsed
    })
}
