//! Layer 3, metrics: families and the registry (collect), exposition (process), and the
//! `/metrics` server and Pushgateway (export).

pub mod counter;
pub mod declare;
pub mod export;
pub mod exposition;
pub mod family;
pub mod gauge;
pub mod histogram;
pub mod info;
pub mod multiprocess;
pub mod native;
pub mod process;
pub mod registry;
pub mod selfmetrics;
pub mod summary;
pub mod timer;
pub mod validate;
pub mod value;

use pyo3::prelude::*;

/// At import: the default REGISTRY, holding ferrotel's own counts and, like prometheus_client's,
/// the process and Python runtime metrics.
pub fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let registry = registry::default_registry(py);
    registry.get().core.register_own()?;
    registry.get().register_process_metrics(py)?;
    m.add("REGISTRY", registry.clone_ref(py))?;
    m.add("DEFAULT_BUCKETS", histogram::DEFAULT_BUCKETS.to_vec())?;
    Ok(())
}
