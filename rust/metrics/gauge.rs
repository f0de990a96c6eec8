//! Gauge: a value that goes up and down, or is read from a Python function at scrape time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::declare::{declare_family, number};
use super::exposition::{FamilyDesc, Kind, Sample, SampleSink};
use super::family::{Core, Family};
use super::multiprocess::{GaugeMode, Layout};
use super::native::{metric_common_methods, NativeFamily};
use super::registry::RegistryArg;
use super::timer::{InprogressTracker, Timer, TimerTarget};
use super::value::{unix_now, AtomicF64, SharedCell};
use crate::runtime::errors::{Error, Result};

#[derive(Default)]
pub struct GaugeConfig {
    has_function: AtomicBool,
    mode: GaugeMode,
}

impl GaugeConfig {
    pub fn has_function(&self) -> bool {
        self.has_function.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct GaugeCore {
    value: AtomicF64,
    function: Mutex<Option<Py<PyAny>>>,
}

impl GaugeCore {
    #[inline]
    pub fn add(&self, amount: f64) {
        self.value.add(amount);
    }

    #[inline]
    pub fn set(&self, value: f64) {
        self.value.set(value);
    }
}

impl Core for GaugeCore {
    type Config = GaugeConfig;

    fn new(_: &GaugeConfig) -> Self {
        Self::default()
    }

    fn write(&self, desc: &FamilyDesc, labels: &[String], _created: f64, sink: &mut dyn SampleSink) {
        sink.sample(desc, &Sample::new("", &desc.labelnames, labels, self.value.get()));
    }

    fn layout(config: &GaugeConfig) -> Option<Layout> {
        Some(Layout::Gauge(config.mode))
    }

    fn cells(&self) -> Vec<&dyn SharedCell> {
        vec![&self.value]
    }
}

/// Calls every `set_function` callable of the family; the caller is attached and holds no lock.
pub fn refresh_functions(py: Python<'_>, family: &Family<GaugeCore>) -> PyResult<()> {
    for child in family.children() {
        let function = child.core.function.lock().as_ref().map(|f| f.clone_ref(py));
        if let Some(function) = function {
            let value = function.bind(py).call0()?;
            child.core.set(number(&value, &family.desc.name)?);
        }
    }
    Ok(())
}

/// prometheus_client's `Gauge`, recording in Rust.
#[pyclass(frozen, name = "Gauge", module = "ferrotel._core")]
pub struct PyGauge {
    pub family: Arc<Family<GaugeCore>>,
    pub child: Option<Arc<GaugeCore>>,
}

metric_common_methods!(PyGauge, GaugeCore, Gauge);

#[pymethods]
impl PyGauge {
    #[new]
    #[pyo3(signature = (name, documentation="", labelnames=None, namespace="", subsystem="", unit="", registry=RegistryArg::Default, _labelvalues=None, multiprocess_mode="all"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        documentation: &str,
        labelnames: Option<&Bound<'_, PyAny>>,
        namespace: &str,
        subsystem: &str,
        unit: &str,
        registry: RegistryArg,
        _labelvalues: Option<&Bound<'_, PyTuple>>,
        multiprocess_mode: &str,
    ) -> Result<Self> {
        let mode = GaugeMode::parse(multiprocess_mode)?;
        let (family, child) = declare_family(
            py,
            Kind::Gauge,
            name,
            documentation,
            labelnames,
            namespace,
            subsystem,
            unit,
            registry,
            &[],
            GaugeConfig {
                mode,
                ..GaugeConfig::default()
            },
            NativeFamily::Gauge,
        )?;
        Ok(Self { family, child })
    }

    #[pyo3(signature = (amount=None))]
    fn inc(&self, amount: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let core = self.cell()?;
        core.add(match amount {
            None => 1.0,
            Some(a) => number(a, &self.family.desc.name)?,
        });
        Ok(())
    }

    #[pyo3(signature = (amount=None))]
    fn dec(&self, amount: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let core = self.cell()?;
        core.add(-match amount {
            None => 1.0,
            Some(a) => number(a, &self.family.desc.name)?,
        });
        Ok(())
    }

    fn set(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let core = self.cell()?;
        core.set(number(value, &self.family.desc.name)?);
        Ok(())
    }

    fn set_to_current_time(&self) -> PyResult<()> {
        self.cell()?.set(unix_now());
        Ok(())
    }

    /// The gauge reads `f()` at every scrape instead of a stored value.
    fn set_function(&self, f: Bound<'_, PyAny>) -> Result<()> {
        if !f.is_callable() {
            return Err(Error::invalid(format!(
                "set_function needs a callable, got {}",
                f.repr()?
            )));
        }
        let core = self.cell()?;
        *core.function.lock() = Some(f.unbind());
        self.family.config.has_function.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Adds 1 while a block or decorated function runs.
    fn track_inprogress(slf: &Bound<'_, Self>) -> PyResult<InprogressTracker> {
        Ok(InprogressTracker::new(
            slf.clone().into_any().unbind(),
            slf.get().cell_arc()?,
        ))
    }

    /// Sets the gauge to the duration in seconds of a block or decorated function.
    fn time(slf: &Bound<'_, Self>) -> PyResult<Timer> {
        Ok(Timer::new(
            slf.clone().into_any().unbind(),
            TimerTarget::Gauge(slf.get().cell_arc()?),
        ))
    }
}
