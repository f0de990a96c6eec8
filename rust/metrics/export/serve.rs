//! What the `/metrics` server does with connections, within limits that keep one client, or a
//! few hundred, from disabling it: HTTP/1.1 by hyper on the server's one IO thread, rendering on
//! at most `RENDER_THREADS` threads (a Python collector attaches to Python there, never on the IO
//! thread), and an accept loop that outlives every accept error.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::query::requested_names;
use super::sockets::{Connection, Listener, Sockets};
use crate::metrics::registry::RegistryCore;
use crate::runtime::selfmetrics::record_drop;

/// Open connections at most, or half the process's open-file limit when that is lower: the
/// server never takes more than half the application's file descriptors. At the cap the server
/// stops accepting until a connection ends; new ones wait in the listen backlog meanwhile.
const MAX_CONNECTIONS: usize = 1000;
const MIN_CONNECTIONS: usize = 16;
/// A request head (request line and headers) must arrive whole within this, counted from when
/// the server starts waiting for it: a new connection or an idle keep-alive one that sends
/// nothing, or sends a byte now and then, is closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that makes no progress for this long (the client stopped reading) ends the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head over this many bytes, or with more headers, is answered 431 and closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 100;
/// Scrapes render concurrently on at most this many threads; more wait their turn.
pub const RENDER_THREADS: usize = 2;
/// After an accept error (no file descriptor left, a connection reset before it was accepted),
/// the loop waits this long, doubling up to `LAST_BACKOFF`, and tries again.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const LAST_BACKOFF: Duration = Duration::from_secs(1);

type Body = Full<Bytes>;

/// `MAX_CONNECTIONS`, or half the soft `RLIMIT_NOFILE` when that is lower (`MIN_CONNECTIONS` at
/// least).
pub fn connection_cap() -> usize {
    (open_file_limit() / 2).clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The soft `RLIMIT_NOFILE`.
#[cfg(unix)]
fn open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

/// Windows has no per-process limit on sockets to keep under.
#[cfg(not(unix))]
fn open_file_limit() -> usize {
    usize::MAX
}

fn http1() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // The read buffer's bound too: an unfinished head cannot grow past it.
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
}

/// Accepts until the task is aborted (`MetricsServer.shutdown()`), serving each connection in a
/// task of its own.
pub async fn accept_loop(listener: Listener, core: Arc<RegistryCore>, sockets: Arc<Sockets>, cap: usize) {
    let open = Arc::new(Semaphore::new(cap));
    let http = http1();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Ok(permit) = open.clone().acquire_owned().await else {
            return;
        };
        match listener.socket.accept().await {
            Ok((stream, _)) => {
                backoff = FIRST_BACKOFF;
                let io = TokioIo::new(Connection::new(&sockets, stream, WRITE_TIMEOUT));
                let core = core.clone();
                let service = hyper::service::service_fn(move |request| scrape(core.clone(), request));
                let connection = http.serve_connection(io, service);
                tokio::spawn(async move {
                    // A connection's end, timed out or cut by its client, is its own business.
                    let _ = connection.await;
                    drop(permit);
                });
            }
            Err(err) => {
                accept_failed(&err);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LAST_BACKOFF);
            }
        }
    }
}

/// Counted, and told once per process on stderr (written so that a closed stderr cannot panic
/// the loop).
fn accept_failed(err: &std::io::Error) {
    record_drop("metrics", "accept_failed");
    static TOLD: AtomicBool = AtomicBool::new(false);
    if !TOLD.swap(true, Ordering::Relaxed) {
        let _ = writeln!(
            std::io::stderr(),
            "ferrotel: the /metrics server could not accept a connection ({err}); it retries, waiting \
             up to {LAST_BACKOFF:?}. Further failures are counted in \
             ferrotel_dropped_total{{signal=\"metrics\",reason=\"accept_failed\"}}."
        );
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<String> {
    let value = request.headers().get(name)?;
    value.to_str().ok().map(str::to_owned)
}

/// GET or HEAD on `/metrics` or `/`; 405 for other methods, 404 for other paths. `?name[]=...`
/// restricts the exposition to those samples, as in prometheus_client and ferrotel's WSGI and
/// ASGI apps.
async fn scrape(core: Arc<RegistryCore>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
    }
    if !matches!(request.uri().path(), "/metrics" | "/") {
        return Ok(text(StatusCode::NOT_FOUND, "not found: the metrics are at /metrics\n"));
    }
    let accept = header(&request, ACCEPT);
    let encoding = header(&request, ACCEPT_ENCODING);
    let names = requested_names(request.uri().query());
    let rendered =
        tokio::task::spawn_blocking(move || render(&core, accept.as_deref(), encoding.as_deref(), names.as_ref()))
            .await;
    Ok(rendered.unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "collecting metrics failed\n")))
}

/// On a render thread: the exposition, or a 500 saying why (formatting a Python error attaches
/// to Python, so that is done here too).
fn render(
    core: &RegistryCore,
    accept: Option<&str>,
    encoding: Option<&str>,
    names: Option<&HashSet<String>>,
) -> Response<Body> {
    match core.exposition_of(accept, encoding, names) {
        Ok(exposition) => {
            let mut response = Response::new(Full::new(Bytes::from(exposition.body)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(exposition.content_type));
            if exposition.gzip {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collecting metrics failed: {err}\n"),
        ),
    }
}
