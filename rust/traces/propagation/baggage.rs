//! W3C Baggage: `key=value` members, values percent-encoded UTF-8. A member that breaks the
//! grammar is skipped alone; a header over the size limit is ignored whole.

use super::tracecontext::trim_ows;

const MAX_LEN: usize = 8192;
const MAX_MEMBERS: usize = 180;

/// RFC 9110's `tchar`: what a key (a token) is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
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

/// A `baggage` header as key-value pairs (a later member wins over an earlier one with the same
/// key); properties after `;` are read past.
pub fn parse(value: &str) -> Vec<(String, String)> {
    if value.len() > MAX_LEN {
        return Vec::new();
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for member in value.split(',').take(MAX_MEMBERS) {
        let entry = member.split(';').next().unwrap_or("");
        let Some((key, val)) = entry.split_once('=') else {
            continue;
        };
        let (key, val) = (trim_ows(key), trim_ows(val));
        if key.is_empty() || !key.bytes().all(is_tchar) || !val.bytes().all(is_baggage_octet) {
            continue;
        }
        if let (Some(k), Some(v)) = (percent_decode(key), percent_decode(val)) {
            pairs.retain(|(existing, _)| *existing != k);
            pairs.push((k, v));
        }
    }
    pairs
}

/// The header for `pairs`, or None when it would be over the size limit.
pub fn format(pairs: impl IntoIterator<Item = (String, String)>) -> Option<String> {
    let members: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(&k), percent_encode(&v)))
        .collect();
    let value = members.join(",");
    (!value.is_empty() && value.len() <= MAX_LEN).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_that_break_the_grammar_are_skipped() {
        assert_eq!(
            parse("user=alice%20b;prop=1, plan=pro"),
            vec![("user".into(), "alice b".into()), ("plan".into(), "pro".into())]
        );
        assert_eq!(
            parse("sp=a b,nul=a\0b,q=\"x\",bs=a\\b,ok=1"),
            vec![("ok".into(), "1".into())]
        );
        assert!(parse(&"a".repeat(9000)).is_empty());
        assert_eq!(parse("\u{a0}k=v,k2=v\u{a0}"), Vec::<(String, String)>::new());
    }

    #[test]
    fn formatted_values_read_back() {
        let pairs = vec![("k".to_string(), "a,b;c=d%e é".to_string())];
        assert_eq!(parse(&format(pairs.clone()).unwrap()), pairs);
        assert_eq!(format(Vec::new()), None);
    }
}
