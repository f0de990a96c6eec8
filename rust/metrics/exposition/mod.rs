//! Exposition: metric families are walked once through a [`SampleSink`]; the text formats and
//! the owned snapshot (for `get_sample_value` and the prometheus_client bridge) are sinks.

mod snapshot;
mod text;

pub use snapshot::{OwnedFamily, OwnedSample, SnapshotSink};
pub use text::{negotiate, Format, TextSink};

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
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

pub struct Sample<'a> {
    /// Appended to the family name: `_total`, `_bucket`, `_info`, or empty.
    pub suffix: &'a str,
    pub labelnames: &'a [String],
    pub labelvalues: &'a [String],
    /// One more label after the child's own: `le`, `quantile`, or a state set's state.
    pub extra: Option<(&'a str, &'a str)>,
    pub value: f64,
    pub timestamp: Option<f64>,
    pub exemplar: Option<&'a Exemplar>,
}

impl<'a> Sample<'a> {
    pub fn new(suffix: &'a str, labelnames: &'a [String], labelvalues: &'a [String], value: f64) -> Self {
        Self {
            suffix,
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

/// Go's float formatting as Prometheus expects it: `+Inf`, `-Inf`, `NaN`, else shortest round-trip.
pub fn format_float(value: f64, out: &mut Vec<u8>) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(value).as_bytes());
    }
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
        assert_eq!(float_string(1e-7).parse::<f64>().unwrap(), 1e-7);
    }
}
