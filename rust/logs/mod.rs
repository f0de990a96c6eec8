//! Layer 3, logs: the record built once on the caller's thread, then enrichment, redaction and
//! formatting, and the sinks: console, size-rotated files, Elasticsearch `_bulk`, OTLP.

pub mod bridge;
pub mod context;
pub mod convert;
pub mod enrich;
pub mod format;
pub mod logger;
pub mod pipeline;
pub mod record;
pub mod sinks;
