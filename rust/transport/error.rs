//! Why an export failed: counted in `ferrotel_export_failures_total` and reported once.

use std::fmt;

#[derive(Debug)]
pub enum ExportError {
    /// The backend gave a final answer that is not a success (400, 413, ...).
    Rejected { url: String, status: u16 },
    /// No success before retries or time ran out: connection refused, timeouts, 503s.
    Unreachable { url: String, reason: String },
    /// The payload could not be encoded.
    Encode(String),
    /// Writing to a file or a stream failed.
    Io { target: String, source: std::io::Error },
    /// What was to be exported could not be read (a registry render failed).
    Source(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Rejected { url, status } => write!(f, "{url} answered HTTP {status}"),
            ExportError::Unreachable { url, reason } => write!(f, "{url}: {reason}"),
            ExportError::Encode(reason) => write!(f, "encoding failed: {reason}"),
            ExportError::Io { target, source } => write!(f, "{target}: {source}"),
            ExportError::Source(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for ExportError {}
