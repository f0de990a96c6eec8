//! Layer 3, metrics: families and the registry (collect), exposition (process), and the
//! `/metrics` server and Pushgateway (export).

pub mod args;
pub mod collectors;
pub mod counter;
pub mod created;
pub mod declare;
pub mod export;
pub mod exposition;
pub mod family;
pub mod forkgate;
pub mod gauge;
pub mod histogram;
pub mod info;
pub mod multiprocess;
pub mod native;
pub mod process;
pub mod pyregistry;
pub mod registry;
pub mod selfmetrics;
pub mod summary;
pub mod timer;
pub mod validate;
pub mod value;
pub mod views;

use pyo3::prelude::*;

use process::Part;
use views::{BuiltinCollector, RestrictedRegistry};

/// At import: the default REGISTRY holding ferrotel's own counts and, like prometheus_client's,
/// the process and Python runtime metrics, and the handles on those built-in collectors.
pub fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    forkgate::init();
    let registry = registry::default_registry(py);
    registry.get().core.register_own()?;
    registry.get().register_process_metrics(py)?;
    m.add("REGISTRY", registry.clone_ref(py))?;
    m.add("DEFAULT_BUCKETS", histogram::DEFAULT_BUCKETS.to_vec())?;
    m.add_class::<RestrictedRegistry>()?;
    m.add_class::<BuiltinCollector>()?;
    for (name, part) in [
        ("PROCESS_COLLECTOR", Part::Process),
        ("PLATFORM_COLLECTOR", Part::Platform),
        ("GC_COLLECTOR", Part::Gc),
    ] {
        m.add(name, Py::new(py, BuiltinCollector { part })?)?;
    }
    m.add_function(wrap_pyfunction!(export::pushgateway::_gateway_url, m)?)?;
    m.add_function(wrap_pyfunction!(exposition::_negotiate, m)?)?;
    m.add_function(wrap_pyfunction!(created::disable_created_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(created::enable_created_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(validate::get_legacy_validation, m)?)?;
    m.add_function(wrap_pyfunction!(validate::enable_legacy_validation, m)?)?;
    m.add_function(wrap_pyfunction!(validate::disable_legacy_validation, m)?)?;
    Ok(())
}
