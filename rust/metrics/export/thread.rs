//! The `/metrics` server's thread as `threading.Thread` users know it: the second item of
//! `server, thread = start_http_server(port)`, which in prometheus_client (0.20 and later) unpacks
//! into a WSGI server and its daemon thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use pyo3::prelude::*;

/// How long `join()` waits, detached, between looks at Python's signals (Ctrl-C ends a join).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Whether the server thread has ended: set when its runtime is gone and its sockets closed.
#[derive(Default)]
pub struct Lifetime {
    ended: Mutex<bool>,
    changed: Condvar,
}

impl Lifetime {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn ended(&self) -> bool {
        *self.ended.lock()
    }

    /// Waits at most `limit` for the end; whether it came.
    fn wait(&self, limit: Duration) -> bool {
        let mut ended = self.ended.lock();
        if !*ended {
            let _ = self.changed.wait_for(&mut ended, limit);
        }
        *ended
    }
}

/// Held by the server thread: its drop, on return or panic, marks the end.
pub struct Ends(pub Arc<Lifetime>);

impl Drop for Ends {
    fn drop(&mut self) {
        *self.0.ended.lock() = true;
        self.0.changed.notify_all();
    }
}

#[pyclass(frozen, name = "MetricsServerThread", module = "ferrotel._core")]
pub struct MetricsServerThread {
    lifetime: Arc<Lifetime>,
    /// The process that started the server; in a forked child the thread is not there.
    pid: u32,
    #[pyo3(get)]
    name: &'static str,
}

impl MetricsServerThread {
    pub fn new(lifetime: Arc<Lifetime>, name: &'static str) -> Self {
        Self {
            lifetime,
            pid: std::process::id(),
            name,
        }
    }

    fn alive(&self) -> bool {
        std::process::id() == self.pid && !self.lifetime.ended()
    }
}

#[pymethods]
impl MetricsServerThread {
    /// Waits until the server thread ends (after the server's `shutdown()`), or `timeout` seconds
    /// pass; `is_alive()` then tells which. As `threading.Thread.join`.
    #[pyo3(signature = (timeout=None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        if std::process::id() != self.pid {
            return Ok(());
        }
        // A timeout too large for the clock waits as None does; a negative one is 0.
        let deadline = timeout.and_then(|t| {
            let wait = Duration::try_from_secs_f64(t.max(0.0)).ok()?;
            Instant::now().checked_add(wait)
        });
        loop {
            let slice = deadline.map_or(SIGNAL_CHECK, |d| {
                d.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK)
            });
            if py.detach(|| self.lifetime.wait(slice)) {
                return Ok(());
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
        }
    }

    fn is_alive(&self) -> bool {
        self.alive()
    }

    /// Always true: the server never keeps the interpreter from exiting.
    #[getter]
    fn daemon(&self) -> bool {
        true
    }

    fn __repr__(&self) -> String {
        let state = if self.alive() { "started" } else { "stopped" };
        format!("<MetricsServerThread({}, {state} daemon)>", self.name)
    }
}
