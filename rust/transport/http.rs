//! The exporters' HTTP: one blocking client (rustls), gzip, and retries as ARCHITECTURE.md says:
//! 429/502/503/504 and transport errors are retried with exponential backoff and jitter, honouring
//! `Retry-After`; any other answer is final; nothing outlives the caller's deadline.

use std::time::{Duration, Instant, SystemTime};

use super::error::ExportError;

#[derive(Clone, Debug)]
pub struct HttpTarget {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer, with its body (Elasticsearch reports per-item failures there).
    Sent(Vec<u8>),
    /// An answer that retrying cannot change (400, 413, ...).
    Rejected(u16),
    /// Retries or time ran out.
    Failed(String),
}

/// An outcome as an exporter reports it: success, or an error that names the endpoint.
pub fn outcome_result(outcome: Outcome, url: &str) -> Result<(), ExportError> {
    match outcome {
        Outcome::Sent(_) => Ok(()),
        Outcome::Rejected(status) => Err(ExportError::Rejected {
            url: url.to_string(),
            status,
        }),
        Outcome::Failed(reason) => Err(ExportError::Unreachable {
            url: url.to_string(),
            reason,
        }),
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("ferrotel/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

pub fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

pub fn jittered(backoff: Duration) -> Duration {
    // Full jitter between half and the whole backoff, so clients do not retry in step.
    backoff.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Delete,
}

/// POSTs `body` to `target`, retrying as the policy allows until `deadline`.
pub fn post(
    agent: &ureq::Agent,
    target: &HttpTarget,
    content_type: &str,
    body: &[u8],
    policy: &RetryPolicy,
    deadline: Instant,
) -> Outcome {
    send(agent, Method::Post, target, content_type, body, policy, deadline)
}

/// Sends `body` with `method` to `target`, retrying as the policy allows until `deadline`.
pub fn send(
    agent: &ureq::Agent,
    method: Method,
    target: &HttpTarget,
    content_type: &str,
    body: &[u8],
    policy: &RetryPolicy,
    deadline: Instant,
) -> Outcome {
    let compressed;
    let body = if target.gzip {
        compressed = super::gzip::compress(body);
        &compressed[..]
    } else {
        body
    };
    let mut backoff = policy.initial_backoff;
    let mut last = String::from("no attempt made before the deadline");
    for attempt in 1..=policy.max_attempts.max(1) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let builder = match method {
            Method::Post => agent.post(&target.url),
            Method::Put => agent.put(&target.url),
            Method::Delete => agent.delete(&target.url).force_send_body(),
        };
        let mut request = builder
            .config()
            .timeout_global(Some(target.timeout.min(remaining)))
            .build()
            .header("Content-Type", content_type);
        if target.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &target.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let wait = match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Outcome::Sent(response.body_mut().read_to_vec().unwrap_or_default());
                }
                if !is_retryable(status) {
                    return Outcome::Rejected(status);
                }
                last = format!("HTTP {status}");
                let hinted = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after);
                hinted.unwrap_or_else(|| jittered(backoff))
            }
            Err(err) => {
                last = err.to_string();
                jittered(backoff)
            }
        };
        if attempt == policy.max_attempts {
            break;
        }
        if Instant::now() + wait >= deadline {
            last = format!("{last}; the next retry would pass the deadline");
            break;
        }
        std::thread::sleep(wait);
        backoff = (backoff * 2).min(policy.max_backoff);
    }
    Outcome::Failed(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn retryable_statuses() {
        assert!([429, 502, 503, 504].iter().all(|s| is_retryable(*s)));
        assert!(![400, 401, 404, 413, 500].iter().any(|s| is_retryable(*s)));
    }
}
