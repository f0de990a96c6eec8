//! The tracing pipeline: resource, sampler, limits, and where ended spans go. Installed by
//! `configure_tracing`; every tracer reads the current one when a span starts, so tracers made
//! at import time follow later configuration.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::attributes::SpanLimits;
use super::data::{AttrValue, Resource, SpanData};
use super::export::redacting::redacted;
use super::sampler::Sampler;
use crate::transport::redact::Redactor;
use crate::transport::worker::BatchWorker;

/// Spans kept in memory, for tests: written synchronously when a span ends.
#[derive(Default)]
pub struct SpanStore {
    pub spans: Mutex<Vec<Arc<SpanData>>>,
}

pub struct Pipeline {
    pub resource: Arc<Resource>,
    /// None when no rule could change a span: nothing is then even looked at.
    pub redactor: Option<Arc<Redactor>>,
    pub sampler: Sampler,
    pub limits: SpanLimits,
    pub workers: Vec<Arc<BatchWorker<Arc<SpanData>>>>,
    pub stores: Vec<Arc<SpanStore>>,
}

impl Pipeline {
    pub fn on_end(&self, span: Arc<SpanData>) {
        if !self.stores.is_empty() {
            // The exporters redact on their threads; the in-memory store (for tests) here.
            let stored = self
                .redactor
                .as_ref()
                .and_then(|r| redacted(r, &span))
                .map_or_else(|| span.clone(), Arc::new);
            for store in &self.stores {
                store.spans.lock().push(stored.clone());
            }
        }
        // The last worker gets the span itself, not a clone: the application's thread then
        // never holds the last reference, and the span is freed where it is exported.
        if let Some((last, others)) = self.workers.split_last() {
            for worker in others {
                worker.send(span.clone());
            }
            last.send(span);
        }
    }
}

static CURRENT: RwLock<Option<Arc<Pipeline>>> = RwLock::new(None);

/// What the installed sampler decides on its own, read without a lock.
static SHORTCUT: AtomicU8 = AtomicU8::new(ASK);
const ASK: u8 = 0;
const NEVER: u8 = 1;
const ONLY_UNDER_SAMPLED_PARENT: u8 = 2;

fn default_pipeline() -> Pipeline {
    Pipeline {
        resource: Arc::new(Resource {
            attributes: vec![("service.name".into(), AttrValue::Str("unknown_service".into()))],
        }),
        redactor: None,
        sampler: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        limits: SpanLimits::default(),
        workers: Vec::new(),
        stores: Vec::new(),
    }
}

#[inline]
pub fn current() -> Arc<Pipeline> {
    if let Some(pipeline) = CURRENT.read().as_ref() {
        return pipeline.clone();
    }
    CURRENT
        .write()
        .get_or_insert_with(|| Arc::new(default_pipeline()))
        .clone()
}

/// The sampling decision, and the pipeline to record into when the span is sampled (an
/// unsampled span does not even take a reference to it).
#[inline]
pub fn sample(parent: Option<&super::span::SpanContext>, trace_id: u128) -> (bool, Option<Arc<Pipeline>>) {
    // Decisions the installed sampler makes without the pipeline: an unsampled span should
    // cost next to nothing, so it does not even take the pipeline's lock.
    match SHORTCUT.load(Ordering::Relaxed) {
        NEVER => return (false, None),
        ONLY_UNDER_SAMPLED_PARENT if !parent.is_some_and(|p| p.is_valid() && p.sampled()) => {
            return (false, None);
        }
        _ => {}
    }
    if let Some(pipeline) = CURRENT.read().as_ref() {
        let sampled = pipeline.sampler.should_sample(parent, trace_id);
        return (sampled, sampled.then(|| pipeline.clone()));
    }
    let pipeline = current();
    let sampled = pipeline.sampler.should_sample(parent, trace_id);
    (sampled, sampled.then_some(pipeline))
}

pub fn is_configured() -> bool {
    CURRENT.read().is_some()
}

/// Installs `pipeline`; spans already started finish in the pipeline they started in, whose
/// workers export what they hold and stop once the last of those spans has ended.
pub fn install(pipeline: Pipeline) {
    let shortcut = match &pipeline.sampler {
        Sampler::AlwaysOff => NEVER,
        Sampler::ParentBased(root) if **root == Sampler::AlwaysOff => ONLY_UNDER_SAMPLED_PARENT,
        _ => ASK,
    };
    let previous = {
        let mut current = CURRENT.write();
        // Under the lock, so two installs at once cannot pair one's sampler with the other's
        // shortcut.
        SHORTCUT.store(shortcut, Ordering::Relaxed);
        current.replace(Arc::new(pipeline))
    };
    drop(previous);
}
