//! Where ended spans go: OTLP/HTTP, Zipkin v2 JSON, JSON lines to a file or the console, or
//! memory (for tests). Each exporter runs on a `transport::worker` thread, behind redaction.

pub mod files;
pub mod memory;
pub mod otlp;
pub mod redacting;
pub mod zipkin;
