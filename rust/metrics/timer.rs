//! The context managers behind `time()`, `count_exceptions()` and `track_inprogress()`. Entering
//! and leaving run in Rust; used as decorators they hand the function to `ferrotel._decorate`
//! once, at decoration time, which enters a fresh context manager per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use super::counter::CounterCore;
use super::gauge::{GaugeCore, PyGauge};
use super::histogram::{HistogramCore, PyHistogram};
use super::summary::{PySummary, SummaryCore};
use crate::runtime::errors::{Error, Result};

fn monotonic_ns() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn decorate<'py>(
    py: Python<'py>,
    metric: &Py<PyAny>,
    method: &str,
    args: Bound<'py, PyTuple>,
    func: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("ferrotel._decorate")?
        .call_method1("wrap", (metric.bind(py), method, args, func))
}

pub enum TimerTarget {
    Histogram(Arc<HistogramCore>),
    Summary(Arc<SummaryCore>),
    Gauge(Arc<GaugeCore>),
}

impl TimerTarget {
    fn record(&self, seconds: f64) {
        match self {
            TimerTarget::Histogram(h) => {
                h.observe(seconds);
            }
            TimerTarget::Summary(s) => s.observe(seconds),
            TimerTarget::Gauge(g) => g.set(seconds),
        }
    }

    /// The child that `labels(...)` on the metric returns, as a target.
    fn of_child(child: &Bound<'_, PyAny>) -> Option<TimerTarget> {
        if let Ok(h) = child.cast::<PyHistogram>() {
            return h.get().child.clone().map(TimerTarget::Histogram);
        }
        if let Ok(s) = child.cast::<PySummary>() {
            return s.get().child.clone().map(TimerTarget::Summary);
        }
        if let Ok(g) = child.cast::<PyGauge>() {
            return g.get().child.clone().map(TimerTarget::Gauge);
        }
        None
    }
}

/// Bits of the `duration` not yet measured.
const NO_DURATION: u64 = u64::MAX;

/// `with histogram.time() as t:` ... `t.duration`: the seconds measured, once the block is left.
#[pyclass(frozen, module = "ferrotel._core")]
pub struct Timer {
    metric: Py<PyAny>,
    /// The child recorded into; a labelled parent's timer gets it from `labels()`.
    target: OnceLock<TimerTarget>,
    start: AtomicU64,
    duration: AtomicU64,
}

impl Timer {
    pub fn new(metric: Py<PyAny>, target: Option<TimerTarget>) -> Self {
        let cell = OnceLock::new();
        if let Some(target) = target {
            let _ = cell.set(target);
        }
        Self {
            metric,
            target: cell,
            start: AtomicU64::new(0),
            duration: AtomicU64::new(NO_DURATION),
        }
    }
}

#[pymethods]
impl Timer {
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf.start.store(monotonic_ns(), Ordering::Relaxed);
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> Result<bool> {
        let elapsed = monotonic_ns().saturating_sub(self.start.load(Ordering::Relaxed)) as f64 / 1e9;
        self.duration.store(elapsed.to_bits(), Ordering::Relaxed);
        match self.target.get() {
            Some(target) => target.record(elapsed),
            None => {
                let kind = self.metric.bind(py).getattr("_type")?;
                return Err(Error::invalid(format!(
                    "{kind} metric is missing label values: call .labels(...) on the timer or the metric"
                )));
            }
        }
        Ok(false)
    }

    /// The seconds the block took, or None before it ends.
    #[getter]
    fn duration(&self) -> Option<f64> {
        let bits = self.duration.load(Ordering::Relaxed);
        (bits != NO_DURATION).then(|| f64::from_bits(bits))
    }

    /// Records into `metric.labels(...)`, for a timer of a labelled metric started before the
    /// label values were known.
    #[pyo3(signature = (*values, **kwvalues))]
    fn labels(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyTuple>,
        kwvalues: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> Result<()> {
        let child = self.metric.bind(py).call_method("labels", values, kwvalues)?;
        if let Some(target) = TimerTarget::of_child(&child) {
            if self.target.set(target).is_err() {
                return Err(Error::invalid("this timer already records into a child"));
            }
        }
        Ok(())
    }

    fn __call__<'py>(&self, py: Python<'py>, func: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        decorate(py, &self.metric, "time", PyTuple::empty(py), func)
    }
}

#[pyclass(frozen, module = "ferrotel._core")]
pub struct ExceptionCounter {
    metric: Py<PyAny>,
    counter: Arc<CounterCore>,
    exception: Py<PyAny>,
}

impl ExceptionCounter {
    pub fn new(metric: Py<PyAny>, counter: Arc<CounterCore>, exception: Py<PyAny>) -> Self {
        Self {
            metric,
            counter,
            exception,
        }
    }
}

#[pymethods]
impl ExceptionCounter {
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if let Some(exc_type) = exc_type {
            let wanted = self.exception.bind(py);
            if exc_type.is_subclass(wanted)? {
                self.counter.inc(1.0);
            }
        }
        Ok(false)
    }

    fn __call__<'py>(&self, py: Python<'py>, func: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let args = PyTuple::new(py, [self.exception.bind(py)])?;
        decorate(py, &self.metric, "count_exceptions", args, func)
    }
}

#[pyclass(frozen, module = "ferrotel._core")]
pub struct InprogressTracker {
    metric: Py<PyAny>,
    gauge: Arc<GaugeCore>,
}

impl InprogressTracker {
    pub fn new(metric: Py<PyAny>, gauge: Arc<GaugeCore>) -> Self {
        Self { metric, gauge }
    }
}

#[pymethods]
impl InprogressTracker {
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf.gauge.add(1.0);
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.gauge.add(-1.0);
        false
    }

    fn __call__<'py>(&self, py: Python<'py>, func: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        decorate(py, &self.metric, "track_inprogress", PyTuple::empty(py), func)
    }
}
