//! Log documents to Elasticsearch's `_bulk` API as NDJSON, in batches bounded by count, bytes
//! and time. A whole-request 429/502/503/504 is retried by `http::post`; items the answer marks
//! 429 (or 502/503/504) are sent again, alone, with backoff; any other item error is final.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use pyo3::prelude::*;
use serde_json::Value as Json;

use crate::logs::format::{write_json_str, FormatSpec, JsonFormat};
use crate::logs::pipeline::LogWorker;
use crate::logs::record::LogRecord;
use crate::runtime::errors::{self, Error};
use crate::runtime::seconds::positive as positive_seconds;
use crate::runtime::selfmetrics;
use crate::transport::bytesize::byte_size;
use crate::transport::error::ExportError;
use crate::transport::http::{self, HttpTarget, Outcome, RetryPolicy};
use crate::transport::url::http_url;
use crate::transport::worker::{BatchConfig, BatchWorker, Exporter};

const NAME: &str = "elasticsearch";

/// `ElasticsearchSink(node, index)`: the guide's Elasticsearch output.
#[pyclass(subclass, frozen, name = "ElasticsearchSink", module = "ferrotel._core")]
pub struct ElasticsearchSink {
    node: String,
    index: String,
    op_type: &'static str,
    headers: Vec<(String, String)>,
    max_batch: usize,
    max_bytes: usize,
    flush_interval: Duration,
    max_queue: usize,
    timeout: Duration,
    gzip: bool,
}

fn auth_header(
    username: Option<&str>,
    password: Option<&str>,
    api_key: Option<&str>,
) -> errors::Result<Option<(String, String)>> {
    let value = match (username, password, api_key) {
        (None, None, None) => return Ok(None),
        (Some(user), Some(password), None) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {encoded}")
        }
        (None, None, Some(key)) => format!("ApiKey {key}"),
        (_, _, Some(_)) => return Err(Error::invalid("give either api_key or username and password, not both")),
        _ => return Err(Error::invalid("basic auth needs both username and password")),
    };
    Ok(Some(("Authorization".to_string(), value)))
}

#[pymethods]
impl ElasticsearchSink {
    #[new]
    #[pyo3(signature = (
        node=None, index="logs-ferrotel-default", *, username=None, password=None, api_key=None,
        headers=None, op_type="create", max_batch=500, max_bytes=None, flush_interval=1.0,
        max_queue=10_000, timeout=10.0, gzip=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        node: Option<String>,
        index: &str,
        username: Option<&str>,
        password: Option<&str>,
        api_key: Option<&str>,
        headers: Option<HashMap<String, String>>,
        op_type: &str,
        max_batch: usize,
        max_bytes: Option<&Bound<'_, PyAny>>,
        flush_interval: f64,
        max_queue: usize,
        timeout: f64,
        gzip: bool,
    ) -> errors::Result<Self> {
        // ELASTICSEARCH_URL is read by the Python layer (`ferrotel._env`), which passes it here.
        let node = node.ok_or_else(|| Error::invalid("no Elasticsearch node: pass node= or set ELASTICSEARCH_URL"))?;
        let node = http_url(&node)?;
        if index.is_empty() {
            return Err(Error::invalid("index must not be empty"));
        }
        let op_type = match op_type {
            "create" => "create",
            "index" => "index",
            _ => {
                return Err(Error::invalid(format!(
                    "op_type must be \"create\" (needed by data streams) or \"index\", not {op_type:?}"
                )))
            }
        };
        if max_batch == 0 || max_queue == 0 {
            return Err(Error::invalid("max_batch and max_queue must be at least 1"));
        }
        let max_bytes = match max_bytes {
            Some(size) => byte_size(size, "max_bytes")? as usize,
            None => 5 << 20,
        };
        let mut headers: Vec<(String, String)> = headers.unwrap_or_default().into_iter().collect();
        headers.extend(auth_header(username, password, api_key)?);
        Ok(Self {
            node: node.trim_end_matches('/').to_string(),
            index: index.to_string(),
            op_type,
            headers,
            max_batch,
            max_bytes,
            flush_interval: positive_seconds(flush_interval, "flush_interval")?,
            max_queue,
            timeout: positive_seconds(timeout, "timeout")?,
            gzip,
        })
    }

    #[getter]
    fn node(&self) -> &str {
        &self.node
    }

    #[getter]
    fn index(&self) -> &str {
        &self.index
    }

    fn __repr__(&self) -> String {
        format!("ElasticsearchSink({:?}, {:?})", self.node, self.index)
    }
}

impl ElasticsearchSink {
    pub fn start(&self, spec: &FormatSpec) -> LogWorker {
        let mut action = Vec::new();
        action.extend_from_slice(format!("{{\"{}\":{{\"_index\":", self.op_type).as_bytes());
        write_json_str(&mut action, &self.index);
        action.extend_from_slice(b"}}\n");
        let target = HttpTarget {
            url: format!("{}/_bulk", self.node),
            headers: self.headers.clone(),
            gzip: self.gzip,
            timeout: self.timeout,
        };
        let (spec, max_bytes) = (spec.clone(), self.max_bytes);
        let config = BatchConfig {
            max_queue: self.max_queue,
            max_batch: self.max_batch,
            delay: self.flush_interval,
            export_timeout: self.timeout * 3,
        };
        BatchWorker::start(
            "logs",
            config,
            Arc::new(move || {
                Box::new(BulkExporter {
                    agent: http::agent(),
                    target: target.clone(),
                    action: action.clone(),
                    json: spec.json(),
                    max_bytes,
                    policy: RetryPolicy::default(),
                })
            }),
        )
    }
}

