//! Prometheus text 0.0.4 and OpenMetrics 1.0 rendering into one growing buffer.

use super::{format_float, format_timestamp, FamilyDesc, Kind, Sample, SampleSink};

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

/// Picks the format from an `Accept` header the way prometheus_client does: OpenMetrics when
/// the client lists `application/openmetrics-text`, the 0.0.4 text format otherwise.
pub fn negotiate(accept: Option<&str>) -> Format {
    let wants_openmetrics = accept.unwrap_or("").split(',').any(|part| {
        let mut params = part.split(';').map(str::trim);
        params.next() == Some("application/openmetrics-text")
            && params.all(|p| !p.starts_with("version=") || p == "version=1.0.0" || p == "version=0.0.1")
    });
    if wants_openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text004
    }
}

pub struct TextSink<'d> {
    pub out: Vec<u8>,
    format: Format,
    default_labels: &'d [(String, String)],
}

impl<'d> TextSink<'d> {
    pub fn new(format: Format, default_labels: &'d [(String, String)]) -> Self {
        Self {
            out: Vec::with_capacity(64 * 1024),
            format,
            default_labels,
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        self.out
    }

    fn escaped(&mut self, text: &str, quote: bool) {
        for byte in text.bytes() {
            match byte {
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'"' if quote => self.out.extend_from_slice(b"\\\""),
                _ => self.out.push(byte),
            }
        }
    }

    fn label(&mut self, first: &mut bool, name: &str, value: &str) {
        self.out.push(if *first { b'{' } else { b',' });
        *first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"=\"");
        self.escaped(value, true);
        self.out.push(b'"');
    }

    fn labels<'a>(&mut self, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
        let mut first = true;
        for (name, value) in pairs {
            self.label(&mut first, name, value);
        }
        if !first {
            self.out.push(b'}');
        }
    }

    fn meta(&mut self, keyword: &str, name: &str, suffix: &str, text: &str, escape_quotes: bool) {
        self.out.extend_from_slice(b"# ");
        self.out.extend_from_slice(keyword.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.push(b' ');
        self.escaped(text, escape_quotes);
        self.out.push(b'\n');
    }
}

/// The 0.0.4 format has no info, stateset or gaugehistogram types; prometheus_client writes
/// them as gauges and histograms, and names counters and info families by their sample name.
fn text_type(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Counter => ("_total", "counter"),
        Kind::Gauge => ("", "gauge"),
        Kind::Histogram | Kind::GaugeHistogram => ("", "histogram"),
        Kind::Summary => ("", "summary"),
        Kind::Info => ("_info", "gauge"),
        Kind::StateSet => ("", "gauge"),
        Kind::Unknown => ("", "untyped"),
    }
}

impl SampleSink for TextSink<'_> {
    fn family(&mut self, desc: &FamilyDesc) {
        match self.format {
            Format::Text004 => {
                let (suffix, kind) = text_type(desc.kind);
                self.meta("HELP", &desc.name, suffix, &desc.help, false);
                self.meta("TYPE", &desc.name, suffix, kind, false);
            }
            Format::OpenMetrics => {
                self.meta("HELP", &desc.name, "", &desc.help, true);
                self.meta("TYPE", &desc.name, "", desc.kind.as_str(), false);
                if !desc.unit.is_empty() {
                    self.meta("UNIT", &desc.name, "", &desc.unit, false);
                }
            }
        }
    }

    fn sample(&mut self, desc: &FamilyDesc, sample: &Sample<'_>) {
        let text = self.format == Format::Text004;
        if text && sample.suffix == "_created" {
            // 0.0.4 has no place for creation times; writing them as gauges only adds series.
            return;
        }
        self.out.extend_from_slice(desc.name.as_bytes());
        self.out.extend_from_slice(sample.suffix.as_bytes());
        let defaults = self.default_labels;
        let own = sample.labelnames.iter().zip(sample.labelvalues.iter());
        let pairs = defaults
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(own.map(|(n, v)| (n.as_str(), v.as_str())))
            .chain(sample.extra);
        self.labels(pairs);
        self.out.push(b' ');
        format_float(sample.value, &mut self.out);
        if let Some(ts) = sample.timestamp {
            self.out.push(b' ');
            if text {
                self.out
                    .extend_from_slice(format!("{}", (ts * 1000.0).round() as i64).as_bytes());
            } else {
                format_timestamp(ts, &mut self.out);
            }
        }
        if let (false, Some(exemplar)) = (text, sample.exemplar) {
            self.out.extend_from_slice(b" # ");
            let pairs = exemplar.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            let mut first = true;
            for (name, value) in pairs {
                self.label(&mut first, name, value);
            }
            self.out.extend_from_slice(if first { b"{}" } else { b"}" });
            self.out.push(b' ');
            format_float(exemplar.value, &mut self.out);
            if let Some(ts) = exemplar.timestamp {
                self.out.push(b' ');
                format_timestamp(ts, &mut self.out);
            }
        }
        self.out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(kind: Kind) -> FamilyDesc {
        FamilyDesc {
            name: "req".into(),
            help: "a \"help\"\nline \\".into(),
            unit: String::new(),
            kind,
            labelnames: Box::new(["path".to_string()]),
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None), Format::Text004);
        assert_eq!(negotiate(Some("text/plain")), Format::Text004);
        assert_eq!(
            negotiate(Some(
                "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=9.0.0")),
            Format::Text004
        );
    }

    #[test]
    fn escapes_help_and_label_values() {
        let d = desc(Kind::Counter);
        let defaults = vec![("env".to_string(), "prod".to_string())];
        let mut sink = TextSink::new(Format::Text004, &defaults);
        sink.family(&d);
        let values = ["a\"b\\c\nd".to_string()];
        sink.sample(&d, &Sample::new("_total", &d.labelnames, &values, 2.0));
        sink.sample(&d, &Sample::new("_created", &d.labelnames, &values, 2.0));
        let out = String::from_utf8(sink.finish()).unwrap();
        assert_eq!(
            out,
            "# HELP req_total a \"help\"\\nline \\\\\n# TYPE req_total counter\n\
             req_total{env=\"prod\",path=\"a\\\"b\\\\c\\nd\"} 2.0\n"
        );
    }

    #[test]
    fn openmetrics_has_exemplars_and_eof() {
        let d = desc(Kind::Counter);
        let mut sink = TextSink::new(Format::OpenMetrics, &[]);
        sink.family(&d);
        let values = ["/".to_string()];
        let exemplar = super::super::Exemplar {
            labels: vec![("trace_id".into(), "ab".into())],
            value: 1.0,
            timestamp: None,
        };
        let mut sample = Sample::new("_total", &d.labelnames, &values, 1.0);
        sample.exemplar = Some(&exemplar);
        sink.sample(&d, &sample);
        let out = String::from_utf8(sink.finish()).unwrap();
        assert!(out.contains("# HELP req a \\\"help\\\"\\nline \\\\\n# TYPE req counter\n"));
        assert!(out.contains("req_total{path=\"/\"} 1.0 # {trace_id=\"ab\"} 1.0\n"));
        assert!(out.ends_with("# EOF\n"));
    }
}
