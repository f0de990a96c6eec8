//! B3 (openzipkin/b3-propagation): the single `b3` header and the `X-B3-*` headers.

use super::tracecontext::trim_ows;
use crate::traces::ids::{parse_b3_trace_id, parse_span_id, span_hex, trace_hex};
use crate::traces::span::SpanContext;

/// The single header's sampling state: `1`, `0`, or `d` (debug, which implies sampled). Only
/// these: `true` and `false` belong to the old multi-header form.
fn single_sampled(value: &str) -> Option<bool> {
    match value {
        "1" | "d" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// `X-B3-Sampled`: `1` or `0`, and the `true`/`false` that tracers sent before the
/// specification, which it allows a receiver to accept.
pub fn multi_sampled(value: &str) -> Option<bool> {
    match trim_ows(value) {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn context(trace_id: &str, span_id: &str, sampled: bool) -> Option<SpanContext> {
    Some(SpanContext {
        trace_id: parse_b3_trace_id(trace_id)?,
        span_id: parse_span_id(span_id)?,
        flags: sampled as u8,
        trace_state: String::new(),
        remote: true,
    })
}

/// `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`. Without a sampling state the
/// receiver decides, and ferrotel samples the request as its caller would have.
pub fn parse_single(value: &str) -> Option<SpanContext> {
    let mut parts = trim_ows(value).split('-');
    let (trace, span) = (parts.next()?, parts.next()?);
    let sampled = match parts.next() {
        Some(s) => single_sampled(s)?,
        None => true,
    };
    if let Some(parent) = parts.next() {
        parse_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    context(trace, span, sampled)
}

/// The `X-B3-*` headers, read through `header` (lower-case name to value).
pub fn parse_multi(header: impl Fn(&str) -> Option<String>) -> Option<SpanContext> {
    let sampled = match header("x-b3-flags").as_deref().map(trim_ows) {
        Some("1") => true,
        _ => match header("x-b3-sampled") {
            Some(s) => multi_sampled(&s)?,
            None => true,
        },
    };
    context(
        trim_ows(&header("x-b3-traceid")?),
        trim_ows(&header("x-b3-spanid")?),
        sampled,
    )
}

pub fn format_single(ctx: &SpanContext) -> String {
    format!(
        "{}-{}-{}",
        trace_hex(ctx.trace_id),
        span_hex(ctx.span_id),
        u8::from(ctx.sampled())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";

    #[test]
    fn single_header_sampling_states() {
        assert!(parse_single(&format!("{ID}-1")).unwrap().sampled());
        assert!(parse_single(&format!("{ID}-d")).unwrap().sampled());
        assert!(!parse_single(&format!("{ID}-0")).unwrap().sampled());
        for bad in ["true", "false", "2", ""] {
            assert!(parse_single(&format!("{ID}-{bad}")).is_none(), "{bad}");
        }
        assert!(parse_single(&format!("{ID}-1-00f067aa0ba902b7-x")).is_none());
        assert!(parse_single(&format!("\u{a0}{ID}")).is_none());
        let ctx = parse_single(ID).unwrap();
        assert_eq!(format_single(&ctx), format!("{ID}-1"));
    }

    #[test]
    fn multi_header_accepts_the_old_booleans() {
        assert_eq!(multi_sampled("true"), Some(true));
        assert_eq!(multi_sampled("0"), Some(false));
        assert_eq!(multi_sampled("yes"), None);
    }
}
