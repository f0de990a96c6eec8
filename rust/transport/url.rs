//! Endpoint checks made where an exporter is defined, not when it first sends.

use crate::runtime::errors::{Error, Result};

/// An exporter endpoint: an http:// or https:// URL.
pub fn http_url(endpoint: &str) -> Result<String> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(endpoint.to_string())
    } else {
        Err(Error::invalid(format!(
            "endpoint {endpoint:?} is not an http:// or https:// URL"
        )))
    }
}
