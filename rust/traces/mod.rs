//! Layer 3, traces: spans, their context and ids, sampling and propagation (collect and
//! process), and the exporters: OTLP, Zipkin, JSON-lines file and console, in-memory.

pub mod attributes;
pub mod configure;
pub mod context;
pub mod data;
pub mod export;
pub mod ids;
pub mod pipeline;
pub mod propagation;
pub mod sampler;
pub mod span;
pub mod text;
pub mod tracer;
pub mod with_block;

use pyo3::prelude::*;

/// At import: spans' `with` slots, and new id seeds in a forked child.
pub fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    with_block::install(m.py())?;
    #[cfg(feature = "bench-hooks")]
    m.add_function(pyo3::wrap_pyfunction!(export::otlp::_otlp_encode_rate, m)?)?;
    crate::runtime::hooks::on_fork(crate::runtime::hooks::ForkHooks {
        before: || {},
        parent: || {},
        child: ids::reseed_after_fork,
    });
    Ok(())
}
