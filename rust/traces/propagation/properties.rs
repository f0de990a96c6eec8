//! Property tests of the propagation parsers: no input makes them panic, what ferrotel writes
//! reads back the same, and what they keep of any input is itself valid and stable.

use proptest::prelude::*;

use super::tracecontext::{format_traceparent, parse_traceparent, parse_tracestate};
use super::{b3, baggage};
use crate::traces::span::SpanContext;

fn context(trace_id: u128, span_id: u64, flags: u8) -> SpanContext {
    SpanContext {
        trace_id,
        span_id,
        flags,
        trace_state: String::new(),
        remote: true,
    }
}

/// Header-like text: mostly the characters the grammars care about, sometimes anything.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-fA-F@=,;: \t%*/_-]{0,80}", ".{0,80}", "[ -~]{0,600}",]
}

/// A valid `tracestate` member.
fn member() -> impl Strategy<Value = String> {
    (
        "[a-z0-9][a-z0-9_*/@-]{0,20}",
        "[!-+\\--<>-~][ -+\\--<>-~]{0,30}[!-+\\--<>-~]",
    )
        .prop_map(|(k, v)| format!("{k}={v}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(text in header_text()) {
        let _ = parse_traceparent(&text);
        let _ = parse_tracestate(&text);
        let _ = baggage::parse(&text);
        let _ = b3::parse_single(&text);
        let _ = b3::parse_multi(|_| Some(text.clone()));
    }

    #[test]
    fn traceparent_round_trips(trace_id in 1u128.., span_id in 1u64.., flags: u8, tail in "(-[a-z0-9]{1,8}){0,2}") {
        let written = format_traceparent(&context(trace_id, span_id, flags));
        let read = parse_traceparent(&written).unwrap();
        prop_assert_eq!((read.trace_id, read.span_id, read.flags), (trace_id, span_id, flags & 3));
        // A later version with more fields is read by position; version 00 is exact.
        let later = format!("01{}{tail}", &written[2..]);
        prop_assert!(parse_traceparent(&later).is_some());
        prop_assert_eq!(parse_traceparent(&format!("{written}{tail}")).is_some(), tail.is_empty());
    }

    #[test]
    fn tracestate_output_is_valid_and_stable(text in header_text()) {
        let kept = parse_tracestate(&text);
        prop_assert!(kept.len() <= 512);
        prop_assert_eq!(parse_tracestate(&kept), kept.clone());
        let keys: Vec<&str> = kept.split(',').filter(|m| !m.is_empty()).map(|m| m.split('=').next().unwrap()).collect();
        prop_assert!(keys.len() <= 32);
        let mut distinct = keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), keys.len());
    }

    #[test]
    fn valid_tracestate_is_kept_whole(members in proptest::collection::vec(member(), 0..12)) {
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<String> = members
            .into_iter()
            .filter(|m| seen.insert(m.split('=').next().unwrap().to_owned()))
            .collect();
        let header = distinct.join(",");
        prop_assume!(header.len() <= 512);
        prop_assert_eq!(parse_tracestate(&header), header.clone());
        // The same members over several header lines, with optional whitespace.
        let lines = distinct.join(" ,\t");
        prop_assert_eq!(parse_tracestate(&format!(", {lines} ,")), header);
    }

    #[test]
    fn baggage_round_trips(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,20}"), 0..8)) {
        let mut expected: Vec<(String, String)> = Vec::new();
        for (k, v) in &pairs {
            expected.retain(|(existing, _)| existing != k);
            expected.push((k.clone(), v.clone()));
        }
        match baggage::format(pairs) {
            Some(header) => prop_assert_eq!(baggage::parse(&header), expected),
            None => prop_assert!(expected.is_empty()),
        }
    }

    #[test]
    fn b3_round_trips(trace_id in 1u128.., span_id in 1u64.., sampled: bool) {
        let written = b3::format_single(&context(trace_id, span_id, sampled as u8));
        let read = b3::parse_single(&written).unwrap();
        prop_assert_eq!((read.trace_id, read.span_id, read.sampled()), (trace_id, span_id, sampled));
    }
}
