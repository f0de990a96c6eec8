//! Pushing a registry to a Prometheus Pushgateway: once (`push_to_gateway`), or every interval
//! from a Rust thread with a last push at shutdown (`PushGateway`).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use crossbeam_channel::{bounded, unbounded, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::metrics::exposition::Format;
use crate::metrics::registry::{registry_core, PyRegistry, RegistryCore};
use crate::runtime::errors::{self, Error};
use crate::runtime::lifecycle::{self, Lifecycle};
use crate::runtime::seconds::positive as positive_seconds;
use crate::runtime::selfmetrics;
use crate::transport::error::ExportError;
use crate::transport::http::{self, HttpTarget, Method, RetryPolicy};

/// `{gateway}/metrics/job/{job}/{label}/{value}...`, labels sorted, base64url for values that
/// need it (empty, or holding `/` or a space), as prometheus_client builds it.
fn group_url(gateway: &str, job: &str, grouping_key: &[(String, String)]) -> errors::Result<String> {
    let gateway = if gateway.contains("://") {
        gateway.to_string()
    } else {
        format!("http://{gateway}")
    };
    if !(gateway.starts_with("http://") || gateway.starts_with("https://")) {
        return Err(Error::invalid(format!(
            "gateway {gateway:?} is not an http:// or https:// URL"
        )));
    }
    let segment = |name: &str, value: &str| {
        if value.is_empty() || value.contains('/') || value.contains(' ') {
            let encoded = base64::engine::general_purpose::URL_SAFE.encode(value);
            format!(
                "{name}@base64/{}",
                if encoded.is_empty() { "=".to_string() } else { encoded }
            )
        } else {
            format!("{name}/{}", percent_encode(value))
        }
    };
    let mut url = format!("{}/metrics/{}", gateway.trim_end_matches('/'), segment("job", job));
    let mut grouping_key: Vec<&(String, String)> = grouping_key.iter().collect();
    grouping_key.sort();
    for (name, value) in grouping_key {
        crate::metrics::validate::label_name(name, &[])?;
        url.push('/');
        url.push_str(&segment(name, value));
    }
    Ok(url)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn parse_method(method: &str) -> errors::Result<Method> {
    match method.to_ascii_uppercase().as_str() {
        "PUT" => Ok(Method::Put),
        "POST" => Ok(Method::Post),
        "DELETE" => Ok(Method::Delete),
        other => Err(Error::invalid(format!(
            "push method {other:?} is not PUT, POST or DELETE"
        ))),
    }
}

struct Push {
    agent: ureq::Agent,
    target: HttpTarget,
    method: Method,
    registry: Arc<RegistryCore>,
}

impl Push {
    fn send(&self) -> Result<(), ExportError> {
        let body = if self.method == Method::Delete {
            Vec::new()
        } else {
            self.registry
                .render(Format::Text004)
                .map_err(|e| ExportError::Source(e.to_string()))?
        };
        let deadline = Instant::now() + self.target.timeout;
        let content_type = Format::Text004.content_type();
        http::outcome_result(
            http::send(
                &self.agent,
                self.method,
                &self.target,
                content_type,
                &body,
                &RetryPolicy::default(),
                deadline,
            ),
            &self.target.url,
        )
    }

    fn send_counted(&self) -> bool {
        match self.send() {
            Ok(()) => true,
            Err(reason) => {
                selfmetrics::record_export_failure("pushgateway", "metrics", 1, &reason);
                false
            }
        }
    }
}

/// A push's timeout: `None` waits as long as it takes (a year), as prometheus_client's does.
fn push_timeout(timeout: Option<f64>) -> errors::Result<Duration> {
    match timeout {
        Some(seconds) => positive_seconds(seconds, "timeout"),
        None => Ok(Duration::from_secs(365 * 24 * 3600)),
    }
}

#[allow(clippy::too_many_arguments)]
fn make_push(
    py: Python<'_>,
    gateway: &str,
    job: &str,
    grouping_key: Option<Vec<(String, String)>>,
    method: &str,
    registry: Option<&Bound<'_, PyRegistry>>,
    timeout: Option<f64>,
    gzip: bool,
) -> errors::Result<Push> {
    let url = group_url(gateway, job, &grouping_key.unwrap_or_default())?;
    Ok(Push {
        agent: http::agent(),
        target: HttpTarget {
            url,
            headers: Vec::new(),
            gzip,
            timeout: push_timeout(timeout)?,
        },
        method: parse_method(method)?,
        registry: registry_core(py, registry),
    })
}

/// One push (PUT replaces the group, POST adds to it, DELETE removes it); raises OSError when
/// the gateway cannot be reached or refuses, as prometheus_client does.
#[pyfunction]
#[pyo3(signature = (gateway, job, registry=None, grouping_key=None, method="PUT", timeout=Some(30.0), compression=None))]
#[allow(clippy::too_many_arguments)]
pub fn _push_to_gateway(
    py: Python<'_>,
    gateway: &str,
    job: &str,
    registry: Option<&Bound<'_, PyRegistry>>,
    grouping_key: Option<Vec<(String, String)>>,
    method: &str,
    timeout: Option<f64>,
    compression: Option<&str>,
) -> errors::Result<()> {
    let gzip = match compression {
        None => false,
        Some(c) if c.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "Unsupported compression type: {other} (ferrotel's own push sends gzip)"
            )))
        }
    };
    let push = make_push(py, gateway, job, grouping_key, method, registry, timeout, gzip)?;
    py.detach(|| push.send()).map_err(|e| Error::Os(e.to_string()))
}

