//! `_created` series: when a counter, histogram or summary child was made (or last reset).
//! Switched off for every ferrotel family by `disable_created_metrics()` (which the Python
//! package calls at import under `PROMETHEUS_DISABLE_CREATED_SERIES=true`), and back on by
//! `enable_created_metrics()`, as in prometheus_client.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;

use super::exposition::{FamilyDesc, Sample, SampleSink};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Stops exporting `_created` series on counters, histograms and summaries.
#[pyfunction]
pub fn disable_created_metrics() {
    ENABLED.store(false, Ordering::Relaxed);
}

/// Exports `_created` series on counters, histograms and summaries again.
#[pyfunction]
pub fn enable_created_metrics() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Writes the `_created` sample of one child, unless switched off.
pub fn write(desc: &FamilyDesc, labels: &[String], created: f64, sink: &mut dyn SampleSink) {
    if ENABLED.load(Ordering::Relaxed) {
        sink.sample(desc, &Sample::new("_created", &desc.labelnames, labels, created));
    }
}
