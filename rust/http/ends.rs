//! A finished request leaves the application's thread as plain data: its counter, latency
//! histogram and exemplar, log line and span are recorded on ferrotel's
//! `ferrotel-http` thread. Whatever reads them first takes what is still queued (`drain`): a
//! scrape, `Registry.collect()`, `ferrotel.flush()`, the in-memory span exporter, a tracing or
//! logging reconfiguration, a fork. When the queue is full, or the thread cannot run, the
//! request is recorded on the caller's thread: never lost. In the multiprocess mode it always
//! is, so a worker killed by SIGKILL has counted the requests it answered (but for one it may
//! have been ending at that very moment).

use std::borrow::Cow;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use super::recorder::{InlineStr, Recorder, RequestId};
use super::url::url_path;
use crate::logs::pipeline as log_pipeline;
use crate::logs::record::{Level, LogRecord, SharedFields, Value};
use crate::metrics::multiprocess;
use crate::traces::data::{AttrValue, StatusCode};
use crate::traces::ids;
use crate::traces::span::{finish_recording, Recording, SpanContext};

/// Requests waiting; past this many, callers record their own. A request is about 330 bytes
/// here, and the channel allocates every slot up front: 2,048 is 20 of the thread's 10 ms turns
/// at 10,000 requests a second, and about 700 KB.
const CAPACITY: usize = 2048;
/// How often the thread takes what is queued while requests keep coming.
const TICK: Duration = Duration::from_millis(10);
/// Ticks with nothing queued before the thread sleeps until the next request wakes it.
const IDLE_TICKS: u32 = 100;
/// How long `drain` waits for the request the thread is recording.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// Everything recorded about a request once it has ended.
pub struct Ended {
    pub recorder: Arc<Recorder>,
    pub method: Cow<'static, str>,
    pub path: InlineStr,
    pub scheme: Cow<'static, str>,
    pub template: Arc<str>,
    pub status: u16,
    pub duration: f64,
    pub end_ns: u64,
    pub ctx: SpanContext,
    pub recording: Option<Box<Recording>>,
    pub request_id: RequestId,
    /// Some when the request log line is written: the `log_context` fields it carries.
    pub log_context: Option<Option<SharedFields>>,
}

impl Ended {
    fn record(self) {
        let recorder = &self.recorder;
        let template = &*self.template;
        let status = self.status;
        let mut status_buf = itoa::Buffer::new();
        recorder
            .requests
            .child(&[
                (&*self.method).into(),
                template.into(),
                status_buf.format(status).into(),
            ])
            .core
            .inc(1.0);
        let bucket = recorder.latency.observe(self.duration);
        if self.recording.is_some() {
            let trace_id = ids::TraceHex::new(self.ctx.trace_id);
            recorder
                .latency
                .set_trace_exemplar(bucket, trace_id.as_str(), self.duration, self.end_ns as f64 / 1e9);
        }
        if let Some(context) = self.log_context {
            let record = LogRecord {
                time_ns: self.end_ns,
                level: Level::INFO,
                logger: recorder.logger.clone().unwrap_or_else(|| "ferrotel.http".into()),
                message: "request".to_owned(),
                scoped: context,
                bound: None,
                fields: vec![
                    ("method".into(), Value::Str(self.method.clone().into_owned())),
                    ("path".into(), Value::Str(template.to_owned())),
                    ("status".into(), Value::Int(status.into())),
                    ("duration_ms".into(), Value::Float(self.duration * 1000.0)),
                    ("request_id".into(), Value::Str(self.request_id.as_str().to_owned())),
                ],
                span: self.ctx.is_valid().then_some((self.ctx.trace_id, self.ctx.span_id)),
                error: None,
                origin: None,
            };
            log_pipeline::dispatch_detached(record);
        }
        if let Some(mut r) = self.recording {
            let mut name = String::with_capacity(self.method.len() + 1 + template.len());
            name.push_str(&self.method);
            name.push(' ');
            name.push_str(template);
            r.name = name;
            r.attributes.extend([
                ("http.request.method".into(), AttrValue::Str(self.method.into_owned())),
                (
                    "url.path".into(),
                    AttrValue::Str(url_path(self.path.as_str()).to_owned()),
                ),
                ("url.scheme".into(), AttrValue::Str(self.scheme.into_owned())),
                ("http.route".into(), AttrValue::Str(template.to_owned())),
                ("http.response.status_code".into(), AttrValue::Int(status.into())),
            ]);
            if status >= 500 && r.status != StatusCode::Error {
                r.status = StatusCode::Error;
            }
            finish_recording(&self.ctx, *r, self.end_ns);
        }
    }
}

