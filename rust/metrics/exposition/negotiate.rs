//! Content negotiation: what a scrape's `Accept` header asks for, as prometheus_client reads it.

use super::escape::Escaping;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text004,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What a scrape's `Accept` header asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    pub escaping: Escaping,
    pub content_type: &'static str,
}

fn param<'a>(params: &[&'a str], key: &str) -> Option<&'a str> {
    params.iter().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// `1.0.0` or later, compared as prometheus_client's `parse_version` does.
fn at_least_one(version: &str) -> bool {
    let parts: Vec<u64> = version.split('.').map_while(|p| p.parse().ok()).collect();
    parts.first().is_some_and(|major| *major >= 1)
}

fn escaped_type(base: &'static [&'static str; 5], escaping: Option<Escaping>) -> &'static str {
    match escaping {
        None => base[0],
        Some(Escaping::AllowUtf8) => base[1],
        Some(Escaping::Underscores) => base[2],
        Some(Escaping::Dots) => base[3],
        Some(Escaping::Values) => base[4],
    }
}

const OPENMETRICS_TYPES: [&str; 5] = [
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots",
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values",
];

const TEXT_1_0_0_TYPES: [&str; 5] = [
    "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    "text/plain; version=1.0.0; charset=utf-8; escaping=dots",
    "text/plain; version=1.0.0; charset=utf-8; escaping=values",
];

/// Picks the format from an `Accept` header as prometheus_client does: the first entry that is
/// OpenMetrics (version 1.0.0 or 0.0.1, or none) or the text format 1.0.0, with its `escaping=`;
/// otherwise text 0.0.4 with names escaped to underscores.
pub fn negotiate(accept: Option<&str>) -> Negotiated {
    for entry in accept.unwrap_or("").split(',') {
        let params: Vec<&str> = entry.split(';').collect();
        let media = params[0].trim();
        let version = param(&params[1..], "version");
        let asked = param(&params[1..], "escaping");
        let escaping = asked.map(|e| Escaping::parse(e).unwrap_or(Escaping::Underscores));
        if media == "application/openmetrics-text" && matches!(version, None | Some("1.0.0") | Some("0.0.1")) {
            return Negotiated {
                format: Format::OpenMetrics,
                escaping: escaping.unwrap_or(Escaping::Underscores),
                content_type: escaped_type(&OPENMETRICS_TYPES, escaping),
            };
        }
        if media == "text/plain" && version.is_some_and(at_least_one) {
            return Negotiated {
                format: Format::Text004,
                escaping: escaping.unwrap_or(Escaping::Underscores),
                content_type: escaped_type(&TEXT_1_0_0_TYPES, escaping),
            };
        }
    }
    Negotiated {
        format: Format::Text004,
        escaping: Escaping::Underscores,
        content_type: Format::Text004.content_type(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let format = |accept| negotiate(accept).format;
        assert_eq!(format(None), Format::Text004);
        assert_eq!(format(Some("text/plain")), Format::Text004);
        assert_eq!(
            format(Some(
                "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            format(Some("application/openmetrics-text; version=9.0.0")),
            Format::Text004
        );
        let prometheus3 = negotiate(Some(
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.3",
        ));
        assert_eq!(prometheus3.escaping, Escaping::AllowUtf8);
        assert_eq!(prometheus3.content_type, OPENMETRICS_TYPES[1]);
        let text1 = negotiate(Some("text/plain;version=1.0.0;escaping=dots"));
        assert_eq!((text1.format, text1.escaping), (Format::Text004, Escaping::Dots));
        assert_eq!(text1.content_type, TEXT_1_0_0_TYPES[3]);
    }
}
