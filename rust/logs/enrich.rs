//! The guide's enrichment — service, environment, version, hostname — on every record. The
//! Python layer resolves them (`ferrotel._env`, the one place the environment is read) and
//! passes them in; this side only carries them.

use pyo3::prelude::*;

#[derive(Clone, Debug, Default)]
pub struct Enrichment {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub hostname: Option<String>,
}

type Resolved = (Option<String>, Option<String>, Option<String>, Option<String>);

impl Enrichment {
    /// For the default pipeline (records logged before `ferrotel.logs.configure`): asks
    /// `ferrotel._env.log_enrichment()`; none when Python cannot answer (at exit, say).
    pub fn from_environment(py: Python<'_>) -> Self {
        py.import("ferrotel._env")
            .and_then(|env| env.call_method0("log_enrichment"))
            .and_then(|resolved| resolved.extract::<Resolved>())
            .map(|(service, environment, version, hostname)| Self {
                service,
                environment,
                version,
                hostname,
            })
            .unwrap_or_default()
    }
}
