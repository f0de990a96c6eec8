//! ferrotel's own counts (kept in `runtime::selfmetrics`, where every layer counts its drops)
//! rendered as two counter families in the default REGISTRY.

use crate::runtime::selfmetrics::{Tallies, DROPPED, EXPORT_FAILURES};

use super::exposition::{FamilyDesc, Kind, Sample, SampleSink};
use super::native::sample_names;

struct Counted {
    desc: FamilyDesc,
    tallies: &'static Tallies,
}

fn families() -> [Counted; 2] {
    let desc = |name: &str, help: &str, labels: &[&str]| {
        FamilyDesc::new(
            name,
            help,
            Kind::Counter,
            labels.iter().map(|l| l.to_string()).collect(),
        )
    };
    [
        Counted {
            desc: desc(
                "ferrotel_dropped",
                "Telemetry that ferrotel dropped or folded, by signal and reason",
                &["signal", "reason"],
            ),
            tallies: &DROPPED,
        },
        Counted {
            desc: desc(
                "ferrotel_export_failures",
                "Export attempts that failed, by exporter",
                &["exporter"],
            ),
            tallies: &EXPORT_FAILURES,
        },
    ]
}

/// The sample names the two families write.
pub fn names() -> Vec<String> {
    families().iter().flat_map(|f| sample_names(&f.desc)).collect()
}

pub fn write(sink: &mut dyn SampleSink) {
    for family in families() {
        sink.family(&family.desc);
        for tally in family.tallies.snapshot() {
            let labels = &tally.labels;
            let names = &family.desc.labelnames;
            sink.sample(&family.desc, &Sample::new("_total", names, labels, tally.get() as f64));
            super::created::write(&family.desc, labels, tally.created, sink);
        }
    }
}