struct BulkExporter {
    agent: ureq::Agent,
    target: HttpTarget,
    /// `{"create":{"_index":"…"}}\n`, the same for every document.
    action: Vec<u8>,
    json: JsonFormat,
    max_bytes: usize,
    policy: RetryPolicy,
}

/// What a `_bulk` answer says about each item sent.
#[derive(Debug, Default, PartialEq)]
struct ItemResults {
    /// Positions (in the request) to send again.
    retry: Vec<usize>,
    rejected: usize,
    first_error: Option<String>,
}

fn item_results(body: &[u8], sent: usize) -> ItemResults {
    let mut results = ItemResults::default();
    // An answer that cannot be read was still a 2xx: its items are taken as stored.
    let Ok(answer) = serde_json::from_slice::<Json>(body) else {
        return results;
    };
    if answer.get("errors").and_then(Json::as_bool) != Some(true) {
        return results;
    }
    let items = answer
        .get("items")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (position, item) in items.iter().take(sent).enumerate() {
        let Some(result) = item.as_object().and_then(|op| op.values().next()) else {
            continue;
        };
        let status = result.get("status").and_then(Json::as_u64).unwrap_or(200) as u16;
        if (200..300).contains(&status) {
            continue;
        }
        if http::is_retryable(status) {
            results.retry.push(position);
        } else {
            results.rejected += 1;
            results.first_error.get_or_insert_with(|| {
                let reason = result.get("error").map(|e| e.to_string()).unwrap_or_default();
                format!("item status {status}: {reason}")
            });
        }
    }
    results
}

impl BulkExporter {
    /// Sends `docs` (ranges of `lines`, one action and one document each) until every one is
    /// stored, rejected, or out of retries or time; losses are counted here.
    fn send(&self, lines: &[u8], mut docs: Vec<Range<usize>>, deadline: Instant) {
        let mut backoff = self.policy.initial_backoff;
        for attempt in 1..=self.policy.max_attempts {
            let body: Vec<u8> = docs.iter().flat_map(|r| &lines[r.clone()]).copied().collect();
            let outcome = http::post(
                &self.agent,
                &self.target,
                "application/x-ndjson",
                &body,
                &self.policy,
                deadline,
            );
            let answer = match outcome {
                Outcome::Sent(answer) => answer,
                failed => {
                    let error = http::outcome_result(failed, &self.target.url).err();
                    let reason = error.as_ref().map_or(String::new(), ExportError::to_string);
                    return selfmetrics::record_export_failure(NAME, "logs", docs.len(), &reason);
                }
            };
            let results = item_results(&answer, docs.len());
            if results.rejected > 0 {
                let reason = results.first_error.unwrap_or_default();
                selfmetrics::record_export_failure(NAME, "logs", results.rejected, &reason);
            }
            docs = results.retry.iter().map(|&i| docs[i].clone()).collect();
            if docs.is_empty() {
                return;
            }
            let wait = http::jittered(backoff);
            if attempt == self.policy.max_attempts || Instant::now() + wait >= deadline {
                break;
            }
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
        selfmetrics::record_export_failure(NAME, "logs", docs.len(), &"items still rejected with 429 after retries");
    }
}

impl Exporter<Arc<LogRecord>> for BulkExporter {
    fn name(&self) -> &str {
        NAME
    }

    fn export(&mut self, batch: &[Arc<LogRecord>], deadline: Instant) -> Result<(), ExportError> {
        let mut lines = Vec::with_capacity(batch.len() * 512);
        let mut docs = Vec::with_capacity(batch.len());
        for record in batch {
            let start = lines.len();
            lines.extend_from_slice(&self.action);
            self.json.write(&mut lines, record);
            lines.push(b'\n');
            docs.push(start..lines.len());
        }
        // One request per `max_bytes` of documents (a larger document goes alone).
        let mut chunk: Vec<Range<usize>> = Vec::new();
        let mut chunk_bytes = 0;
        for doc in docs {
            if !chunk.is_empty() && chunk_bytes + doc.len() > self.max_bytes {
                self.send(&lines, std::mem::take(&mut chunk), deadline);
                chunk_bytes = 0;
            }
            chunk_bytes += doc.len();
            chunk.push(doc);
        }
        if !chunk.is_empty() {
            self.send(&lines, chunk, deadline);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_answers() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}},
            {"create":{"status":503}}]}"#;
        let results = item_results(body, 4);
        assert_eq!(results.retry, vec![1, 3]);
        assert_eq!(results.rejected, 1);
        assert!(results.first_error.unwrap().contains("mapper_parsing_exception"));
        assert_eq!(
            item_results(br#"{"errors":false,"items":[]}"#, 2),
            ItemResults::default()
        );
    }

    #[test]
    fn auth_headers() {
        let basic = auth_header(Some("elastic"), Some("changeme"), None).unwrap().unwrap();
        assert_eq!(basic.1, "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        let key = auth_header(None, None, Some("abc==")).unwrap().unwrap();
        assert_eq!(key.1, "ApiKey abc==");
    }
}
