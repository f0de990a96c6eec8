//! The context managers behind `time()`, `count_exceptions()` and `track_inprogress()`. Entering
//! and leaving run in Rust; used as decorators they hand the function to `ferrotel._decorate`
//! once, at decoration time, which enters a fresh context manager per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use super::counter::CounterCore;
use super::gauge::GaugeCore;
use super::histogram::HistogramCore;
use super::summary::SummaryCore;

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

#[pyclass(frozen, module = "ferrotel._core")]
pub struct Timer {
    metric: Py<PyAny>,
    target: TimerTarget,
    start: AtomicU64,
}

impl Timer {
    pub fn new(metric: Py<PyAny>, target: TimerTarget) -> Self {
        Self {
            metric,
            target,
            start: AtomicU64::new(0),
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
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        let elapsed = monotonic_ns().saturating_sub(self.start.load(Ordering::Relaxed)) as f64 / 1e9;
        match &self.target {
            TimerTarget::Histogram(h) => {
                h.observe(elapsed);
            }
            TimerTarget::Summary(s) => s.observe(elapsed),
            TimerTarget::Gauge(g) => g.set(elapsed),
        }
        false
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
