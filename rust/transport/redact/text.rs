//! Secrets written inside text: the value after a sensitive key (`password=…`, `"api_key":
//! "…"`, `Authorization: Bearer …`) and the credentials of a URL (`scheme://user:pass@host`).
//! Both scan the text once, byte by byte, and answer None when they changed nothing.

use std::sync::LazyLock;

use memchr::{memchr, memchr2, memmem};

use super::REDACTED;

/// Built once: making a searcher costs more than searching a log line with it.
static SCHEME_END: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("://"));

/// Words that name an `Authorization` scheme: the credentials follow them after a space.
const AUTH_SCHEMES: [&str; 5] = ["bearer", "basic", "digest", "token", "negotiate"];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Where an unquoted value starting at `from` ends.
fn value_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|c| c.is_ascii_whitespace() || b",;&\"'<>)]}".contains(c))
        .map_or(b.len(), |i| from + i)
}

fn skip_blanks(b: &[u8], mut at: usize) -> usize {
    while at < b.len() && matches!(b[at], b' ' | b'\t') {
        at += 1;
    }
    at
}

/// Replaces `text[start..end]` with `[REDACTED]` in `out`, copying what lies before it.
fn replace(out: &mut String, text: &str, copied: &mut usize, start: usize, end: usize) {
    out.push_str(&text[*copied..start]);
    out.push_str(REDACTED);
    *copied = end;
}

/// The values that follow a key for which `sensitive` is true, at `key=value` and `key: value`
/// (quotes around either are read past: JSON and Python reprs).
pub fn keyed_values(text: &str, sensitive: impl Fn(&str) -> bool) -> Option<String> {
    let b = text.as_bytes();
    let (mut out, mut copied, mut from, mut changed) = (String::new(), 0, 0, false);
    while let Some(found) = memchr2(b'=', b':', &b[from..]) {
        let sep = from + found;
        from = sep + 1;
        // The key: the word before the separator, past spaces and a closing quote.
        let mut end = sep;
        while end > 0 && b[end - 1] == b' ' {
            end -= 1;
        }
        if end > 0 && matches!(b[end - 1], b'"' | b'\'') {
            end -= 1;
        }
        let start = b[..end].iter().rposition(|&c| !is_key_byte(c)).map_or(0, |i| i + 1);
        if start == end || !sensitive(&text[start..end]) {
            continue;
        }
        // The value: to its closing quote, or to the first delimiter.
        let v = skip_blanks(b, sep + 1);
        let (value_start, mut end) = match b.get(v) {
            Some(&quote @ (b'"' | b'\'')) => (v + 1, memchr(quote, &b[v + 1..]).map_or(b.len(), |i| v + 1 + i)),
            _ => (v, value_end(b, v)),
        };
        let value = &text[value_start..end];
        if AUTH_SCHEMES.iter().any(|s| value.eq_ignore_ascii_case(s)) && b.get(end) == Some(&b' ') {
            end = value_end(b, skip_blanks(b, end));
        }
        if value_start == end || text[value_start..].starts_with(REDACTED) {
            continue;
        }
        replace(&mut out, text, &mut copied, value_start, end);
        from = from.max(end);
        changed = true;
    }
    changed.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// The password of each `scheme://user:password@host` (or the whole user part when there is no
/// password: a token used as the user name).
pub fn url_credentials(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let (mut out, mut copied, mut changed) = (String::new(), 0, false);
    for at in SCHEME_END.find_iter(b) {
        let host_start = at + 3;
        if host_start < copied {
            continue;
        }
        let host_end = b[host_start..]
            .iter()
            .position(|c| c.is_ascii_whitespace() || b"/?#\"'<>".contains(c))
            .map_or(b.len(), |i| host_start + i);
        let Some(at_sign) = b[host_start..host_end].iter().rposition(|&c| c == b'@') else {
            continue;
        };
        let userinfo_end = host_start + at_sign;
        let secret_start = match memchr(b':', &b[host_start..userinfo_end]) {
            Some(colon) => host_start + colon + 1,
            None => host_start,
        };
        if secret_start == userinfo_end || text[secret_start..].starts_with(REDACTED) {
            continue;
        }
        replace(&mut out, text, &mut copied, secret_start, userinfo_end);
        changed = true;
    }
    changed.then(|| {
        out.push_str(&text[copied..]);
        out
    })
}
