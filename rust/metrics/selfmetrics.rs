//! ferrotel's own metrics: what it dropped and why, and which exporters failed, so nothing is
//! lost silently. Recorded from any thread without Python; registered in the default REGISTRY.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::counter::CounterCore;
use super::exposition::{FamilyDesc, Kind};
use super::family::Family;

fn counter_family(name: &str, help: &str, labels: &[&str]) -> Arc<Family<CounterCore>> {
    let desc = FamilyDesc {
        name: name.into(),
        help: help.into(),
        unit: String::new(),
        kind: Kind::Counter,
        labelnames: labels.iter().map(|l| l.to_string()).collect(),
    };
    Arc::new(Family::new(desc, (), 1_000))
}

pub fn dropped() -> &'static Arc<Family<CounterCore>> {
    static DROPPED: OnceLock<Arc<Family<CounterCore>>> = OnceLock::new();
    DROPPED.get_or_init(|| {
        counter_family(
            "ferrotel_dropped",
            "Telemetry that ferrotel dropped or folded, by signal and reason",
            &["signal", "reason"],
        )
    })
}

pub fn export_failures() -> &'static Arc<Family<CounterCore>> {
    static FAILURES: OnceLock<Arc<Family<CounterCore>>> = OnceLock::new();
    FAILURES.get_or_init(|| {
        counter_family(
            "ferrotel_export_failures",
            "Export attempts that failed, by exporter",
            &["exporter"],
        )
    })
}

/// The counter for one (signal, reason), for a hot path to resolve once and keep.
pub fn drop_counter(signal: &str, reason: &str) -> Arc<CounterCore> {
    dropped()
        .child(&[Cow::Borrowed(signal), Cow::Borrowed(reason)])
        .core
        .clone()
}

pub fn record_drops(signal: &str, reason: &str, count: usize) {
    dropped()
        .child(&[Cow::Borrowed(signal), Cow::Borrowed(reason)])
        .core
        .inc(count as f64);
}

pub fn record_drop(signal: &str, reason: &str) {
    record_drops(signal, reason, 1);
}

/// Counts a failed export and the items it lost; the first failure of each exporter is also
/// reported on stderr (exporter threads never call into Python, so not as a Python warning).
pub fn record_export_failure(exporter: &str, signal: &str, items: usize, reason: &str) {
    export_failures().child(&[Cow::Borrowed(exporter)]).core.inc(1.0);
    record_drops(signal, "export_failed", items);
    static REPORTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    if REPORTED
        .lock()
        .get_or_insert_with(HashSet::new)
        .insert(exporter.to_string())
    {
        eprintln!(
            "ferrotel: exporter {exporter:?} failed ({reason}); {items} {signal} items dropped. \
             Further failures are counted in ferrotel_export_failures_total."
        );
    }
}
