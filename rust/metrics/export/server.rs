//! The `/metrics` HTTP server: one background thread, `ferrotel-metrics`, running a
//! single-thread tokio runtime that serves HTTP/1.1 (hyper) within the limits in `serve`, and
//! renders native metrics without the GIL, so a scrape never waits on, or stalls, the
//! application's Python threads. Across `fork()` the server stays the parent's: the child closes
//! its copies of the server's sockets, and its `shutdown()` has nothing to stop.
//!
//! prometheus_client's `start_http_server` returns `(server, thread)`; ours returns the server,
//! which unpacks into itself and a thread-like handle, so both ways of using it hold.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyIterator, PyTuple};

use super::serve;
use super::sockets::{Listener, Sockets};
use super::thread::{Ends, Lifetime};
use crate::metrics::registry::{registry_core, PyRegistry};
use crate::runtime::errors::{Error, Result};
use crate::runtime::hooks::{on_fork, ForkHooks};

pub use super::thread::MetricsServerThread;

const THREAD_NAME: &str = "ferrotel-metrics";

/// How long `shutdown()` waits for a render still running (a slow Python collector).
const RENDER_WAIT: Duration = Duration::from_secs(5);

#[pyclass(frozen, name = "MetricsServer", module = "ferrotel._core")]
pub struct MetricsServer {
    /// Taken by `shutdown()`.
    running: Mutex<Option<Running>>,
    /// The process that started the server, the only one where its thread runs.
    pid: u32,
    #[pyo3(get)]
    port: u16,
    #[pyo3(get)]
    addr: String,
    /// The address bound, as a socket server's `server_address` gives it.
    local: std::net::SocketAddr,
    thread: Py<MetricsServerThread>,
}

struct Running {
    thread: JoinHandle<()>,
    accepting: tokio::task::AbortHandle,
}

/// Every server's socket table, for the fork hooks.
static SERVERS: Mutex<Vec<Weak<Sockets>>> = Mutex::new(Vec::new());

/// `start_http_server(port, addr="127.0.0.1", registry=REGISTRY)`: serves `/metrics` from a
/// Rust thread. Port 0 picks a free port; the server's `port` says which.
#[pyfunction]
#[pyo3(signature = (port, addr="127.0.0.1", registry=None))]
pub fn start_http_server(
    py: Python<'_>,
    port: u16,
    addr: &str,
    registry: Option<&Bound<'_, PyRegistry>>,
) -> Result<MetricsServer> {
    let core = registry_core(py, registry);
    let listener = std::net::TcpListener::bind((addr, port))
        .map_err(|e| Error::os(format!("cannot listen on {addr}:{port}"), e))?;
    let cannot_start = |e: std::io::Error| Error::os("cannot start the metrics server", e);
    let local = listener.local_addr().map_err(cannot_start)?;
    let port = local.port();
    let lifetime = Lifetime::new();
    let handle = Py::new(py, MetricsServerThread::new(lifetime.clone(), THREAD_NAME))?;
    listener.set_nonblocking(true).map_err(cannot_start)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(serve::RENDER_THREADS)
        .thread_name("ferrotel-metrics-render")
        .build()
        .map_err(cannot_start)?;
    let cap = serve::connection_cap();
    // One slot per permitted connection, and the listener's.
    let sockets = Sockets::new(cap + 1);
    let listener = {
        let _in_runtime = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(cannot_start)?
    };
    let listener = Listener::new(&sockets, listener);
    on_fork(ForkHooks {
        before: hold_servers,
        parent: release_servers,
        child: close_in_child,
    });
    {
        let mut servers = SERVERS.lock();
        servers.retain(|s| s.strong_count() > 0);
        servers.push(Arc::downgrade(&sockets));
    }
    let accepting = runtime.spawn(serve::accept_loop(listener, core, sockets, cap));
    let abort = accepting.abort_handle();
    let ends = Ends(lifetime);
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            // Ends when shutdown() aborts the accept loop; dropping the runtime's tasks then
            // closes the listener and every connection. Then `ends` marks the thread ended.
            let _ends = ends;
            let _ = runtime.block_on(accepting);
            runtime.shutdown_timeout(RENDER_WAIT);
        })
        .map_err(cannot_start)?;
    Ok(MetricsServer {
        running: Mutex::new(Some(Running {
            thread,
            accepting: abort,
        })),
        pid: std::process::id(),
        port,
        addr: addr.to_string(),
        local,
        thread: handle,
    })
}