#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Queue {
    tx: Sender<Ended>,
    rx: Receiver<Ended>,
    /// Requests handed over, and recorded: `drain` waits until the second reaches the first.
    /// Each on its own cache line: one is written by the callers, the other by the thread.
    sent: Padded<AtomicU64>,
    done: Padded<AtomicU64>,
    /// The thread sleeps until woken; set by it just before, cleared by whoever wakes it.
    parked: AtomicBool,
    /// The thread, once started in this process (None again in a forked child).
    thread: Mutex<Option<Thread>>,
    started: AtomicBool,
}

/// `drain` waits here for the request the thread is recording: woken when one is done.
static DONE: Condvar = Condvar::new();
static DONE_LOCK: Mutex<()> = Mutex::new(());
/// Callers waiting in `drain`; the thread notifies only when there is one.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Held while a request is recorded, and across `fork()`: a child never inherits a metric's or
/// a queue's lock taken halfway through.
static RECORDING: Mutex<()> = Mutex::new(());

/// The queue whose thread handle `before_fork` locked, for `after_fork_in_parent` to unlock.
static LOCKED_FOR_FORK: AtomicPtr<Queue> = AtomicPtr::new(std::ptr::null_mut());

/// The queue of this process: a forked child leaves its parent's behind (a thread of the parent
/// may have been halfway through a send) and makes its own.
static QUEUE: AtomicPtr<Queue> = AtomicPtr::new(std::ptr::null_mut());

#[inline]
fn queue() -> &'static Queue {
    existing_queue().unwrap_or_else(new_queue)
}

/// The queue, if this process has served a request.
#[inline]
fn existing_queue() -> Option<&'static Queue> {
    let q = QUEUE.load(Ordering::Acquire);
    // SAFETY: a non-null QUEUE is a leaked Box, never freed.
    (!q.is_null()).then(|| unsafe { &*q })
}

#[cold]
fn new_queue() -> &'static Queue {
    let (tx, rx) = bounded(CAPACITY);
    let fresh = Box::into_raw(Box::new(Queue {
        tx,
        rx,
        sent: Padded(AtomicU64::new(0)),
        done: Padded(AtomicU64::new(0)),
        parked: AtomicBool::new(false),
        thread: Mutex::new(None),
        started: AtomicBool::new(false),
    }));
    match QUEUE.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just leaked.
        Ok(_) => unsafe { &*fresh },
        Err(current) => {
            // SAFETY: `fresh` was never shared; `current` is a leaked Box, never freed.
            unsafe {
                drop(Box::from_raw(fresh));
                &*current
            }
        }
    }
}

/// Hands the ended request to the recording thread; records it here when it cannot.
pub fn submit(ended: Ended) {
    // In the multiprocess mode a worker may be killed at any moment (gunicorn's timeout, an
    // OOM kill): a request is in its file as it ends, not in a queue that dies with it.
    if multiprocess::enabled() {
        return record_here(ended);
    }
    let q = queue();
    if !q.started.load(Ordering::Acquire) && !start(q) {
        return record_here(ended);
    }
    q.sent.fetch_add(1, Ordering::AcqRel);
    match q.tx.try_send(ended) {
        Ok(()) => {
            // Pairs with the fence in `run`: either the thread sees this request, or this
            // sees that the thread has gone to sleep and wakes it.
            fence(Ordering::SeqCst);
            if q.parked.load(Ordering::Relaxed) && q.parked.swap(false, Ordering::AcqRel) {
                if let Some(thread) = q.thread.lock().as_ref() {
                    thread.unpark();
                }
            }
        }
        Err(err) => {
            record_here(err.into_inner());
            mark_done(q, 1);
        }
    }
}

fn record_here(ended: Ended) {
    let _recording = RECORDING.lock();
    ended.record();
}

/// Starts the recording thread; false when it could not be started.
#[cold]
fn start(q: &'static Queue) -> bool {
    let mut thread = q.thread.lock();
    if q.started.load(Ordering::Acquire) {
        return true;
    }
    match std::thread::Builder::new()
        .name("ferrotel-http".into())
        .spawn(move || run(q))
    {
        Ok(handle) => {
            *thread = Some(handle.thread().clone());
            q.started.store(true, Ordering::Release);
            true
        }
        Err(_) => false,
    }
}

