//! Metric and label names in the exposition, under the escaping schemes of the Prometheus
//! UTF-8 proposal, as prometheus_client writes them: `allow-utf-8` quotes a name the legacy rule
//! does not allow (`{"my.metric",le="1"}`); `underscores` (what a scraper that asked for nothing
//! gets), `dots` and `values` rewrite it into a legacy name.

use crate::metrics::validate::{is_legacy_label_name, is_legacy_metric_name, legacy_rune};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escaping {
    AllowUtf8,
    Underscores,
    Dots,
    Values,
}

impl Escaping {
    /// The `escaping=` parameter of an `Accept` header or of `generate_latest(escaping=)`.
    pub fn parse(text: &str) -> Option<Escaping> {
        match text {
            "allow-utf-8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }
}

/// A name given in parts (a family name and a sample suffix) that are one name together, so a
/// sample's name is written without being concatenated first.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    pub parts: [&'a str; 2],
    /// Metric names may hold `:`, label names may not.
    pub metric: bool,
}

impl<'a> Name<'a> {
    pub fn metric(base: &'a str, suffix: &'a str) -> Self {
        Self {
            parts: [base, suffix],
            metric: true,
        }
    }

    pub fn label(name: &'a str) -> Self {
        Self {
            parts: [name, ""],
            metric: false,
        }
    }

    fn chars(&self) -> impl Iterator<Item = char> + 'a {
        let [a, b] = self.parts;
        a.chars().chain(b.chars())
    }

    /// Whether the legacy rule allows it, so every scheme writes it unchanged (except `dots`).
    pub fn is_legacy(&self) -> bool {
        let [a, b] = self.parts;
        if b.is_empty() {
            return if self.metric {
                is_legacy_metric_name(a)
            } else {
                is_legacy_label_name(a)
            };
        }
        !a.is_empty() && self.chars().enumerate().all(|(i, c)| legacy_rune(c, i, self.metric))
    }

    fn push_raw(&self, out: &mut Vec<u8>) {
        for part in self.parts {
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// Backslash, newline and double quote escaped, as in label values and quoted names.
pub fn push_quoted_text(out: &mut Vec<u8>, text: &str, quote: bool) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if quote => out.extend_from_slice(b"\\\""),
            _ => out.push(byte),
        }
    }
}

/// Writes `name` as the scheme wants it. `allow-utf-8` names that need it are quoted here; the
/// caller places a quoted metric name inside the braces.
pub fn push_name(out: &mut Vec<u8>, name: Name<'_>, escaping: Escaping) {
    let legacy = name.is_legacy();
    match escaping {
        _ if legacy && escaping != Escaping::Dots => name.push_raw(out),
        Escaping::AllowUtf8 => {
            out.push(b'"');
            for part in name.parts {
                push_quoted_text(out, part, true);
            }
            out.push(b'"');
        }
        Escaping::Underscores => {
            for (i, c) in name.chars().enumerate() {
                push_char(out, if legacy_rune(c, i, name.metric) { c } else { '_' });
            }
        }
        Escaping::Dots => {
            for (i, c) in name.chars().enumerate() {
                match c {
                    '_' => out.extend_from_slice(b"__"),
                    '.' => out.extend_from_slice(b"_dot_"),
                    c if legacy_rune(c, i, name.metric) => push_char(out, c),
                    _ => out.extend_from_slice(b"__"),
                }
            }
        }
        Escaping::Values => {
            out.extend_from_slice(b"U__");
            for (i, c) in name.chars().enumerate() {
                match c {
                    '_' => out.extend_from_slice(b"__"),
                    c if legacy_rune(c, i, name.metric) => push_char(out, c),
                    c => out.extend_from_slice(format!("_{:x}_", c as u32).as_bytes()),
                }
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(name: Name<'_>, escaping: Escaping) -> String {
        let mut out = Vec::new();
        push_name(&mut out, name, escaping);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn schemes_as_prometheus_client_writes_them() {
        let m = Name::metric("my.metric", "_total");
        assert_eq!(written(m, Escaping::AllowUtf8), "\"my.metric_total\"");
        assert_eq!(written(m, Escaping::Underscores), "my_metric_total");
        assert_eq!(written(m, Escaping::Dots), "my_dot_metric__total");
        assert_eq!(written(m, Escaping::Values), "U__my_2e_metric__total");
        let legacy = Name::metric("a:b", "_sum");
        assert_eq!(written(legacy, Escaping::AllowUtf8), "a:b_sum");
        assert_eq!(written(legacy, Escaping::Underscores), "a:b_sum");
        assert_eq!(written(Name::label("a:b"), Escaping::Underscores), "a_b");
        assert_eq!(written(Name::label("1x"), Escaping::Underscores), "_x");
        assert_eq!(written(Name::label("q\"x"), Escaping::AllowUtf8), "\"q\\\"x\"");
    }
}
