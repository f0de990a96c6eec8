pub mod bridge;
pub mod context;
pub mod enrich;
pub mod format;
pub mod logger;
pub mod pipeline;
pub mod record;
pub mod redact;
