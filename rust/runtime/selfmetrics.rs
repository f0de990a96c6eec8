//! ferrotel's own counts: what it dropped and why, and which exporters failed, so nothing is
//! lost silently. Counted from any thread without Python or a metric type; the metrics layer
//! renders them as `ferrotel_dropped_total{signal,reason}` and
//! `ferrotel_export_failures_total{exporter}`.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// One counted series: its label values, its count, and when it was first counted.
pub struct Tally {
    pub labels: Box<[String]>,
    pub created: f64,
    count: AtomicU64,
}

impl Tally {
    #[inline]
    pub fn add(&self, n: u64) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The tallies of one counter, in the order they were first counted.
pub struct Tallies(Mutex<Vec<Arc<Tally>>>);

impl Tallies {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The tally for these label values, made when new: resolve once to count on a hot path.
    pub fn get(&self, labels: &[&str]) -> Arc<Tally> {
        let mut all = self.0.lock();
        if let Some(t) = all
            .iter()
            .find(|t| t.labels.iter().map(String::as_str).eq(labels.iter().copied()))
        {
            return t.clone();
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let tally = Arc::new(Tally {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            created,
            count: AtomicU64::new(0),
        });
        all.push(tally.clone());
        tally
    }

    pub fn snapshot(&self) -> Vec<Arc<Tally>> {
        self.0.lock().clone()
    }

    /// Before `fork()`: held so the child never inherits it taken.
    pub(crate) fn lock_for_fork(&self) {
        std::mem::forget(self.0.lock());
    }

    pub(crate) fn unlock_after_fork(&self) {
        if self.0.is_locked() {
            // SAFETY: lock_for_fork() locked it in the forking thread and forgot the guard; no
            // other thread can take it while held, so a held lock here is that one.
            unsafe { self.0.force_unlock() };
        }
    }
}

/// `ferrotel_dropped_total{signal, reason}`.
pub static DROPPED: Tallies = Tallies::new();
/// `ferrotel_export_failures_total{exporter}`.
pub static EXPORT_FAILURES: Tallies = Tallies::new();

/// The drop count of one (signal, reason), for a hot path to resolve once and keep.
pub fn drop_counter(signal: &str, reason: &str) -> Arc<Tally> {
    DROPPED.get(&[signal, reason])
}

pub fn record_drops(signal: &str, reason: &str, count: usize) {
    DROPPED.get(&[signal, reason]).add(count as u64);
}

pub fn record_drop(signal: &str, reason: &str) {
    record_drops(signal, reason, 1);
}

/// Counts a failed export and the items it lost; the first failure of each exporter is also
/// reported on stderr (exporter threads never call into Python, so not as a Python warning).
pub fn record_export_failure(exporter: &str, signal: &str, items: usize, reason: &dyn Display) {
    EXPORT_FAILURES.get(&[exporter]).add(1);
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

pub(crate) fn before_fork() {
    DROPPED.lock_for_fork();
    EXPORT_FAILURES.lock_for_fork();
}

pub(crate) fn after_fork() {
    EXPORT_FAILURES.unlock_after_fork();
    DROPPED.unlock_after_fork();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tally_per_label_set() {
        let a = drop_counter("test-signal", "r1");
        a.add(2);
        record_drop("test-signal", "r1");
        assert_eq!(drop_counter("test-signal", "r1").get(), 3);
        assert_eq!(drop_counter("test-signal", "r2").get(), 0);
    }
}
