//! What can be collected or rendered besides a whole registry: a restricted view of one, the
//! handles on the built-in process collectors, and any collector given to `generate_latest` /
//! `generate_openmetrics`.

use std::collections::HashSet;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};

use super::exposition::{Escaping, Format};
use super::process::{Part, ProcessCollector};
use super::pyregistry::{collect_families, default_options, default_registry, render_for, PyRegistry, Rendered};
use super::registry::{RegistryCore, Render, Source};
use crate::runtime::errors::{Error, Result};

/// `registry.restricted_registry(names)`: collects only the samples of those names, from the
/// registry as it is at each collect (so also metrics registered after it was made).
#[pyclass(frozen, name = "RestrictedRegistry", module = "ferrotel._core")]
pub struct RestrictedRegistry {
    core: Arc<RegistryCore>,
    names: Arc<HashSet<String>>,
}

impl RestrictedRegistry {
    pub fn new(core: Arc<RegistryCore>, names: HashSet<String>) -> Self {
        Self {
            core,
            names: Arc::new(names),
        }
    }
}

/// ferrotel's built-in process, platform or GC collector: `PROCESS_COLLECTOR`,
/// `PLATFORM_COLLECTOR`, `GC_COLLECTOR`, which can be unregistered and registered again.
#[pyclass(frozen, name = "BuiltinCollector", module = "ferrotel._core")]
pub struct BuiltinCollector {
    pub part: Part,
}

static PROCESS: PyOnceLock<Arc<ProcessCollector>> = PyOnceLock::new();

pub fn process_collector(py: Python<'_>) -> Result<Arc<ProcessCollector>> {
    if let Some(p) = PROCESS.get(py) {
        return Ok(p.clone());
    }
    let made = Arc::new(ProcessCollector::new(py)?);
    Ok(PROCESS.get_or_init(py, || made).clone())
}

#[pymethods]
impl RestrictedRegistry {
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        collect_families(py, &self.core, Some(&self.names))
    }

    #[pyo3(signature = (accept=None, accept_encoding=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> PyResult<Rendered<'py>> {
        render_for(py, &self.core, accept, accept_encoding, Some(&self.names))
    }

    fn __repr__(&self) -> String {
        let mut names: Vec<&String> = self.names.iter().collect();
        names.sort();
        format!("<ferrotel.RestrictedRegistry names={names:?}>")
    }
}

#[pymethods]
impl BuiltinCollector {
    /// This part's families as prometheus_client `Metric` objects.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let core = Arc::new(RegistryCore::new(default_options()));
        core.add(
            Source::Process(process_collector(py)?, self.part),
            Vec::new(),
            String::new(),
        )?;
        collect_families(py, &core, None)
    }

    fn __repr__(&self) -> String {
        format!("<ferrotel built-in {:?} collector>", self.part)
    }
}

/// A registry and, for a restricted one, the sample names it keeps.
type Target = (Arc<RegistryCore>, Option<Arc<HashSet<String>>>);

/// What `generate_latest(registry)` renders: a registry, a restricted one, or any collector.
fn target(py: Python<'_>, registry: Option<&Bound<'_, PyAny>>) -> Result<Target> {
    let Some(registry) = registry.filter(|r| !r.is_none()) else {
        return Ok((default_registry(py).get().core.clone(), None));
    };
    if let Ok(r) = registry.cast::<PyRegistry>() {
        return Ok((r.get().core.clone(), None));
    }
    if let Ok(r) = registry.cast::<RestrictedRegistry>() {
        return Ok((r.get().core.clone(), Some(r.get().names.clone())));
    }
    // A single collector (a metric, a custom collector) renders as a registry holding it alone.
    let core = Arc::new(RegistryCore::new(default_options()));
    PyRegistry { core: core.clone() }.register(py, registry)?;
    Ok((core, None))
}

fn render_bytes<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyAny>>,
    format: Format,
    escaping: &str,
) -> Result<Bound<'py, PyBytes>> {
    let escaping = Escaping::parse(escaping).ok_or_else(|| {
        Error::invalid(format!(
            "escaping {escaping:?} is not one of 'allow-utf-8', 'underscores', 'dots', 'values'"
        ))
    })?;
    let (core, names) = target(py, registry)?;
    let how = Render {
        format,
        escaping,
        names: names.as_deref(),
    };
    let body = py.detach(|| core.render_with(how))?;
    Ok(PyBytes::new(py, &body))
}

/// `generate_latest(registry=REGISTRY, escaping="underscores")`: the text exposition, as
/// prometheus_client names it.
#[pyfunction]
#[pyo3(signature = (registry=None, escaping="underscores"))]
pub fn generate_latest<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyAny>>,
    escaping: &str,
) -> Result<Bound<'py, PyBytes>> {
    render_bytes(py, registry, Format::Text004, escaping)
}

/// `generate_openmetrics(registry=REGISTRY, escaping="underscores")`: the OpenMetrics 1.0 exposition.
#[pyfunction]
#[pyo3(signature = (registry=None, escaping="underscores"))]
pub fn generate_openmetrics<'py>(
    py: Python<'py>,
    registry: Option<&Bound<'py, PyAny>>,
    escaping: &str,
) -> Result<Bound<'py, PyBytes>> {
    render_bytes(py, registry, Format::OpenMetrics, escaping)
}
