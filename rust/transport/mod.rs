//! Layer 2, the export plumbing every signal shares: the batch worker and its bounded queue,
//! the HTTP client with retry and backoff, gzip, byte sizes, URL checks, and the redaction of
//! what leaves. It knows no signal: what it carries is a type parameter, and what it reports
//! goes to `runtime::selfmetrics`.

pub mod bytesize;
pub mod error;
pub mod gzip;
pub mod http;
pub mod redact;
pub mod url;
pub mod worker;
