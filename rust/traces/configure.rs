//! `configure_tracing`: builds and installs the pipeline from the Python layer's settings.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::runtime::errors::{self, Error};
use pyo3::types::{PyDict, PyString};

use super::attributes::{read_dict, SpanLimits};
use super::data::{Resource, SpanData};
use super::export::files::{ConsoleSpanExporterConfig, DiscardSpanExporterConfig, FileSpanExporterConfig};
use super::export::memory::InMemorySpanExporter;
use super::export::otlp::OtlpSpanExporterConfig;
use super::export::redacting::redacting;
use super::export::zipkin::ZipkinExporterConfig;
use super::pipeline::{self, Pipeline};
use super::sampler::Sampler;
use crate::runtime::seconds::positive as positive_seconds;
use crate::transport::redact::Redactor;
use crate::transport::worker::{BatchConfig, BatchWorker, ExporterFactory};

fn factory(exporter: &Bound<'_, PyAny>) -> errors::Result<Option<ExporterFactory<Arc<SpanData>>>> {
    if let Ok(e) = exporter.cast::<OtlpSpanExporterConfig>() {
        return Ok(Some(e.get().factory()));
    }
    if let Ok(e) = exporter.cast::<ZipkinExporterConfig>() {
        return Ok(Some(e.get().factory()));
    }
    if let Ok(e) = exporter.cast::<FileSpanExporterConfig>() {
        return Ok(Some(e.get().factory()));
    }
    if let Ok(e) = exporter.cast::<ConsoleSpanExporterConfig>() {
        return Ok(Some(e.get().factory()));
    }
    if let Ok(e) = exporter.cast::<DiscardSpanExporterConfig>() {
        return Ok(Some(e.get().factory()));
    }
    if exporter.cast::<InMemorySpanExporter>().is_ok() {
        return Ok(None);
    }
    Err(Error::wrong_type(format!(
        "{} is not a ferrotel span exporter",
        exporter.repr()?
    )))
}

/// Installs a new tracing pipeline. The Python layer (`ferrotel.tracing.configure`) resolves
/// defaults and environment variables and passes the result here.
#[pyfunction]
#[pyo3(signature = (resource, sampler="parentbased_always_on", sampler_arg=None, exporters=Vec::new(), max_queue_size=2048, max_export_batch_size=512, schedule_delay=5.0, export_timeout=30.0, max_attributes=128, max_events=128, max_links=128, max_attribute_length=None, redact_keys=Vec::new(), redact_defaults=true, redact_values=Vec::new(), redact_patterns=Vec::new()))]
#[allow(clippy::too_many_arguments)]
pub fn configure_tracing(
    resource: &Bound<'_, PyDict>,
    sampler: &str,
    sampler_arg: Option<f64>,
    exporters: Vec<Bound<'_, PyAny>>,
    max_queue_size: usize,
    max_export_batch_size: usize,
    schedule_delay: f64,
    export_timeout: f64,
    max_attributes: usize,
    max_events: usize,
    max_links: usize,
    max_attribute_length: Option<usize>,
    redact_keys: Vec<String>,
    redact_defaults: bool,
    redact_values: Vec<String>,
    redact_patterns: Vec<(String, String)>,
) -> errors::Result<()> {
    if let Some(arg) = sampler_arg {
        if !(0.0..=1.0).contains(&arg) {
            return Err(Error::invalid(format!("sampling rate {arg} is not between 0 and 1")));
        }
    }
    let sampler = Sampler::from_name(sampler, sampler_arg)
        .ok_or_else(|| Error::invalid(format!("unknown sampler {sampler:?}")))?;
    if max_export_batch_size == 0 || max_queue_size == 0 {
        return Err(Error::invalid(
            "max_queue_size and max_export_batch_size must be at least 1",
        ));
    }
    if max_export_batch_size > max_queue_size {
        return Err(Error::invalid(format!(
            "max_export_batch_size {max_export_batch_size} is larger than max_queue_size {max_queue_size}"
        )));
    }
    let batch = BatchConfig {
        max_queue: max_queue_size,
        max_batch: max_export_batch_size,
        delay: positive_seconds(schedule_delay, "schedule_delay")?,
        export_timeout: positive_seconds(export_timeout, "export_timeout")?,
    };
    let limits = SpanLimits {
        max_attributes,
        max_events,
        max_links,
        max_attributes_per_event: max_attributes,
        max_value_length: max_attribute_length,
    };
    let mut attributes = Vec::new();
    for key in resource.keys() {
        if !key.is_instance_of::<PyString>() {
            return Err(Error::wrong_type(format!(
                "resource attribute name {} is not a str",
                key.repr()?
            )));
        }
    }
    read_dict(resource, &mut attributes, usize::MAX, &SpanLimits::default());
    let redactor = Arc::new(Redactor::new(
        &redact_keys,
        redact_defaults,
        &redact_values,
        &redact_patterns,
    )?);
    let redactor = (!redactor.is_noop()).then_some(redactor);
    let mut workers = Vec::new();
    let mut stores = Vec::new();
    for exporter in &exporters {
        match factory(exporter)? {
            Some(factory) => {
                // What is discarded has nothing to redact.
                let discards = exporter.cast::<DiscardSpanExporterConfig>().is_ok();
                let factory = match &redactor {
                    Some(r) if !discards => redacting(factory, r.clone()),
                    _ => factory,
                };
                workers.push(BatchWorker::start("traces", batch.clone(), factory));
            }
            None => stores.push(
                exporter
                    .cast::<InMemorySpanExporter>()
                    .map_err(PyErr::from)?
                    .get()
                    .store
                    .clone(),
            ),
        }
    }
    // Requests that ended under the old pipeline are exported by it, before it is replaced.
    crate::runtime::hooks::settle();
    pipeline::install(Pipeline {
        resource: Arc::new(Resource { attributes }),
        redactor,
        sampler,
        limits,
        workers,
        stores,
    });
    Ok(())
}

#[pyfunction]
pub fn _tracing_configured() -> bool {
    pipeline::is_configured()
}
