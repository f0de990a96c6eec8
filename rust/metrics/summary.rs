//! Summary: count and sum of observations (prometheus_client's summary has no quantiles).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::created;
use super::declare::{declare_family, number};
use super::exposition::{FamilyDesc, Kind, Sample, SampleSink};
use super::family::{Core, Family};
use super::histogram::observation_dropped;
use super::multiprocess::Layout;
use super::native::{metric_common_methods, NativeFamily};
use super::registry::RegistryArg;
use super::timer::{Timer, TimerTarget};
use super::validate::{NameArg, TextArg};
use super::value::{unix_now, AtomicCount, AtomicF64, SharedCell};
use crate::runtime::errors::Result;

pub struct SummaryCore {
    count: AtomicCount,
    sum: AtomicF64,
    created: AtomicF64,
}

impl SummaryCore {
    #[inline]
    pub fn observe(&self, value: f64) {
        self.count.add(1);
        self.sum.add(value);
    }
}

impl Core for SummaryCore {
    type Config = ();

    fn new(_: &()) -> Self {
        Self {
            count: AtomicCount::default(),
            sum: AtomicF64::new(0.0),
            created: AtomicF64::new(unix_now()),
        }
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        let names = &desc.labelnames;
        sink.sample(desc, &Sample::new("_count", names, labels, self.count.get() as f64));
        sink.sample(desc, &Sample::new("_sum", names, labels, self.sum.get()));
        created::write(desc, labels, self.created.get(), sink);
    }

    fn layout(_: &()) -> Option<Layout> {
        Some(Layout::Summary)
    }

    fn cells(&self) -> Vec<&dyn SharedCell> {
        vec![&self.count, &self.sum]
    }
}

/// prometheus_client's `Summary`, recording in Rust.
#[pyclass(frozen, name = "Summary", module = "ferrotel._core")]
pub struct PySummary {
    pub family: Arc<Family<SummaryCore>>,
    pub child: Option<Arc<SummaryCore>>,
}

metric_common_methods!(PySummary, SummaryCore, Summary);

#[pymethods]
impl PySummary {
    #[new]
    #[pyo3(signature = (name, documentation=TextArg::default(), labelnames=None, namespace=NameArg::default(), subsystem=NameArg::default(), unit=NameArg::default(), registry=RegistryArg::Default, _labelvalues=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: NameArg,
        documentation: TextArg,
        labelnames: Option<&Bound<'_, PyAny>>,
        namespace: NameArg,
        subsystem: NameArg,
        unit: NameArg,
        registry: RegistryArg,
        _labelvalues: Option<&Bound<'_, PyTuple>>,
    ) -> Result<Self> {
        let (family, child) = declare_family(
            py,
            Kind::Summary,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
            registry,
            &["quantile"],
            (),
            NativeFamily::Summary,
        )?;
        Ok(Self { family, child })
    }

    fn observe(&self, amount: &Bound<'_, PyAny>) -> PyResult<()> {
        let core = self.cell()?;
        let value = number(amount, &self.family.desc.name)?;
        if observation_dropped(value, false) {
            return Ok(());
        }
        core.observe(value);
        Ok(())
    }

    /// Observes the duration in seconds of a block or decorated function.
    fn time(slf: &Bound<'_, Self>) -> PyResult<Timer> {
        Ok(Timer::new(
            slf.clone().into_any().unbind(),
            slf.get().child.clone().map(TimerTarget::Summary),
        ))
    }
}
