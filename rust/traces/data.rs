//! What an ended span is: plain Rust data, handed to exporter threads behind an `Arc`.

use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    StrArray(Vec<String>),
    BoolArray(Vec<bool>),
    IntArray(Vec<i64>),
    DoubleArray(Vec<f64>),
}

/// Attribute names: static for ferrotel's own (the middleware's), owned for the application's.
pub type AttrKey = std::borrow::Cow<'static, str>;

pub type Attributes = Vec<(AttrKey, AttrValue)>;

impl AttrValue {
    /// The value as JSON, for the JSON exporters.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            AttrValue::Str(s) => json!(s),
            AttrValue::Bool(b) => json!(b),
            AttrValue::Int(i) => json!(i),
            AttrValue::Double(f) => json!(f),
            AttrValue::StrArray(v) => json!(v),
            AttrValue::BoolArray(v) => json!(v),
            AttrValue::IntArray(v) => json!(v),
            AttrValue::DoubleArray(v) => json!(v),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn parse(name: &str) -> Option<SpanKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Internal => "INTERNAL",
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Producer => "PRODUCER",
            SpanKind::Consumer => "CONSUMER",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    pub fn name(self) -> &'static str {
        match self {
            StatusCode::Unset => "UNSET",
            StatusCode::Ok => "OK",
            StatusCode::Error => "ERROR",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub name: String,
    pub time_ns: u64,
    pub attributes: Attributes,
    pub dropped_attributes: u32,
}

#[derive(Clone, Debug)]
pub struct Link {
    pub trace_id: u128,
    pub span_id: u64,
    pub trace_state: String,
    pub flags: u8,
    pub attributes: Attributes,
    pub dropped_attributes: u32,
}

#[derive(Debug)]
pub struct Resource {
    pub attributes: Attributes,
}

impl Resource {
    pub fn service_name(&self) -> &str {
        self.attributes
            .iter()
            .find_map(|(k, v)| match v {
                AttrValue::Str(s) if k == "service.name" => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("unknown_service")
    }
}

/// The instrumentation scope: the name (and version) given to `get_tracer`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug)]
pub struct SpanData {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub parent_is_remote: bool,
    pub trace_state: String,
    pub flags: u8,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Attributes,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    pub status: StatusCode,
    pub status_message: String,
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
    pub scope: Arc<Scope>,
    pub resource: Arc<Resource>,
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
