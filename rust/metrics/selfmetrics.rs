//! ferrotel's own metrics: what it dropped and why, so nothing is lost silently.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use super::counter::CounterCore;
use super::exposition::{FamilyDesc, Kind};
use super::family::Family;

static DROPPED: OnceLock<Arc<Family<CounterCore>>> = OnceLock::new();

pub fn dropped() -> &'static Arc<Family<CounterCore>> {
    DROPPED.get_or_init(|| {
        let desc = FamilyDesc {
            name: "ferrotel_dropped".into(),
            help: "Telemetry that ferrotel dropped or folded, by signal and reason".into(),
            unit: String::new(),
            kind: Kind::Counter,
            labelnames: Box::new(["signal".into(), "reason".into()]),
        };
        Arc::new(Family::new(desc, (), 1_000))
    })
}

pub fn record_drop(signal: &str, reason: &str) {
    dropped()
        .child(&[Cow::Borrowed(signal), Cow::Borrowed(reason)])
        .core
        .inc(1.0);
}
