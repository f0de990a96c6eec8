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
use super::validate::{NameArg, TextArg};
use super::value::{unix_now, AtomicF64, SharedCell};
use crate::runtime::errors::{Error, Result};
use crate::runtime::selfmetrics;

#[derive(Default)]
pub struct GaugeConfig {
    has_function: AtomicBool,
    /// A failing `set_function` callback is logged once per gauge, then only counted.
    reported: AtomicBool,
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
    /// The `set_function` callback failed at this scrape: the sample is left out.
    failed: AtomicBool,
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

    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink) {
        if !self.failed.load(Ordering::Relaxed) {
            sink.sample(desc, &Sample::new("", &desc.labelnames, labels, self.value.get()));
        }
    }

    fn layout(config: &GaugeConfig) -> Option<Layout> {
        Some(Layout::Gauge(config.mode))
    }

    fn cells(&self) -> Vec<&dyn SharedCell> {
        vec![&self.value]
    }
}

/// Calls every `set_function` callable of the family; the caller is attached and holds no lock.
/// A callable that raises or returns a non-number fails only its own sample, for this scrape:
/// counted in `ferrotel_dropped_total{reason="set_function_failed"}` and logged once per gauge.
pub fn refresh_functions(py: Python<'_>, family: &Family<GaugeCore>) {
    for child in family.children() {
        let function = child.core.function.lock().as_ref().map(|f| f.clone_ref(py));
        let Some(function) = function else { continue };
        let read = function
            .bind(py)
            .call0()
            .map_err(Error::from)
            .and_then(|value| number(&value, &family.desc.name));
        match read {
            Ok(value) => {
                child.core.set(value);
                child.core.failed.store(false, Ordering::Relaxed);
            }
            Err(err) => {
                child.core.failed.store(true, Ordering::Relaxed);
                selfmetrics::record_drop("metrics", "set_function_failed");
                if !family.config.reported.swap(true, Ordering::Relaxed) {
                    report_failure(py, &family.desc.name, err);
                }
            }
        }
    }
}

/// One warning on the `ferrotel` logger.
fn report_failure(py: Python<'_>, gauge: &str, err: Error) {
    let message = format!(
        "ferrotel: the set_function callback of gauge {gauge:?} failed ({err}); its sample is left \
         out of the scrape. Further failures are counted in ferrotel_dropped_total."
    );
    let logged = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("ferrotel",)))
        .and_then(|logger| logger.call_method1("warning", (message,)));
    // A logging failure must not fail the scrape either.
    drop(logged);
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
    #[pyo3(signature = (name, documentation=TextArg::default(), labelnames=None, namespace=NameArg::default(), subsystem=NameArg::default(), unit=NameArg::default(), registry=RegistryArg::Default, _labelvalues=None, multiprocess_mode="all"))]
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
        multiprocess_mode: &str,
    ) -> Result<Self> {
        let mode = GaugeMode::parse(multiprocess_mode)?;
        let (family, child) = declare_family(
            py,
            Kind::Gauge,
            &name.0,
            &documentation.0,
            labelnames,
            &namespace.0,
            &subsystem.0,
            &unit.0,
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
            return Err(Error::wrong_type(format!(
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
            slf.get().child.clone().map(TimerTarget::Gauge),
        ))
    }
}
