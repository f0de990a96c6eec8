//! Prometheus text (0.0.4 and 1.0.0) and OpenMetrics 1.0 rendering into one growing buffer.

use super::escape::{push_name, push_quoted_text, Escaping, Name};
use super::negotiate::Format;
use super::{format_float, format_timestamp, FamilyDesc, Kind, Sample, SampleSink};
use crate::metrics::validate::is_legacy_label_name;
use crate::runtime::selfmetrics;

/// A custom collector's family whose `_created`, `_gsum` and `_gcount` lines wait for its end.
struct Deferred {
    name: String,
    help: String,
    /// Lines by suffix.
    groups: Vec<(&'static str, Vec<u8>)>,
}

pub struct TextSink<'d> {
    pub out: Vec<u8>,
    format: Format,
    escaping: Escaping,
    default_labels: &'d [(String, String)],
    /// The current family's name needs no escaping, nor do its label names.
    name_legacy: bool,
    labels_legacy: bool,
    /// Text 0.0.4: a custom collector's `_created`, `_gsum` and `_gcount` lines, written after
    /// its family as gauge families, as prometheus_client does.
    deferred: Option<Deferred>,
}

impl<'d> TextSink<'d> {
    pub fn new(format: Format, escaping: Escaping, default_labels: &'d [(String, String)]) -> Self {
        Self {
            out: Vec::with_capacity(64 * 1024),
            format,
            escaping,
            default_labels,
            name_legacy: true,
            labels_legacy: true,
            deferred: None,
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.write_deferred();
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        self.out
    }

    fn name(&mut self, name: Name<'_>, legacy: bool) {
        if legacy && self.escaping != Escaping::Dots {
            for part in name.parts {
                self.out.extend_from_slice(part.as_bytes());
            }
        } else {
            push_name(&mut self.out, name, self.escaping);
        }
    }

    fn label(&mut self, first: &mut bool, name: &str, value: &str, legacy: bool) {
        self.out.push(if *first { b'{' } else { b',' });
        *first = false;
        let legacy = legacy || is_legacy_label_name(name);
        self.name(Name::label(name), legacy);
        self.out.extend_from_slice(b"=\"");
        push_quoted_text(&mut self.out, value, true);
        self.out.push(b'"');
    }

    fn meta(&mut self, keyword: &str, name: Name<'_>, text: &str, escape_quotes: bool) {
        self.out.extend_from_slice(b"# ");
        self.out.extend_from_slice(keyword.as_bytes());
        self.out.push(b' ');
        self.name(name, self.name_legacy);
        self.out.push(b' ');
        push_quoted_text(&mut self.out, text, escape_quotes);
        self.out.push(b'\n');
    }

    fn write_deferred(&mut self) {
        let Some(Deferred { name, help, mut groups }) = self.deferred.take() else {
            return;
        };
        groups.sort_by_key(|(suffix, _)| *suffix);
        for (suffix, lines) in groups {
            let family = Name::metric(&name, suffix);
            self.meta("HELP", family, &help, false);
            self.meta("TYPE", family, "gauge", false);
            self.out.extend_from_slice(&lines);
        }
    }

    fn defer(&mut self, desc: &FamilyDesc, suffix: &'static str, line: Vec<u8>) {
        let deferred = self.deferred.get_or_insert_with(|| Deferred {
            name: desc.name.clone(),
            help: desc.help.clone(),
            groups: Vec::new(),
        });
        match deferred.groups.iter_mut().find(|(s, _)| *s == suffix) {
            Some((_, lines)) => lines.extend_from_slice(&line),
            None => deferred.groups.push((suffix, line)),
        }
    }

    fn exemplar(&mut self, desc: &FamilyDesc, sample: &Sample<'_>) {
        let Some(exemplar) = sample.exemplar else { return };
        let name = sample.full_name.unwrap_or(sample.suffix);
        let allowed = match desc.kind {
            Kind::Counter => name.ends_with("_total"),
            Kind::Histogram | Kind::GaugeHistogram => name.ends_with("_bucket"),
            _ => false,
        };
        if !allowed {
            // OpenMetrics has exemplars on counters and buckets only (prometheus_client fails
            // the whole scrape here).
            selfmetrics::record_drop("metrics", "invalid_exemplar");
            return;
        }
        self.out.extend_from_slice(b" # ");
        let mut first = true;
        for (name, value) in &exemplar.labels {
            self.label(&mut first, name, value, false);
        }
        self.out.extend_from_slice(if first { b"{}" } else { b"}" });
        self.out.push(b' ');
        format_float(exemplar.value, &mut self.out);
        if let Some(ts) = &exemplar.timestamp {
            self.out.push(b' ');
            format_timestamp(ts, &mut self.out);
        }
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

/// The samples text 0.0.4 writes after a custom collector's family, as gauges of their own.
fn deferred_suffix(suffix: &str) -> Option<&'static str> {
    ["_created", "_gcount", "_gsum"].into_iter().find(|s| *s == suffix)
}

impl SampleSink for TextSink<'_> {
    fn family(&mut self, desc: &FamilyDesc) {
        self.write_deferred();
        self.name_legacy = Name::metric(&desc.name, "").is_legacy();
        self.labels_legacy = !desc.passthrough
            && desc.labelnames.iter().all(|n| is_legacy_label_name(n))
            && self.default_labels.iter().all(|(n, _)| is_legacy_label_name(n))
            && (desc.kind != Kind::StateSet || is_legacy_label_name(&desc.name));
        match self.format {
            Format::Text004 => {
                let (suffix, kind) = text_type(desc.kind);
                self.meta("HELP", Name::metric(&desc.name, suffix), &desc.help, false);
                self.meta("TYPE", Name::metric(&desc.name, suffix), kind, false);
            }
            Format::OpenMetrics => {
                let name = Name::metric(&desc.name, "");
                self.meta("HELP", name, &desc.help, true);
                self.meta("TYPE", name, desc.kind.as_str(), false);
                if !desc.unit.is_empty() {
                    self.meta("UNIT", name, &desc.unit, false);
                }
            }
        }
    }

    fn sample(&mut self, desc: &FamilyDesc, sample: &Sample<'_>) {
        let text = self.format == Format::Text004;
        let mut deferred = None;
        if text && sample.full_name.is_none() && sample.suffix == "_created" && !desc.passthrough {
            // ferrotel's own families: 0.0.4 has no place for creation times.
            return;
        }
        if text && desc.passthrough && sample.full_name.is_none() {
            deferred = deferred_suffix(sample.suffix);
        }
        let start = self.out.len();
        let (name, legacy) = match sample.full_name {
            Some(full) => (Name::metric(full, ""), Name::metric(full, "").is_legacy()),
            None => (Name::metric(&desc.name, sample.suffix), self.name_legacy),
        };
        let mut first = true;
        if self.escaping == Escaping::AllowUtf8 && !legacy {
            // A quoted name goes inside the braces: {"my.metric",le="1.0"}.
            self.out.push(b'{');
            first = false;
            push_name(&mut self.out, name, self.escaping);
        } else {
            self.name(name, legacy);
        }
        let labels_legacy = self.labels_legacy;
        for (n, v) in self.default_labels {
            self.label(&mut first, n, v, labels_legacy);
        }
        for (n, v) in sample.labelnames.iter().zip(sample.labelvalues.iter()) {
            self.label(&mut first, n, v, labels_legacy);
        }
        if let Some((n, v)) = sample.extra {
            self.label(&mut first, n, v, labels_legacy);
        }
        if !first {
            self.out.push(b'}');
        }
        self.out.push(b' ');
        format_float(sample.value, &mut self.out);
        if let Some(ts) = sample.timestamp {
            self.out.push(b' ');
            if text {
                // prometheus_client: int(float(timestamp) * 1000), so truncated.
                let millis = (ts.seconds * 1000.0) as i64;
                self.out
                    .extend_from_slice(itoa::Buffer::new().format(millis).as_bytes());
            } else {
                format_timestamp(ts, &mut self.out);
            }
        }
        if !text {
            self.exemplar(desc, sample);
        }
        self.out.push(b'\n');
        if let Some(suffix) = deferred {
            let line = self.out.split_off(start);
            self.defer(desc, suffix, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(kind: Kind) -> FamilyDesc {
        let mut d = FamilyDesc::new("req", "a \"help\"\nline \\", kind, Box::new(["path".to_string()]));
        d.unit = String::new();
        d
    }

    #[test]
    fn escapes_help_and_label_values() {
        let d = desc(Kind::Counter);
        let defaults = vec![("env".to_string(), "prod".to_string())];
        let mut sink = TextSink::new(Format::Text004, Escaping::Underscores, &defaults);
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
        let mut sink = TextSink::new(Format::OpenMetrics, Escaping::Underscores, &[]);
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

    #[test]
    fn utf8_names_are_quoted_or_escaped() {
        let d = FamilyDesc::new("my.requests", "", Kind::Counter, Box::new(["user.id".to_string()]));
        let values = ["7".to_string()];
        for (escaping, expected) in [
            (Escaping::AllowUtf8, "{\"my.requests_total\",\"user.id\"=\"7\"} 1.0\n"),
            (Escaping::Underscores, "my_requests_total{user_id=\"7\"} 1.0\n"),
        ] {
            let mut sink = TextSink::new(Format::OpenMetrics, escaping, &[]);
            sink.family(&d);
            sink.sample(&d, &Sample::new("_total", &d.labelnames, &values, 1.0));
            let out = String::from_utf8(sink.finish()).unwrap();
            assert!(out.contains(expected), "{out}");
        }
    }
}
