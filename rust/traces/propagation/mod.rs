//! Context propagation: W3C `traceparent`/`tracestate`, W3C Baggage, and B3 (single and multi
//! header), read from and written to Python carriers. Malformed input is ignored as the specs
//! say, never raised.

use parking_lot::RwLock;
use pyo3::prelude::*;

use crate::runtime::errors::Error;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::ids::{span_hex, trace_hex};
use super::span::{link_context, PySpanContext, SpanContext};

pub mod b3;
pub mod baggage;
#[cfg(test)]
mod properties;
pub mod tracecontext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    TraceContext,
    Baggage,
    B3,
    B3Multi,
}

impl Propagator {
    fn parse(name: &str) -> Option<Propagator> {
        Some(match name.trim() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "b3" => Propagator::B3,
            "b3multi" => Propagator::B3Multi,
            _ => return None,
        })
    }
}

/// None until `set_propagators` (then the default: tracecontext and baggage); `none` is empty.
static PROPAGATORS: RwLock<Option<Vec<Propagator>>> = RwLock::new(None);

fn propagators() -> Vec<Propagator> {
    propagators_iter().collect()
}

const DEFAULT_PROPAGATORS: [Propagator; 2] = [Propagator::TraceContext, Propagator::Baggage];

/// The configured propagators, without allocating.
fn propagators_iter() -> impl Iterator<Item = Propagator> {
    let configured = PROPAGATORS.read();
    let chosen: &[Propagator] = configured.as_deref().unwrap_or(&DEFAULT_PROPAGATORS);
    let mut list = [Propagator::Baggage; 4];
    let n = chosen.len().min(list.len());
    list[..n].copy_from_slice(&chosen[..n]);
    list.into_iter().take(n)
}

fn header_text(v: Bound<'_, PyAny>) -> Option<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.to_str().ok().map(str::to_owned);
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes()).ok().map(str::to_owned);
    }
    // A list of values (OpenTelemetry getters; one per header line): combined with commas, as
    // HTTP combines repeated lines. Two `traceparent` lines are then invalid, as they should be.
    if !(v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>()) {
        return None;
    }
    let lines: Vec<String> = v
        .try_iter()
        .ok()?
        .map(|line| line.and_then(|l| l.extract::<String>()))
        .collect::<PyResult<_>>()
        .ok()?;
    (!lines.is_empty()).then(|| lines.join(","))
}

fn header(carrier: &Bound<'_, PyAny>, name: &str) -> Option<String> {
    let Ok(dict) = carrier.cast::<PyDict>() else {
        return carrier.get_item(name).ok().and_then(header_text);
    };
    // A dict lookup that misses raises nothing, unlike `get_item` on a mapping.
    if let Ok(Some(value)) = dict.get_item(name) {
        return header_text(value);
    }
    // Header names are case-insensitive: look through the carrier when the exact key is absent.
    dict.iter().find_map(|(k, v)| {
        let key = k.cast::<PyString>().ok()?;
        key.to_str()
            .ok()?
            .eq_ignore_ascii_case(name)
            .then(|| header_text(v))
            .flatten()
    })
}

/// The remote span context that `header` (lower-case header name to value) finds, by the
/// configured propagators in order.
pub fn extract_with(header: impl Fn(&str) -> Option<String>) -> Option<SpanContext> {
    for propagator in propagators_iter() {
        let found = match propagator {
            Propagator::TraceContext => header("traceparent")
                .and_then(|tp| tracecontext::parse_traceparent(&tp))
                .map(|mut ctx| {
                    ctx.trace_state = header("tracestate")
                        .map(|ts| tracecontext::parse_tracestate(&ts))
                        .unwrap_or_default();
                    ctx
                }),
            Propagator::B3 => header("b3").and_then(|v| b3::parse_single(&v)),
            Propagator::B3Multi => b3::parse_multi(&header),
            Propagator::Baggage => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The remote span context in `carrier` (a mapping of headers), or None.
#[pyfunction]
pub fn extract(carrier: &Bound<'_, PyAny>) -> Option<PySpanContext> {
    extract_with(|name| header(carrier, name)).map(|inner| PySpanContext { inner })
}

/// The W3C baggage in `carrier`, as a dict (empty when there is none or it is invalid).
#[pyfunction]
pub fn extract_baggage<'py>(py: Python<'py>, carrier: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    if propagators().contains(&Propagator::Baggage) {
        if let Some(value) = header(carrier, "baggage") {
            for (k, v) in baggage::parse(&value) {
                dict.set_item(k, v)?;
            }
        }
    }
    Ok(dict)
}

/// Writes the headers for `span` (a Span or SpanContext) and `baggage` into `carrier`.
#[pyfunction]
#[pyo3(signature = (carrier, span=None, baggage=None))]
pub fn inject(
    carrier: &Bound<'_, PyAny>,
    span: Option<&Bound<'_, PyAny>>,
    baggage: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let ctx = span
        .filter(|s| !s.is_none())
        .map(link_context)
        .transpose()?
        .filter(|c| c.is_valid());
    for propagator in propagators() {
        match (propagator, &ctx) {
            (Propagator::TraceContext, Some(c)) => {
                carrier.set_item("traceparent", tracecontext::format_traceparent(c))?;
                if !c.trace_state.is_empty() {
                    carrier.set_item("tracestate", &c.trace_state)?;
                }
            }
            (Propagator::B3, Some(c)) => carrier.set_item("b3", b3::format_single(c))?,
            (Propagator::B3Multi, Some(c)) => {
                carrier.set_item("x-b3-traceid", trace_hex(c.trace_id))?;
                carrier.set_item("x-b3-spanid", span_hex(c.span_id))?;
                carrier.set_item("x-b3-sampled", if c.sampled() { "1" } else { "0" })?;
            }
            (Propagator::Baggage, _) => {
                if let Some(entries) = baggage.filter(|b| !b.is_empty()) {
                    let pairs = entries
                        .iter()
                        .map(|(k, v)| Ok((k.str()?.to_string(), v.str()?.to_string())))
                        .collect::<PyResult<Vec<_>>>()?;
                    if let Some(value) = baggage::format(pairs) {
                        carrier.set_item("baggage", value)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Chooses the propagators, by `OTEL_PROPAGATORS` names: tracecontext, baggage, b3, b3multi.
#[pyfunction]
pub fn set_propagators(names: Vec<String>) -> PyResult<()> {
    let mut parsed = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty() && n.trim() != "none") {
        let propagator = Propagator::parse(name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown propagator {name:?}: use tracecontext, baggage, b3 or b3multi"
            ))
        })?;
        if !parsed.contains(&propagator) {
            parsed.push(propagator);
        }
    }
    *PROPAGATORS.write() = Some(parsed);
    Ok(())
}
