//! Where log records go, each on a `transport::worker` thread: the console and size-rotated
//! files, Elasticsearch `_bulk`, OTLP logs.

pub mod console;
pub mod elasticsearch;
pub mod files;
pub mod otlp;
