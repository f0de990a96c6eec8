//! Value cells. Every number a metric records lives in one of these cells and is reached only
//! through them, so the multiprocess mode can back the cells with shared memory without
//! touching the metric types or their Python API: a cell holds its value itself until it is
//! pointed at a word of a memory-mapped file (`SharedCell::share`), and then uses that word.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Set in a shared cell's pointer when the word after its own holds the time of the last write
/// (a gauge in a `mostrecent` multiprocess mode): words are 8-byte aligned, so the bit is free.
const STAMPED: usize = 1;

/// A cell that a multiprocess file can back (see `metrics::multiprocess`).
pub trait SharedCell: Send + Sync {
    /// From now on this cell reads and writes `slot`; what it held so far is added there.
    ///
    /// # Safety
    /// `slot` is an 8-byte aligned word (two when `stamped`) that stays mapped, and is only
    /// accessed atomically, for as long as the process lives.
    unsafe fn share(&self, slot: NonNull<AtomicU64>, stamped: bool);
}

/// The word a cell uses: its own, or the shared one it points at.
#[inline(always)]
fn word<'a>(local: &'a AtomicU64, shared: &AtomicPtr<AtomicU64>) -> (&'a AtomicU64, bool) {
    let ptr = shared.load(Ordering::Relaxed);
    if ptr.is_null() {
        return (local, false);
    }
    let stamped = ptr.addr() & STAMPED != 0;
    // SAFETY: a non-null pointer was stored by `share`, whose contract keeps the word mapped and
    // atomic for the life of the process.
    (unsafe { &*ptr.map_addr(|a| a & !STAMPED) }, stamped)
}

/// Writes the time after a stamped word.
#[cold]
fn stamp(word: &AtomicU64) {
    // SAFETY: `share` was given two words for a stamped cell; this is the second.
    let next = unsafe { &*(word as *const AtomicU64).add(1) };
    next.store(unix_now().to_bits(), Ordering::Relaxed);
}

fn point(shared: &AtomicPtr<AtomicU64>, slot: NonNull<AtomicU64>, stamped: bool) {
    let tag = if stamped { STAMPED } else { 0 };
    shared.store(slot.as_ptr().map_addr(|a| a | tag), Ordering::Release);
}

fn add_f64(word: &AtomicU64, delta: f64) {
    let mut current = word.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + delta).to_bits();
        match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// An `f64` updated with compare-and-swap: lock-free, so a scrape never blocks a writer.
#[derive(Debug, Default)]
pub struct AtomicF64 {
    local: AtomicU64,
    shared: AtomicPtr<AtomicU64>,
}

impl AtomicF64 {
    pub fn new(value: f64) -> Self {
        Self {
            local: AtomicU64::new(value.to_bits()),
            shared: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    #[inline]
    pub fn get(&self) -> f64 {
        f64::from_bits(word(&self.local, &self.shared).0.load(Ordering::Relaxed))
    }

    #[inline]
    pub fn set(&self, value: f64) {
        let (word, stamped) = word(&self.local, &self.shared);
        word.store(value.to_bits(), Ordering::Relaxed);
        if stamped {
            stamp(word);
        }
    }

    #[inline]
    pub fn add(&self, delta: f64) {
        let (word, stamped) = word(&self.local, &self.shared);
        add_f64(word, delta);
        if stamped {
            stamp(word);
        }
    }
}

impl SharedCell for AtomicF64 {
    unsafe fn share(&self, slot: NonNull<AtomicU64>, stamped: bool) {
        point(&self.shared, slot, stamped);
        let held = f64::from_bits(self.local.swap(0, Ordering::AcqRel));
        if held != 0.0 {
            // SAFETY: the caller's contract.
            add_f64(unsafe { slot.as_ref() }, held);
        }
    }
}

/// A count (a histogram bucket, a summary's count): one atomic add, no compare-and-swap.
#[derive(Debug, Default)]
pub struct AtomicCount {
    local: AtomicU64,
    shared: AtomicPtr<AtomicU64>,
}

impl AtomicCount {
    #[inline]
    pub fn get(&self) -> u64 {
        word(&self.local, &self.shared).0.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn add(&self, n: u64) {
        word(&self.local, &self.shared).0.fetch_add(n, Ordering::Relaxed);
    }
}

impl SharedCell for AtomicCount {
    unsafe fn share(&self, slot: NonNull<AtomicU64>, _stamped: bool) {
        point(&self.shared, slot, false);
        let held = self.local.swap(0, Ordering::AcqRel);
        if held != 0 {
            // SAFETY: the caller's contract.
            unsafe { slot.as_ref() }.fetch_add(held, Ordering::Relaxed);
        }
    }
}

/// Seconds since the Unix epoch, as prometheus_client reports `_created` and exemplar times.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_adds_are_exact() {
        let cell = Arc::new(AtomicF64::new(0.0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cell = cell.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| cell.add(1.0)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(cell.get(), 40_000.0);
    }

    #[test]
    fn a_shared_cell_moves_its_value_and_then_writes_the_shared_word() {
        let words = [AtomicU64::new(0), AtomicU64::new(0)];
        let cell = AtomicF64::new(2.5);
        // SAFETY: `words` outlives `cell`, and is only accessed atomically.
        unsafe { cell.share(NonNull::from(&words[0]), true) };
        cell.add(1.0);
        assert_eq!(f64::from_bits(words[0].load(Ordering::Relaxed)), 3.5);
        assert!(
            f64::from_bits(words[1].load(Ordering::Relaxed)) > 0.0,
            "stamped with the time"
        );
        let word = AtomicU64::new(5);
        let count = AtomicCount::default();
        count.add(2);
        // SAFETY: as above.
        unsafe { count.share(NonNull::from(&word), false) };
        count.add(1);
        assert_eq!((count.get(), word.load(Ordering::Relaxed)), (8, 8));
    }
}