impl MetricsServer {
    fn forked(&self) -> bool {
        std::process::id() != self.pid
    }
}

#[pymethods]
impl MetricsServer {
    /// Stops serving, closes the socket and waits for the server thread to end. In a forked
    /// child, does nothing: the thread is the parent's (and the child closed its socket copies).
    fn shutdown(&self, py: Python<'_>) {
        if self.forked() {
            return;
        }
        let running = self.running.lock().take();
        if let Some(running) = running {
            running.accepting.abort();
            py.detach(|| {
                let _ = running.thread.join();
            });
        }
    }

    /// As a socket server's: after `shutdown()`, which has closed the socket already.
    fn server_close(&self, py: Python<'_>) {
        self.shutdown(py);
    }

    /// `(host, port)`, or `(host, port, flowinfo, scope_id)` for IPv6, as bound.
    #[getter]
    fn server_address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let host = self.local.ip().to_string();
        match self.local {
            std::net::SocketAddr::V4(a) => (host, a.port()).into_pyobject(py),
            std::net::SocketAddr::V6(a) => (host, a.port(), a.flowinfo(), a.scope_id()).into_pyobject(py),
        }
    }

    #[getter]
    fn server_port(&self) -> u16 {
        self.port
    }

    /// The thread serving, as `threading.Thread` users know it.
    #[getter]
    fn thread(&self, py: Python<'_>) -> Py<MetricsServerThread> {
        self.thread.clone_ref(py)
    }

    /// `server, thread = start_http_server(port)`, as with prometheus_client.
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyIterator>> {
        let pair = PyTuple::new(slf.py(), [slf.as_any(), slf.get().thread.bind(slf.py()).as_any()])?;
        pair.try_iter()
    }

    fn __len__(&self) -> usize {
        2
    }

    fn __getitem__<'py>(slf: &Bound<'py, Self>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        match index {
            0 | -2 => Ok(slf.as_any().clone()),
            1 | -1 => Ok(slf.get().thread.bind(slf.py()).as_any().clone()),
            _ => Err(pyo3::exceptions::PyIndexError::new_err(
                "MetricsServer index out of range: it unpacks into (server, thread)",
            )),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.shutdown(py);
    }

    fn __repr__(&self) -> String {
        format!("<MetricsServer http://{}:{}/metrics>", self.addr, self.port)
    }
}

impl Drop for MetricsServer {
    /// Without `shutdown()` the server keeps serving (as prometheus_client's does). In a forked
    /// child the handles name the parent's thread and runtime: they are left untouched.
    fn drop(&mut self) {
        if self.forked() {
            std::mem::forget(self.running.get_mut().take());
        }
    }
}

/// Before `fork()`: no thread is then midway through `start_http_server`'s registration.
fn hold_servers() {
    std::mem::forget(SERVERS.lock());
}

fn release_servers() {
    if SERVERS.is_locked() {
        // SAFETY: hold_servers() locked it in the forking thread and forgot the guard; no other
        // thread can take it while held, so a held lock here is that one.
        unsafe { SERVERS.force_unlock() };
    }
}

/// In the child: the servers' threads are not there; their sockets' copies are closed, so the
/// port and the parent's connections close when the parent closes them.
fn close_in_child() {
    if SERVERS.is_locked() {
        // SAFETY: as in release_servers(); the child has no other thread.
        unsafe { SERVERS.force_unlock() };
    }
    for sockets in SERVERS.lock().iter().filter_map(Weak::upgrade) {
        sockets.close_in_child();
    }
}
