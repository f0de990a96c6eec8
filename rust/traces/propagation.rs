//! Context propagation: W3C `traceparent`/`tracestate`, W3C Baggage, and B3 (single and multi
//! header). Malformed input is ignored as the specs say, never raised.

use parking_lot::RwLock;
use pyo3::prelude::*;

use crate::runtime::errors::Error;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::ids::{parse_b3_trace_id, parse_span_id, parse_trace_id, span_hex, trace_hex};
use super::span::{link_context, PySpanContext, SpanContext};

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

const MAX_TRACESTATE_MEMBERS: usize = 32;
const MAX_TRACESTATE_LEN: usize = 512;
const MAX_BAGGAGE_LEN: usize = 8192;
const MAX_BAGGAGE_MEMBERS: usize = 180;

pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = value.trim();
    let mut parts = value.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2
        || !version
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    match version {
        "ff" => return None,
        // Version 00 has exactly four fields; later versions may append more.
        "00" if parts.next().is_some() => return None,
        _ => {}
    }
    if flags.len() != 2 || !flags.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    Some(SpanContext {
        trace_id: parse_trace_id(trace)?,
        span_id: parse_span_id(span)?,
        flags: u8::from_str_radix(flags, 16).ok()? & 1,
        trace_state: String::new(),
        remote: true,
    })
}

/// W3C keys: `lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`, or `tenant@system` where
/// the tenant may also start with a digit and the system must start with a letter.
fn valid_tracestate_key(key: &str) -> bool {
    let ok = |s: &str, max: usize, digit_first: bool| {
        let first = s.as_bytes().first().copied().unwrap_or(b'A');
        s.len() <= max
            && (first.is_ascii_lowercase() || (digit_first && first.is_ascii_digit()))
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.split_once('@') {
        Some((tenant, system)) => ok(tenant, 241, true) && ok(system, 14, false),
        None => ok(key, 256, false),
    }
}

fn valid_tracestate_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

/// A `tracestate` header, or None when it is invalid (the whole header is then dropped).
pub fn parse_tracestate(value: &str) -> Option<String> {
    if value.len() > MAX_TRACESTATE_LEN {
        return None;
    }
    let mut members = Vec::new();
    for member in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (key, val) = member.split_once('=')?;
        if !valid_tracestate_key(key) || !valid_tracestate_value(val) || members.iter().any(|(k, _)| *k == key) {
            return None;
        }
        members.push((key, val));
    }
    if members.len() > MAX_TRACESTATE_MEMBERS {
        return None;
    }
    Some(
        members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn b3_sampled(value: &str) -> Option<bool> {
    match value {
        "1" | "d" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

pub fn parse_b3_single(value: &str) -> Option<SpanContext> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    if parts.len() < 2 || parts.len() > 4 {
        return None;
    }
    let sampled = match parts.get(2) {
        Some(s) => b3_sampled(s)?,
        None => true,
    };
    if let Some(parent) = parts.get(3) {
        parse_span_id(parent)?;
    }
    Some(SpanContext {
        trace_id: parse_b3_trace_id(parts[0])?,
        span_id: parse_span_id(parts[1])?,
        flags: sampled as u8,
        trace_state: String::new(),
        remote: true,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `baggage` header as key-value pairs; an oversize header is ignored whole, bad members skipped.
pub fn parse_baggage(value: &str) -> Vec<(String, String)> {
    if value.len() > MAX_BAGGAGE_LEN {
        return Vec::new();
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for member in value.split(',').take(MAX_BAGGAGE_MEMBERS) {
        let entry = member.split(';').next().unwrap_or("");
        let Some((key, val)) = entry.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"(),/:;<=>?@[\\]{}\"".contains(&b))
        {
            continue;
        }
        if let (Some(k), Some(v)) = (percent_decode(key), percent_decode(val.trim())) {
            pairs.retain(|(existing, _)| *existing != k);
            pairs.push((k, v));
        }
    }
    pairs
}

fn header_text(v: Bound<'_, PyAny>) -> Option<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.to_str().ok().map(str::to_owned);
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes()).ok().map(str::to_owned);
    }
    // A list of values (OpenTelemetry getters): the first one.
    v.get_item(0).ok().and_then(|first| first.extract::<String>().ok())
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
                .and_then(|tp| parse_traceparent(&tp))
                .map(|mut ctx| {
                    ctx.trace_state = header("tracestate")
                        .and_then(|ts| parse_tracestate(&ts))
                        .unwrap_or_default();
                    ctx
                }),
            Propagator::B3 => header("b3").and_then(|v| parse_b3_single(&v)),
            Propagator::B3Multi => (|| {
                let sampled = match header("x-b3-flags").as_deref() {
                    Some("1") => true,
                    _ => match header("x-b3-sampled") {
                        Some(s) => b3_sampled(&s)?,
                        None => true,
                    },
                };
                Some(SpanContext {
                    trace_id: parse_b3_trace_id(&header("x-b3-traceid")?)?,
                    span_id: parse_span_id(&header("x-b3-spanid")?)?,
                    flags: sampled as u8,
                    trace_state: String::new(),
                    remote: true,
                })
            })(),
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
            for (k, v) in parse_baggage(&value) {
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
                let flags = c.flags & 1;
                carrier.set_item(
                    "traceparent",
                    format!("00-{}-{}-{flags:02x}", trace_hex(c.trace_id), span_hex(c.span_id)),
                )?;
                if !c.trace_state.is_empty() {
                    carrier.set_item("tracestate", &c.trace_state)?;
                }
            }
            (Propagator::B3, Some(c)) => {
                carrier.set_item(
                    "b3",
                    format!("{}-{}-{}", trace_hex(c.trace_id), span_hex(c.span_id), c.flags & 1),
                )?;
            }
            (Propagator::B3Multi, Some(c)) => {
                carrier.set_item("x-b3-traceid", trace_hex(c.trace_id))?;
                carrier.set_item("x-b3-spanid", span_hex(c.span_id))?;
                carrier.set_item("x-b3-sampled", if c.sampled() { "1" } else { "0" })?;
            }
            (Propagator::Baggage, _) => {
                if let Some(baggage) = baggage.filter(|b| !b.is_empty()) {
                    let mut members = Vec::new();
                    for (k, v) in baggage.iter() {
                        members.push(format!(
                            "{}={}",
                            percent_encode(&k.str()?.to_string()),
                            percent_encode(&v.str()?.to_string())
                        ));
                    }
                    let value = members.join(",");
                    if value.len() <= MAX_BAGGAGE_LEN {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_rules() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = parse_traceparent(ok).unwrap();
        assert!(ctx.sampled() && ctx.remote);
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").is_some());
    }

    #[test]
    fn tracestate_and_baggage() {
        assert_eq!(
            parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(parse_tracestate("Bad=1"), None);
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tracestate(&many.join(",")), None);
        assert_eq!(
            parse_baggage("user=alice%20b;prop=1, plan=pro"),
            vec![("user".into(), "alice b".into()), ("plan".into(), "pro".into())]
        );
        assert!(parse_baggage(&"a".repeat(9000)).is_empty());
    }
}