/// The URL a push of `job` and `grouping_key` goes to, for pushes through a custom `handler=`.
#[pyfunction]
#[pyo3(signature = (gateway, job, grouping_key=None))]
pub fn _gateway_url(gateway: &str, job: &str, grouping_key: Option<Vec<(String, String)>>) -> errors::Result<String> {
    group_url(gateway, job, &grouping_key.unwrap_or_default())
}

enum Control {
    Now(Sender<bool>),
    Stop(Sender<bool>),
}

struct PusherState {
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

struct PusherCore {
    push: Arc<Push>,
    interval: Duration,
    state: Mutex<Option<PusherState>>,
}

impl PusherCore {
    fn spawn(&self) -> PusherState {
        let (control, control_rx) = unbounded();
        let push = self.push.clone();
        let interval = self.interval;
        let thread = std::thread::Builder::new()
            .name("ferrotel-pushgateway".into())
            .spawn(move || loop {
                match control_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        push.send_counted();
                    }
                    Ok(Control::Now(done)) => {
                        let _ = done.send(push.send_counted());
                    }
                    Ok(Control::Stop(done)) => {
                        let _ = done.send(push.send_counted());
                        return;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .ok();
        PusherState { control, thread }
    }

    fn ask(&self, deadline: Instant, stop: bool) -> bool {
        let (done, done_rx) = bounded(1);
        let sent = {
            let state = self.state.lock();
            let message = if stop { Control::Stop(done) } else { Control::Now(done) };
            state.as_ref().is_some_and(|s| s.control.send(message).is_ok())
        };
        sent && done_rx.recv_deadline(deadline).unwrap_or(false)
    }
}

impl Lifecycle for PusherCore {
    fn flush(&self, deadline: Instant) -> bool {
        self.ask(deadline, false)
    }

    fn shutdown(&self, deadline: Instant) -> bool {
        let pushed = self.ask(deadline, true);
        if let Some(mut state) = self.state.lock().take() {
            if pushed {
                if let Some(thread) = state.thread.take() {
                    let _ = thread.join();
                }
            }
        }
        pushed
    }

    fn restart_in_child(&self) {
        let mut state = self.state.lock();
        if state.is_some() {
            let fresh = self.spawn();
            if let Some(old) = state.replace(fresh) {
                std::mem::forget(old);
            }
        }
    }
}

/// Pushes a registry every `interval` seconds from a Rust thread, and once more at
/// `stop()` or `ferrotel.shutdown()` (and so at exit).
#[pyclass(frozen, name = "PushGateway", module = "ferrotel._core")]
pub struct PyPushGateway {
    core: Arc<PusherCore>,
    #[pyo3(get)]
    url: String,
}

#[pymethods]
impl PyPushGateway {
    #[new]
    #[pyo3(signature = (url, job_name, interval=15.0, grouping_key=None, registry=None, method="PUT", timeout=10.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &str,
        job_name: &str,
        interval: f64,
        grouping_key: Option<Vec<(String, String)>>,
        registry: Option<&Bound<'_, PyRegistry>>,
        method: &str,
        timeout: f64,
    ) -> errors::Result<Self> {
        if job_name.is_empty() {
            return Err(Error::invalid("job_name must not be empty"));
        }
        if method.eq_ignore_ascii_case("DELETE") {
            return Err(Error::invalid("a periodic push must be PUT or POST, not DELETE"));
        }
        let push = make_push(py, url, job_name, grouping_key, method, registry, Some(timeout), false)?;
        let interval = positive_seconds(interval, "interval")?;
        let target = push.target.url.clone();
        let core = Arc::new(PusherCore {
            push: Arc::new(push),
            interval,
            state: Mutex::new(None),
        });
        Ok(Self { core, url: target })
    }

    /// Starts pushing every interval; returns self.
    fn start(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        {
            let mut state = slf.core.state.lock();
            if state.is_none() {
                *state = Some(slf.core.spawn());
            }
        }
        lifecycle::register(slf.core.clone());
        slf
    }

    /// Pushes now; True when the gateway accepted it within `timeout` seconds.
    #[pyo3(signature = (timeout=10.0))]
    fn push(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let deadline = Instant::now() + positive_seconds(timeout, "timeout")?;
        let core = self.core.clone();
        Ok(py.detach(move || core.flush(deadline)))
    }

    /// Pushes one last time and stops the thread.
    #[pyo3(signature = (timeout=10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let deadline = Instant::now() + positive_seconds(timeout, "timeout")?;
        let core = self.core.clone();
        Ok(py.detach(move || core.shutdown(deadline)))
    }

    fn __repr__(&self) -> String {
        format!("<PushGateway {}>", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_prometheus_client_builds_them() {
        let key = vec![
            ("instance".to_string(), "a/b".to_string()),
            ("zone".to_string(), "eu 1".to_string()),
        ];
        assert_eq!(
            group_url("127.0.0.1:9091", "batch", &key).unwrap(),
            "http://127.0.0.1:9091/metrics/job/batch/instance@base64/YS9i/zone@base64/ZXUgMQ=="
        );
        assert_eq!(
            group_url("http://gw/", "j", &[("e".into(), String::new())]).unwrap(),
            "http://gw/metrics/job/j/e@base64/="
        );
    }
}
