//! Batch workers: a bounded queue between the application's threads and one exporter thread.
//! Sending never blocks: a full queue drops the item and counts it. The exporter runs only on
//! its own thread, never attached to Python. After `fork()` the child starts fresh queues and
//! threads and abandons the parent's buffered items, which the parent still exports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::RwLock;

use super::error::ExportError;
use crate::runtime::lifecycle::{self, Lifecycle};
use crate::runtime::selfmetrics::{self, Tally};

pub trait Exporter<T>: Send {
    /// The `exporter` label of `ferrotel_export_failures_total`.
    fn name(&self) -> &str;
    fn export(&mut self, batch: &[T], deadline: Instant) -> Result<(), ExportError>;
}

/// Builds the exporter for a (re)started worker thread: after a fork the parent's exporter,
/// which lives on a thread the child does not have, cannot be reused.
pub type ExporterFactory<T> = Arc<dyn Fn() -> Box<dyn Exporter<T>> + Send + Sync>;

#[derive(Clone, Debug)]
pub struct BatchConfig {
    pub max_queue: usize,
    pub max_batch: usize,
    pub delay: Duration,
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    /// The OpenTelemetry SDK's `OTEL_BSP_*` defaults.
    fn default() -> Self {
        Self {
            max_queue: 2048,
            max_batch: 512,
            delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

enum Control {
    /// A full batch is waiting: sent once per batch, so the writer thread sleeps otherwise and
    /// a send is not a wake-up syscall.
    Wake,
    Flush {
        deadline: Instant,
        done: Sender<()>,
    },
    Stop {
        deadline: Instant,
        done: Sender<()>,
    },
}

struct Channels<T> {
    data: Sender<T>,
    control: Sender<Control>,
    wake_pending: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub struct BatchWorker<T: Send + 'static> {
    signal: &'static str,
    /// `ferrotel_dropped_total{reason="queue_full"}`, resolved once: a dead backend fills the
    /// queue, and every later send lands here.
    queue_full: Arc<Tally>,
    config: BatchConfig,
    factory: ExporterFactory<T>,
    channels: RwLock<Option<Channels<T>>>,
}

impl<T: Send + 'static> BatchWorker<T> {
    pub fn start(signal: &'static str, config: BatchConfig, factory: ExporterFactory<T>) -> Arc<Self> {
        let worker = Arc::new(Self {
            signal,
            queue_full: selfmetrics::drop_counter(signal, "queue_full"),
            config,
            factory,
            channels: RwLock::new(None),
        });
        *worker.channels.write() = Some(worker.spawn());
        lifecycle::register(worker.clone());
        worker
    }

    fn spawn(&self) -> Channels<T> {
        let (data, data_rx) = bounded(self.config.max_queue.max(1));
        let (control, control_rx) = unbounded();
        let wake_pending = Arc::new(AtomicBool::new(false));
        let exporter = (self.factory)();
        let config = self.config.clone();
        let signal = self.signal;
        let pending = wake_pending.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ferrotel-{signal}-export"))
            .spawn(move || run(exporter, data_rx, control_rx, pending, config, signal))
            .ok();
        Channels {
            data,
            control,
            wake_pending,
            thread,
        }
    }

    /// Queues one item for export; never blocks, never fails the caller.
    #[inline]
    pub fn send(&self, item: T) {
        let channels = self.channels.read();
        let reason = match channels.as_ref() {
            Some(c) => match c.data.try_send(item) {
                Ok(()) => {
                    if c.data.len() >= self.config.max_batch && !c.wake_pending.swap(true, Ordering::AcqRel) {
                        let _ = c.control.send(Control::Wake);
                    }
                    return;
                }
                Err(TrySendError::Full(_)) => {
                    self.queue_full.add(1);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => "shutdown",
            },
            None => "shutdown",
        };
        drop(channels);
        selfmetrics::record_drop(self.signal, reason);
    }

    pub fn queued(&self) -> usize {
        self.channels.read().as_ref().map(|c| c.data.len()).unwrap_or(0)
    }

    fn ask(&self, deadline: Instant, stop: bool) -> bool {
        let (done, done_rx) = bounded(1);
        let sent = {
            let channels = self.channels.read();
            let control = if stop {
                Control::Stop { deadline, done }
            } else {
                Control::Flush { deadline, done }
            };
            channels.as_ref().is_some_and(|c| c.control.send(control).is_ok())
        };
        sent && done_rx.recv_deadline(deadline).is_ok()
    }
}

impl<T: Send + 'static> Lifecycle for BatchWorker<T> {
    fn flush(&self, deadline: Instant) -> bool {
        self.ask(deadline, false)
    }

    fn shutdown(&self, deadline: Instant) -> bool {
        let stopped = self.ask(deadline, true);
        if let Some(mut channels) = self.channels.write().take() {
            if stopped {
                if let Some(thread) = channels.thread.take() {
                    let _ = thread.join();
                }
            }
        }
        stopped
    }

    fn restart_in_child(&self) {
        let fresh = self.spawn();
        let mut channels = self.channels.write();
        if let Some(old) = channels.replace(fresh) {
            // The parent's queue and thread handle: the parent exports those items, so the child
            // must neither export nor touch them (their locks may have been held at fork time).
            std::mem::forget(old);
        }
    }
}

fn export_batch<T>(exporter: &mut Box<dyn Exporter<T>>, batch: &mut Vec<T>, timeout: Duration, signal: &str) {
    if batch.is_empty() {
        return;
    }
    if let Err(reason) = exporter.export(batch, Instant::now() + timeout) {
        selfmetrics::record_export_failure(exporter.name(), signal, batch.len(), &reason);
    }
    batch.clear();
}

/// Exports everything queued so far, in batches, until the queue is empty or the deadline.
fn drain<T>(
    exporter: &mut Box<dyn Exporter<T>>,
    batch: &mut Vec<T>,
    data: &Receiver<T>,
    config: &BatchConfig,
    deadline: Instant,
    signal: &str,
) {
    loop {
        while batch.len() < config.max_batch {
            match data.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        let timeout = config
            .export_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        export_batch(exporter, batch, timeout, signal);
        if Instant::now() >= deadline {
            return;
        }
    }
}

fn run<T>(
    mut exporter: Box<dyn Exporter<T>>,
    data: Receiver<T>,
    control: Receiver<Control>,
    wake_pending: Arc<AtomicBool>,
    config: BatchConfig,
    signal: &str,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    let mut drain_until = |deadline: Instant| drain(&mut exporter, &mut batch, &data, &config, deadline, signal);
    let export_deadline = || Instant::now() + config.export_timeout;
    let mut next_export = Instant::now() + config.delay;
    loop {
        let wait = next_export.saturating_duration_since(Instant::now());
        match control.recv_timeout(wait) {
            Ok(Control::Wake) => {
                wake_pending.store(false, Ordering::Release);
                drain_until(export_deadline());
            }
            Ok(Control::Flush { deadline, done }) => {
                drain_until(deadline);
                let _ = done.send(());
            }
            Ok(Control::Stop { deadline, done }) => {
                drain_until(deadline);
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                drain_until(export_deadline());
                next_export = Instant::now() + config.delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The worker was dropped: export what is left, then end.
                drain_until(export_deadline());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);

    impl Exporter<u32> for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn export(&mut self, batch: &[u32], _deadline: Instant) -> Result<(), ExportError> {
            self.0.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn flush_exports_everything_queued() {
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let config = BatchConfig {
            max_queue: 100,
            max_batch: 7,
            ..BatchConfig::default()
        };
        let worker = BatchWorker::start("test", config, Arc::new(move || Box::new(Counting(counter.clone()))));
        for i in 0..50 {
            worker.send(i);
        }
        assert!(worker.flush(Instant::now() + Duration::from_secs(5)));
        assert_eq!(seen.load(Ordering::SeqCst), 50);
        assert!(worker.shutdown(Instant::now() + Duration::from_secs(5)));
        worker.send(1);
        assert_eq!(seen.load(Ordering::SeqCst), 50);
    }
}
