//! Counter: a monotonically increasing value, with an optional exemplar.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::created;
use super::declare::{declare_family, number};
use super::exposition::{Exemplar, FamilyDesc, Kind, Sample, SampleSink};
use super::family::{Core, Family};
use super::multiprocess::Layout;
use super::native::{metric_common_methods, NativeFamily};
use super::registry::RegistryArg;
use super::timer::ExceptionCounter;
use super::validate::{NameArg, TextArg};
use super::value::{unix_now, AtomicF64, SharedCell};
use crate::runtime::errors::{Error, Result};
use crate::runtime::selfmetrics;

pub struct CounterCore {
    value: AtomicF64,
    exemplar: Mutex<Option<Exemplar>>,
    /// Made, or last reset, at this Unix time.
    created: AtomicF64,
}

impl CounterCore {
    #[inline]
    pub fn inc(&self, amount: f64) {
        self.value.add(amount);
    }

    pub fn get(&self) -> f64 {
        self.value.get()
    }
}

impl Core for CounterCore {
    type Config = ();

    fn new(_: &()) -> Self {
        Self {
            value: AtomicF64::new(0.0),
            exemplar: Mutex::new(None),
            created: AtomicF64::new(unix_now()),
        }
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        let exemplar = self.exemplar.lock();
        let mut total = Sample::new("_total", &desc.labelnames, labels, self.value.get());
        total.exemplar = exemplar.as_ref();
        sink.sample(desc, &total);
        drop(exemplar);
        created::write(desc, labels, self.created.get(), sink);
    }

    fn layout(_: &()) -> Option<Layout> {
        Some(Layout::Counter)
    }

    fn cells(&self) -> Vec<&dyn SharedCell> {
        vec![&self.value]
    }
}

/// prometheus_client's `Counter`, recording in Rust.
#[pyclass(frozen, name = "Counter", module = "ferrotel._core")]
pub struct PyCounter {
    pub family: Arc<Family<CounterCore>>,
    pub child: Option<Arc<CounterCore>>,
}

metric_common_methods!(PyCounter, CounterCore, Counter);

#[pymethods]
impl PyCounter {
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
            Kind::Counter,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
            registry,
            &[],
            (),
            NativeFamily::Counter,
        )?;
        Ok(Self { family, child })
    }

    /// Adds `amount` (default 1); an exemplar dict links this increment to, say, a trace.
    #[pyo3(signature = (amount=None, exemplar=None))]
    fn inc(&self, amount: Option<&Bound<'_, PyAny>>, exemplar: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let core = self.cell()?;
        let amount = match amount {
            None => 1.0,
            Some(a) => number(a, &self.family.desc.name)?,
        };
        if amount.is_nan() {
            selfmetrics::record_drop("metrics", "nan_value");
            return Ok(());
        }
        if amount < 0.0 {
            return Err(Error::invalid(format!(
                "Counters can only be incremented by non-negative amounts. Counter {:?} got {amount}",
                self.family.desc.name
            ))
            .into());
        }
        if amount == f64::INFINITY {
            // An infinite total would stay infinite for the rest of the process.
            selfmetrics::record_drop("metrics", "non_finite_value");
            return Ok(());
        }
        core.inc(amount);
        if let Some(labels) = exemplar {
            *core.exemplar.lock() = Some(super::declare::exemplar(labels, amount)?);
        }
        Ok(())
    }

    /// Sets the counter back to zero and restarts its `_created`, as prometheus_client's `reset()`.
    fn reset(&self) -> PyResult<()> {
        let core = self.cell()?;
        core.value.set(0.0);
        core.created.set(unix_now());
        Ok(())
    }

    /// Counts exceptions of `exception` raised in a `with` block or a decorated function.
    #[pyo3(signature = (exception=None))]
    fn count_exceptions(slf: &Bound<'_, Self>, exception: Option<Bound<'_, PyAny>>) -> PyResult<ExceptionCounter> {
        let py = slf.py();
        let exception = match exception {
            Some(e) => e.unbind(),
            None => py.get_type::<pyo3::exceptions::PyException>().into_any().unbind(),
        };
        Ok(ExceptionCounter::new(
            slf.clone().into_any().unbind(),
            slf.get().cell_arc()?,
            exception,
        ))
    }
}
