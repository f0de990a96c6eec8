//! W3C Trace Context: `traceparent` and `tracestate`, as the Recommendation and the Level 2
//! draft write them. Level 2's `random` flag is kept; the key grammar is the current one
//! (`(lcalpha / DIGIT) 0*255(keychar)`, `@` a key character like any other).

use crate::traces::ids::{parse_span_id, parse_trace_id, span_hex, trace_hex};
use crate::traces::span::SpanContext;

/// The trace flags this implementation knows; the others are reserved, and sent as zero.
pub const KNOWN_FLAGS: u8 = SpanContext::SAMPLED | SpanContext::RANDOM;
const MAX_MEMBERS: usize = 32;
/// What a `tracestate` is trimmed to (the length vendors should at least propagate).
const MAX_LEN: usize = 512;
/// Members longer than this go first when a `tracestate` is trimmed.
const LONG_MEMBER: usize = 128;
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 256;

/// A field value without HTTP's optional whitespace around it: spaces and tabs only.
pub fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

fn lower_hex(field: &[u8]) -> bool {
    field.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// A `traceparent`, or None when it is invalid (the trace then restarts). A later version is
/// read by position, as the specification says: its first four fields, and a dash or the end
/// after the flags.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = trim_ows(value);
    let b = value.as_bytes();
    if !value.is_ascii() || b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let (version, flags) = (&b[..2], &b[53..55]);
    if !lower_hex(version) || version == b"ff" || !lower_hex(flags) {
        return None;
    }
    // Version 00 has exactly four fields; a later one may append more after a dash.
    let rest_ok = if version == b"00" {
        b.len() == 55
    } else {
        b.len() == 55 || b[55] == b'-'
    };
    if !rest_ok {
        return None;
    }
    let flags = u8::from_str_radix(&value[53..55], 16).ok()?;
    Some(SpanContext {
        trace_id: parse_trace_id(&value[3..35])?,
        span_id: parse_span_id(&value[36..52])?,
        flags: flags & KNOWN_FLAGS,
        trace_state: String::new(),
        remote: true,
    })
}

/// The `traceparent` for `ctx`, at version 00, with only the flags this version defines.
pub fn format_traceparent(ctx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        trace_hex(ctx.trace_id),
        span_hex(ctx.span_id),
        ctx.flags & KNOWN_FLAGS
    )
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_KEY
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(c))
}

/// Printable ASCII but `,` and `=`, ending in a non-space; leading spaces belong to the value.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

fn key_of(member: &str) -> &str {
    member.split_once('=').map_or(member, |(k, _)| k)
}

/// A `tracestate` (its header lines joined by commas, as HTTP combines repeated lines) as
/// it is passed on: the valid members in order, each key's first, at most 32, trimmed to
/// 512 characters by removing whole members, those over 128 characters first, then from the
/// end. An invalid member is dropped alone; empty members are skipped.
pub fn parse_tracestate(value: &str) -> String {
    let mut members: Vec<&str> = Vec::new();
    for member in value.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
        let Some((key, val)) = member.split_once('=') else {
            continue;
        };
        if !valid_key(key) || !valid_value(val) || members.iter().any(|m| key_of(m) == key) {
            continue;
        }
        members.push(member);
        if members.len() == MAX_MEMBERS {
            break;
        }
    }
    let joined_len = |m: &[&str]| m.iter().map(|s| s.len()).sum::<usize>() + m.len().saturating_sub(1);
    while joined_len(&members) > MAX_LEN {
        match members.iter().rposition(|m| m.len() > LONG_MEMBER) {
            Some(long) => members.remove(long),
            None => members.pop().unwrap_or_default(),
        };
    }
    members.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_rules() {
        let ctx = parse_traceparent(TP).unwrap();
        assert!(ctx.sampled() && ctx.remote);
        assert_eq!(format_traceparent(&ctx), TP);
        // Level 2's random flag is kept; unknown flags are not passed on.
        let random = parse_traceparent(&TP.replace("-01", "-03")).unwrap();
        assert_eq!(random.flags, 3);
        assert_eq!(parse_traceparent(&TP.replace("-01", "-ff")).unwrap().flags, 3);
        // Optional whitespace is spaces and tabs, nothing else.
        assert!(parse_traceparent(&format!(" \t{TP}\t ")).is_some());
        for bad in [
            TP.replace("00-", "ff-"),
            TP.to_uppercase(),
            format!("{TP}-extra"),
            format!("{TP}\n"),
            format!("\u{a0}{TP}"),
            format!("{TP},{TP}"),
            TP.replace("-01", "-1"),
            String::new(),
        ] {
            assert!(parse_traceparent(&bad).is_none(), "{bad:?}");
        }
        assert!(parse_traceparent(&format!("{}-future", TP.replacen("00", "01", 1))).is_some());
    }

    #[test]
    fn tracestate_keeps_what_is_valid() {
        assert_eq!(
            parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
        assert_eq!(parse_tracestate("Bad=1,good=2,dup=a,dup=b,x=a=b"), "good=2,dup=a");
        assert_eq!(parse_tracestate("1abc=v,t@sys=v,a@b@c=v"), "1abc=v,t@sys=v,a@b@c=v");
        assert_eq!(parse_tracestate(",, \t,k= v"), "k= v");
        let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tracestate(&many.join(",")), many[..32].join(","));
    }

    #[test]
    fn tracestate_is_trimmed_long_members_first() {
        let long = format!("long={}", "x".repeat(200));
        let short: Vec<String> = (0..20).map(|i| format!("k{i:02}={}", "v".repeat(16))).collect();
        let mut all = vec![short[0].clone(), long.clone()];
        all.extend(short[1..].iter().cloned());
        let trimmed = parse_tracestate(&all.join(","));
        assert!(trimmed.len() <= 512 && !trimmed.contains("long="));
        // 20 members of 20 characters and 19 commas: 419; nothing else had to go.
        assert_eq!(trimmed, short.join(","));
        let more: Vec<String> = (0..30).map(|i| format!("k{i:02}={}", "v".repeat(16))).collect();
        let trimmed = parse_tracestate(&more.join(","));
        assert_eq!(trimmed, more[..24].join(","), "then whole members from the end");
    }
}