fn run(q: &'static Queue) {
    let mut idle = 0;
    loop {
        if take_queued(q) {
            idle = 0;
        } else {
            idle += 1;
        }
        if idle < IDLE_TICKS {
            std::thread::sleep(TICK);
            continue;
        }
        idle = 0;
        q.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if q.rx.is_empty() {
            std::thread::park();
        }
        q.parked.store(false, Ordering::Relaxed);
    }
}

/// Records every request queued now; true when there was one.
fn take_queued(q: &Queue) -> bool {
    let mut any = false;
    while let Ok(ended) = q.rx.try_recv() {
        let _recording = RECORDING.lock();
        ended.record();
        mark_done(q, 1);
        any = true;
    }
    any
}

/// Counts recorded requests, and wakes whoever waits for them in `drain`.
fn mark_done(q: &Queue, n: u64) {
    q.done.fetch_add(n, Ordering::SeqCst);
    if WAITING.load(Ordering::SeqCst) > 0 {
        // Taken so the wake-up cannot fall between a waiter's check and its wait.
        let _waiters = DONE_LOCK.lock();
        DONE.notify_all();
    }
}

/// Records every request ended so far, here, before its telemetry is read or exported.
pub fn drain() {
    // A process that has served no request has no queue, and does not make one here.
    let Some(q) = existing_queue() else {
        return;
    };
    let sent = q.sent.load(Ordering::Acquire);
    if q.done.load(Ordering::Acquire) >= sent {
        return;
    }
    // The thread may hold one it took before this call: wait for it to be done, briefly.
    let deadline = Instant::now() + DRAIN_WAIT;
    loop {
        take_queued(q);
        let mut guard = DONE_LOCK.lock();
        // Counted as waiting before the check, so a request done after it wakes this wait.
        WAITING.fetch_add(1, Ordering::SeqCst);
        let done = q.done.load(Ordering::SeqCst) >= sent;
        let timed_out = done || DONE.wait_until(&mut guard, deadline).timed_out();
        WAITING.fetch_sub(1, Ordering::SeqCst);
        if done || timed_out {
            return;
        }
    }
}

/// Records what is queued, so a child starts from the same counts as its parent; then holds the
/// locks from just before `fork()` until just after.
pub fn before_fork() {
    drain();
    if let Some(q) = existing_queue() {
        std::mem::forget(q.thread.lock());
        LOCKED_FOR_FORK.store(q as *const Queue as *mut Queue, Ordering::Release);
    }
    std::mem::forget(RECORDING.lock());
    // No caller of `drain` is then between its check and its wait.
    std::mem::forget(DONE_LOCK.lock());
}

/// The child has no recording thread, and the requests still queued are the parent's: it leaves
/// that queue behind (a thread of the parent may have been halfway through a send).
pub fn after_fork_in_child() {
    // The parent's queue (and the lock on its thread handle) is left behind, unused.
    LOCKED_FOR_FORK.store(std::ptr::null_mut(), Ordering::Release);
    if RECORDING.is_locked() {
        // SAFETY: before_fork() locked it in this thread and forgot the guard; this is the
        // matching unlock (the child has no other thread).
        unsafe { RECORDING.force_unlock() };
    }
    if DONE_LOCK.is_locked() {
        // SAFETY: as for RECORDING, locked by before_fork() in this thread.
        unsafe { DONE_LOCK.force_unlock() };
    }
    // The parent's waiters are not in the child.
    WAITING.store(0, Ordering::SeqCst);
    // A new queue (and thread) when the child serves its first request.
    QUEUE.store(std::ptr::null_mut(), Ordering::Release);
}

pub fn after_fork_in_parent() {
    let locked = LOCKED_FOR_FORK.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: before_fork() locked both in this thread and forgot the guards (the queue's
    // thread handle only when it named the queue in LOCKED_FOR_FORK, a leaked Box); no other
    // thread can take them while they are held, so a held lock here is that one.
    unsafe {
        if !locked.is_null() {
            (*locked).thread.force_unlock();
        }
        if RECORDING.is_locked() {
            RECORDING.force_unlock();
        }
        if DONE_LOCK.is_locked() {
            DONE_LOCK.force_unlock();
        }
    }
}
