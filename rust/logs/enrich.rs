//! The guide's enrichment — service, environment, version, hostname — resolved once per
//! configuration, from the arguments or else the environment.

use pyo3::prelude::*;

#[derive(Clone, Debug, Default)]
pub struct Enrichment {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub hostname: Option<String>,
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
}

impl Enrichment {
    /// Unset values come from OTEL_SERVICE_NAME or SERVICE_NAME, ENVIRONMENT or NODE_ENV,
    /// APP_VERSION and the host name: the order `ferrotel.tracing` reads them in.
    pub fn resolve(
        py: Python<'_>,
        service: Option<String>,
        environment: Option<String>,
        version: Option<String>,
        hostname: Option<String>,
    ) -> Self {
        let hostname = hostname.or_else(|| {
            py.import("socket")
                .and_then(|socket| socket.call_method0("gethostname"))
                .and_then(|name| name.extract::<String>())
                .ok()
        });
        Self {
            service: service.or_else(|| env(&["OTEL_SERVICE_NAME", "SERVICE_NAME"])),
            environment: environment.or_else(|| env(&["ENVIRONMENT", "NODE_ENV"])),
            version: version.or_else(|| env(&["APP_VERSION"])),
            hostname,
        }
    }
}
