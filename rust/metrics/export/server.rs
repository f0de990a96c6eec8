//! The `/metrics` HTTP server: a Rust thread that renders native metrics without the GIL, so a
//! scrape never waits on, or stalls, the application's Python threads.

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::metrics::registry::{registry_core, PyRegistry, RegistryCore};
use crate::runtime::errors::{Error, Result};

#[pyclass(frozen, name = "MetricsServer", module = "ferrotel._core")]
pub struct MetricsServer {
    /// Taken at shutdown, so the listening socket closes when the serving thread has ended.
    server: Mutex<Option<Arc<tiny_http::Server>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    #[pyo3(get)]
    port: u16,
    #[pyo3(get)]
    addr: String,
}

fn header<'r>(request: &'r tiny_http::Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn respond(core: &RegistryCore, request: tiny_http::Request) {
    let path = request.url().split('?').next().unwrap_or("");
    let response = if !matches!(request.method(), tiny_http::Method::Get | tiny_http::Method::Head) {
        tiny_http::Response::from_data(b"method not allowed\n".to_vec()).with_status_code(405)
    } else if path != "/metrics" && path != "/" {
        tiny_http::Response::from_data(b"not found: the metrics are at /metrics\n".to_vec()).with_status_code(404)
    } else {
        match core.exposition(header(&request, "Accept"), header(&request, "Accept-Encoding")) {
            Ok(exposition) => {
                let mut response = tiny_http::Response::from_data(exposition.body);
                if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", exposition.content_type) {
                    response.add_header(h);
                }
                if exposition.gzip {
                    if let Ok(h) = tiny_http::Header::from_bytes("Content-Encoding", "gzip") {
                        response.add_header(h);
                    }
                }
                response
            }
            Err(err) => tiny_http::Response::from_data(format!("collecting metrics failed: {err}\n").into_bytes())
                .with_status_code(500),
        }
    };
    // A client that went away mid-answer is not the application's problem.
    let _ = request.respond(response);
}

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
    let server =
        tiny_http::Server::http((addr, port)).map_err(|e| Error::os(format!("cannot listen on {addr}:{port}"), e))?;
    let port = server.server_addr().to_ip().map(|a| a.port()).unwrap_or(port);
    let server = Arc::new(server);
    let serving = server.clone();
    let thread = std::thread::Builder::new()
        .name("ferrotel-metrics-http".into())
        .spawn(move || {
            for request in serving.incoming_requests() {
                respond(&core, request);
            }
        })
        .map_err(|e| Error::os("cannot start the metrics server thread", e))?;
    Ok(MetricsServer {
        server: Mutex::new(Some(server)),
        thread: Mutex::new(Some(thread)),
        port,
        addr: addr.to_string(),
    })
}

#[pymethods]
impl MetricsServer {
    /// Stops serving and waits for the server thread to end.
    fn shutdown(&self, py: Python<'_>) {
        let server = self.server.lock().take();
        let thread = self.thread.lock().take();
        if let Some(server) = &server {
            server.unblock();
        }
        if let Some(thread) = thread {
            py.detach(|| {
                let _ = thread.join();
            });
        }
        drop(server);
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
