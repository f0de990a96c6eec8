//! Every background worker under one lifecycle: `ferrotel.flush()`, `ferrotel.shutdown()`,
//! and the fork sequence (`os.register_at_fork` calls the three `_…fork…` functions). Upper
//! layers' settle and fork hooks (see `hooks`) run first. The fork code is plain Rust and builds
//! everywhere; only Unix calls it: Windows has no fork, and `ferrotel/__init__.py` registers the
//! hooks only where Python has `os.register_at_fork`.

use std::cell::RefCell;
use std::io::{StderrLock, StdoutLock};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pyo3::prelude::*;

use super::{hooks, seconds, selfmetrics};

/// What flush, shutdown and fork do to one background worker.
pub trait Lifecycle: Send + Sync {
    fn flush(&self, deadline: Instant) -> bool;
    fn shutdown(&self, deadline: Instant) -> bool;
    /// In a forked child: start afresh, leaving the parent's buffered items to the parent.
    fn restart_in_child(&self);
}

static WORKERS: Mutex<Vec<Weak<dyn Lifecycle>>> = Mutex::new(Vec::new());

/// Puts a background thread under `ferrotel.flush()`, `ferrotel.shutdown()` and the fork hooks.
pub fn register(lifecycle: Arc<dyn Lifecycle>) {
    let mut workers = WORKERS.lock();
    workers.retain(|w| w.strong_count() > 0);
    workers.push(Arc::downgrade(&lifecycle));
}

fn live_workers() -> Vec<Arc<dyn Lifecycle>> {
    WORKERS.lock().iter().filter_map(Weak::upgrade).collect()
}

/// Flushes every worker; true when all finished before the deadline.
pub fn flush_all(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    // Work still queued upstream first: recording it feeds the workers.
    hooks::settle();
    // Every worker is asked, even after one has failed.
    live_workers()
        .iter()
        .map(|w| w.flush(deadline))
        .filter(|ok| !ok)
        .count()
        == 0
}

pub fn shutdown_all(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    hooks::settle();
    live_workers()
        .iter()
        .map(|w| w.shutdown(deadline))
        .filter(|ok| !ok)
        .count()
        == 0
}

/// Exports everything buffered so far; True when every pipeline finished within `timeout`.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn flush(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = seconds::non_negative(timeout, "timeout")?;
    Ok(py.detach(|| flush_all(timeout)))
}

/// Flushes and stops every pipeline; later telemetry is dropped and counted.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn shutdown(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = seconds::non_negative(timeout, "timeout")?;
    Ok(py.detach(|| shutdown_all(timeout)))
}

/// Upper layers settle and take their locks first; then the worker registry and ferrotel's own
/// counts are held from just before `fork()` until just after, so the child never inherits
/// them taken.
#[pyfunction]
pub fn _before_fork() {
    hooks::before_fork();
    std::mem::forget(WORKERS.lock());
    selfmetrics::before_fork();
    hold_std_streams();
}

#[pyfunction]
pub fn _after_fork_in_parent() {
    release_std_streams();
    selfmetrics::after_fork();
    unlock_workers();
    hooks::after_fork_in_parent();
}

#[pyfunction]
pub fn _after_fork_in_child() {
    release_std_streams();
    selfmetrics::after_fork();
    unlock_workers();
    for worker in live_workers() {
        worker.restart_in_child();
    }
    hooks::after_fork_in_child();
}

thread_local! {
    /// Rust's stdout and stderr locks, held by the forking thread across `fork()`.
    static STD_STREAMS: RefCell<Option<(StdoutLock<'static>, StderrLock<'static>)>> = const { RefCell::new(None) };
}

/// The console sinks' writer threads write under Rust's stdout and stderr locks: a child forked
/// while one held it would find it held by a thread it does not have, and its own writer would
/// wait for it forever. The forking thread holds both across the fork (waiting, at most, for
/// one batch to be written); in the child that thread is the same one, with the same thread id,
/// so it releases them there too.
fn hold_std_streams() {
    let held = (std::io::stdout().lock(), std::io::stderr().lock());
    STD_STREAMS.with(|s| *s.borrow_mut() = Some(held));
}

fn release_std_streams() {
    // `try_with`: at thread exit the slot may be gone, and then so are the guards.
    let _ = STD_STREAMS.try_with(|s| s.borrow_mut().take());
}

fn unlock_workers() {
    if WORKERS.is_locked() {
        // SAFETY: _before_fork() locked WORKERS in this thread and forgot the guard; this is the
        // matching unlock (in the child, the only thread, the same applies).
        unsafe { WORKERS.force_unlock() };
    }
}
