//! A scrape's `?name[]=...` restriction, read from the query string as prometheus_client reads
//! it (`parse_qs(query).get("name[]")`), so the server, the WSGI and the ASGI apps restrict alike.

use std::collections::HashSet;

/// The names a query asks for, or `None` when it asks for none (the whole exposition). As
/// Python's `parse_qs` with its defaults: fields split on `&`; a field without `=` or with an
/// empty value is skipped; `+` is a space; `%XX` is a byte, and any other `%` stays as it is;
/// the bytes are read as UTF-8, an invalid sequence becoming U+FFFD.
pub fn requested_names(query: Option<&str>) -> Option<HashSet<String>> {
    let mut names = HashSet::new();
    for field in query.unwrap_or("").split('&') {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        if !value.is_empty() && unquote_plus(key) == "name[]" {
            names.insert(unquote_plus(value));
        }
    }
    (!names.is_empty()).then_some(names)
}

/// Python's `unquote(s.replace("+", " "))` with `errors="replace"`.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: &u8) -> Option<u8> {
    (*byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(query: &str) -> Option<Vec<String>> {
        requested_names(Some(query)).map(|set| {
            let mut names: Vec<String> = set.into_iter().collect();
            names.sort();
            names
        })
    }

    #[test]
    fn repeated_and_encoded_keys() {
        assert_eq!(
            names("name[]=a&name[]=b_total"),
            Some(vec!["a".into(), "b_total".into()])
        );
        assert_eq!(names("name%5B%5D=a&name%5b%5d=b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(names("x=1&name[]=a&name[]=a"), Some(vec!["a".into()]));
    }

    #[test]
    fn no_restriction_without_a_non_empty_name() {
        assert_eq!(requested_names(None), None);
        assert_eq!(names(""), None);
        assert_eq!(names("name[]="), None);
        assert_eq!(names("name[]&&name=a&names[]=b"), None);
        assert_eq!(names("name[]=&x=1"), None);
    }

    #[test]
    fn values_decode_as_parse_qs_does() {
        // As Python's parse_qs gives them:
        for (query, expected) in [
            ("name[]=a+b", "a b"),
            ("name[]=a%2Bb", "a+b"),
            ("name[]=app.requests_total", "app.requests_total"),
            ("name[]=caf%C3%A9", "café"),
            ("name[]=a=b", "a=b"),
            ("name[]=100%", "100%"),
            ("name[]=%zz%4", "%zz%4"),
            ("name[]=%e9t%C3", "\u{fffd}t\u{fffd}"),
            ("name[]=%E2%82", "\u{fffd}"),
            ("name[]=%00", "\0"),
        ] {
            assert_eq!(names(query), Some(vec![expected.to_string()]), "{query}");
        }
    }

    #[test]
    fn only_ampersands_separate_fields() {
        assert_eq!(names("name[]=a;name[]=b"), Some(vec!["a;name[]=b".into()]));
    }
}
