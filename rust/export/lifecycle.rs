//! `ferrotel.flush()`, `ferrotel.shutdown()` and the fork hooks, over every export worker.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::worker;

fn timeout(seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, got {seconds}"
        ))
    })
}

/// Exports everything buffered so far; True when every pipeline finished within `timeout`.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn flush(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = self::timeout(timeout)?;
    Ok(py.detach(|| worker::flush_all(timeout)))
}

/// Flushes and stops every pipeline; later telemetry is dropped and counted.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn shutdown(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = self::timeout(timeout)?;
    Ok(py.detach(|| worker::shutdown_all(timeout)))
}

#[pyfunction]
pub fn _before_fork() {
    crate::middleware::ends::before_fork();
    worker::before_fork();
}

#[pyfunction]
pub fn _after_fork_in_parent() {
    worker::after_fork_in_parent();
    crate::middleware::ends::after_fork_in_parent();
}

#[pyfunction]
pub fn _after_fork_in_child() {
    crate::traces::ids::reseed_after_fork();
    worker::after_fork_in_child();
    crate::middleware::ends::after_fork_in_child();
}
