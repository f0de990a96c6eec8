//! Exposition: metric families are walked once through a [`SampleSink`]; the text formats and
//! the owned snapshot (for `get_sample_value` and the prometheus_client bridge) are sinks.

mod escape;
mod filter;
mod negotiate;
mod snapshot;
mod text;

pub use escape::Escaping;
pub use filter::FilterSink;
pub use negotiate::{negotiate, Format, Negotiated};
pub use snapshot::{OwnedFamily, OwnedSample, SnapshotSink};
pub use text::TextSink;

/// `(format, escaping, content type)` for an `Accept` header, as a scrape would get: what
/// `ferrotel.exposition.choose_encoder` builds on.
#[pyo3::pyfunction]
#[pyo3(signature = (accept=None))]
pub fn _negotiate(accept: Option<&str>) -> (&'static str, &'static str, &'static str) {
    let n = negotiate(accept);
    let format = match n.format {
        Format::Text004 => "text",
        Format::OpenMetrics => "openmetrics",
    };
    let escaping = match n.escaping {
        Escaping::AllowUtf8 => "allow-utf-8",
        Escaping::Underscores => "underscores",
        Escaping::Dots => "dots",
        Escaping::Values => "values",
    };
    (format, escaping, n.content_type)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl Kind {
    /// The OpenMetrics type name, which is also prometheus_client's `Metric.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::GaugeHistogram => "gaugehistogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Kind {
        match name {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "gaugehistogram" => Kind::GaugeHistogram,
            "summary" => Kind::Summary,
            "info" => Kind::Info,
            "stateset" => Kind::StateSet,
            _ => Kind::Unknown,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FamilyDesc {
    pub name: String,
    pub help: String,
    pub unit: String,
    pub kind: Kind,
    pub labelnames: Box<[String]>,
    /// A custom collector's family: its samples are written as prometheus_client writes them
    /// (in text 0.0.4, `_created`, `_gsum` and `_gcount` as gauge families of their own).
    pub passthrough: bool,
}

impl FamilyDesc {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind, labelnames: Box<[String]>) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            unit: String::new(),
            kind,
            labelnames,
            passthrough: false,
        }
    }
}

/// A timestamp in seconds; from a custom collector also as Python's `str()` of it, which is what
/// prometheus_client writes in OpenMetrics (`1.5`, `2`, or a `Timestamp`'s `sec.nanoseconds`).
#[derive(Clone, Debug, PartialEq)]
pub struct Timestamp {
    pub seconds: f64,
    pub text: Option<Box<str>>,
}

impl Timestamp {
    pub fn seconds(seconds: f64) -> Self {
        Self { seconds, text: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<Timestamp>,
}

pub struct Sample<'a> {
    /// Appended to the family name: `_total`, `_bucket`, `_info`, or empty.
    pub suffix: &'a str,
    /// The whole sample name, when a custom collector's does not start with its family's name.
    pub full_name: Option<&'a str>,
    pub labelnames: &'a [String],
    pub labelvalues: &'a [String],
    /// One more label after the child's own: `le`, `quantile`, or a state set's state.
    pub extra: Option<(&'a str, &'a str)>,
    pub value: f64,
    pub timestamp: Option<&'a Timestamp>,
    pub exemplar: Option<&'a Exemplar>,
}

impl<'a> Sample<'a> {
    pub fn new(suffix: &'a str, labelnames: &'a [String], labelvalues: &'a [String], value: f64) -> Self {
        Self {
            suffix,
            full_name: None,
            labelnames,
            labelvalues,
            extra: None,
            value,
            timestamp: None,
            exemplar: None,
        }
    }
}

pub trait SampleSink {
    fn family(&mut self, desc: &FamilyDesc);
    fn sample(&mut self, desc: &FamilyDesc, sample: &Sample<'_>);
}

/// prometheus_client's `floatToGoString`, byte for byte, so series and `le` labels read the same
/// after moving over: Python's `repr`, with Go's exponent form for positives of 1e6 and above.
pub fn format_float(value: f64, out: &mut Vec<u8>) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e6 {
        // The common case (counts): an integer and ".0" (and Python's sign of a negative zero).
        if value == 0.0 && value.is_sign_negative() {
            out.push(b'-');
        }
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
        out.extend_from_slice(b".0");
    } else {
        let repr = python_repr(value);
        match repr.find('.') {
            Some(dot) if value > 0.0 && dot > 6 => {
                let digits = format!("{}.{}{}", &repr[..1], &repr[1..dot], &repr[dot + 1..]);
                let mantissa = digits.trim_end_matches(['0', '.']);
                out.extend_from_slice(format!("{mantissa}e+0{}", dot - 1).as_bytes());
            }
            _ => out.extend_from_slice(repr.as_bytes()),
        }
    }
}

/// Timestamps as prometheus_client writes them in OpenMetrics: Python's `str()` of the value.
pub fn format_timestamp(timestamp: &Timestamp, out: &mut Vec<u8>) {
    if let Some(text) = &timestamp.text {
        out.extend_from_slice(text.as_bytes());
    } else if timestamp.seconds.is_finite() {
        out.extend_from_slice(python_repr(timestamp.seconds).as_bytes());
    } else {
        format_float(timestamp.seconds, out);
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, fixed notation for exponents from -4
/// to 15, else `d.ddde±XX`.
fn python_repr(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                format!("{digits}{}.0", "0".repeat(whole - digits.len()))
            } else {
                format!("{}.{}", &digits[..whole], &digits[whole..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
        }
    } else {
        let rest = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{}{rest}e{exp_sign}{:02}", &digits[..1], exponent.abs())
    };
    format!("{sign}{body}")
}

pub fn float_string(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    format_float(value, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(float_string(1.0), "1.0");
        assert_eq!(float_string(0.1), "0.1");
        assert_eq!(float_string(f64::INFINITY), "+Inf");
        assert_eq!(float_string(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float_string(f64::NAN), "NaN");
        // prometheus_client's floatToGoString for the same values:
        for (value, expected) in [
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (2.5e7, "2.5e+07"),
            (123456789.0, "1.23456789e+08"),
            (1e6, "1e+06"),
            (999999.5, "999999.5"),
            (1e16, "1e+16"),
            (-1e16, "-1e+16"),
            (-2.5e7, "-25000000.0"),
            (0.0, "0.0"),
            (-3.0, "-3.0"),
            (1.5e-300, "1.5e-300"),
        ] {
            assert_eq!(float_string(value), expected, "{value}");
        }
    }
}
