pub mod http;
pub mod lifecycle;
pub mod otlp;
pub mod pushgateway;
pub mod server;
pub mod span_files;
pub mod worker;
pub mod zipkin;
