//! A metric family: the description shared by all label sets, and the children keyed by label
//! values. A child is looked up without allocating on the hit path and can be kept by the caller.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use indexmap::{Equivalent, IndexMap};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};

use super::exposition::{FamilyDesc, SampleSink};
use super::multiprocess::{self, Layout};
use super::value::{unix_now, SharedCell};
use crate::runtime::errors::{Error, Result};
use crate::runtime::selfmetrics;

/// Label value of the series that absorbs label sets past the cardinality limit.
pub const OVERFLOW_VALUE: &str = "__ferrotel_overflow__";
pub const DEFAULT_CARDINALITY_LIMIT: usize = 10_000;

/// What a child of one metric type stores and how it is written out.
pub trait Core: Send + Sync + 'static {
    type Config: Send + Sync + 'static;
    fn new(config: &Self::Config) -> Self;
    /// Writes this child's samples; `labels` holds the child's label values.
    fn write(&self, desc: &FamilyDesc, labels: &[String], created: f64, sink: &mut dyn SampleSink);
    /// How a multiprocess file lays out this type's cells; None keeps children in their own
    /// process (Info, Enum), as prometheus_client's multiprocess mode does.
    fn layout(_config: &Self::Config) -> Option<Layout> {
        None
    }
    /// The cells a multiprocess file backs, in the layout's order.
    fn cells(&self) -> Vec<&dyn SharedCell> {
        Vec::new()
    }
}

pub struct Child<C> {
    pub values: Box<[String]>,
    pub core: Arc<C>,
    pub created: f64,
    /// The Python object handed out by `labels()`, made on first request and reused.
    pub object: OnceLock<Py<PyAny>>,
}

impl<C: Core> Child<C> {
    fn new(desc: &FamilyDesc, values: Box<[String]>, config: &C::Config) -> Self {
        let core = Arc::new(C::new(config));
        multiprocess::attach(desc, config, &values, &core);
        Self {
            values,
            core,
            created: unix_now(),
            object: OnceLock::new(),
        }
    }
}

#[derive(PartialEq, Eq)]
struct LabelKey(Box<[String]>);

struct LabelQuery<'a, 'b>(&'b [Cow<'a, str>]);

fn hash_strs<'s, H: Hasher>(parts: impl ExactSizeIterator<Item = &'s str>, state: &mut H) {
    state.write_usize(parts.len());
    for part in parts {
        state.write(part.as_bytes());
        state.write_u8(0xff);
    }
}

impl Hash for LabelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_strs(self.0.iter().map(String::as_str), state)
    }
}

impl Hash for LabelQuery<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_strs(self.0.iter().map(|c| c.as_ref()), state)
    }
}

impl Equivalent<LabelKey> for LabelQuery<'_, '_> {
    fn equivalent(&self, key: &LabelKey) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| a.as_ref() == b.as_str())
    }
}

type ChildMap<C> = IndexMap<LabelKey, Arc<Child<C>>, foldhash::fast::RandomState>;

pub struct Family<C: Core> {
    pub desc: FamilyDesc,
    pub config: C::Config,
    children: Mutex<ChildMap<C>>,
    limit: usize,
    overflow: Mutex<Option<Arc<Child<C>>>>,
}

impl<C: Core> Family<C> {
    pub fn new(desc: FamilyDesc, config: C::Config, limit: usize) -> Self {
        let children = Mutex::new(IndexMap::with_hasher(foldhash::fast::RandomState::default()));
        let family = Self {
            desc,
            config,
            children,
            limit: limit.max(1),
            overflow: Mutex::new(None),
        };
        if family.desc.labelnames.is_empty() {
            family.children.lock().insert(
                LabelKey(Box::new([])),
                Arc::new(Child::new(&family.desc, Box::new([]), &family.config)),
            );
        }
        family
    }

    /// The child for these label values, created when new (or the overflow child past the limit).
    pub fn child(&self, values: &[Cow<'_, str>]) -> Arc<Child<C>> {
        let query = LabelQuery(values);
        let mut children = self.children.lock();
        if let Some(child) = children.get(&query) {
            return child.clone();
        }
        if children.len() >= self.limit {
            drop(children);
            selfmetrics::record_drop("metrics", "cardinality_limit");
            return self.overflow_child();
        }
        let owned: Box<[String]> = values.iter().map(|v| v.to_string()).collect();
        let child = Arc::new(Child::new(&self.desc, owned.clone(), &self.config));
        children.insert(LabelKey(owned), child.clone());
        child
    }

    fn overflow_child(&self) -> Arc<Child<C>> {
        self.overflow
            .lock()
            .get_or_insert_with(|| {
                let values = self
                    .desc
                    .labelnames
                    .iter()
                    .map(|_| OVERFLOW_VALUE.to_string())
                    .collect();
                Arc::new(Child::new(&self.desc, values, &self.config))
            })
            .clone()
    }

    /// The only child of a family without labels.
    pub fn unlabelled(&self) -> Option<Arc<Child<C>>> {
        if self.desc.labelnames.is_empty() {
            self.children.lock().get_index(0).map(|(_, c)| c.clone())
        } else {
            None
        }
    }

    /// Removes one label set; the removed child is returned so the caller drops it unlocked.
    pub fn remove(&self, values: &[Cow<'_, str>]) -> Option<Arc<Child<C>>> {
        self.children.lock().shift_remove(&LabelQuery(values))
    }

    pub fn clear(&self) -> Vec<Arc<Child<C>>> {
        let mut children = self.children.lock();
        if self.desc.labelnames.is_empty() {
            return Vec::new();
        }
        let mut removed: Vec<_> = children.drain(..).map(|(_, c)| c).collect();
        removed.extend(self.overflow.lock().take());
        removed
    }

    pub fn children(&self) -> Vec<Arc<Child<C>>> {
        let mut all: Vec<_> = self.children.lock().values().cloned().collect();
        all.extend(self.overflow.lock().clone());
        all
    }

    pub fn write(&self, sink: &mut dyn SampleSink) {
        sink.family(&self.desc);
        for child in self.children() {
            child.core.write(&self.desc, &child.values, child.created, sink);
        }
    }

    /// Reads label values given as `labels(*values)` or `labels(**values)`.
    pub fn label_values<'a>(
        &self,
        args: &'a Bound<'_, PyTuple>,
        kwargs: Option<&'a Bound<'_, PyDict>>,
    ) -> Result<Vec<Cow<'a, str>>> {
        let names = &self.desc.labelnames;
        if names.is_empty() {
            return Err(Error::invalid(format!("metric {:?} has no labels", self.desc.name)));
        }
        let kwargs = kwargs.filter(|k| !k.is_empty());
        match kwargs {
            Some(_) if !args.is_empty() => Err(Error::invalid(format!(
                "metric {:?}: pass label values either by position or by name, not both",
                self.desc.name
            ))),
            Some(kwargs) => {
                if kwargs.len() != names.len() {
                    return Err(self.wrong_labels(&kwargs.repr()?.to_string()));
                }
                let mut values = Vec::with_capacity(names.len());
                for name in names.iter() {
                    match kwargs.get_item(name)? {
                        Some(value) => values.push(Cow::Owned(label_value(&value, name)?.into_owned())),
                        None => return Err(self.wrong_labels(&kwargs.repr()?.to_string())),
                    }
                }
                Ok(values)
            }
            None => {
                if args.len() != names.len() {
                    return Err(self.wrong_labels(&args.repr()?.to_string()));
                }
                args.as_slice()
                    .iter()
                    .zip(names.iter())
                    .map(|(value, name)| label_value(value, name))
                    .collect()
            }
        }
    }

    fn wrong_labels(&self, given: &str) -> Error {
        Error::invalid(format!(
            "metric {:?} expects values for the labels {:?}, got {given}",
            self.desc.name, self.desc.labelnames
        ))
    }
}

fn label_value<'a>(value: &'a Bound<'_, PyAny>, name: &str) -> Result<Cow<'a, str>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Cow::Borrowed(s.to_str()?));
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() || value.is_instance_of::<PyBool>() {
        return Ok(Cow::Owned(value.str()?.to_str()?.to_owned()));
    }
    Err(Error::wrong_type(format!(
        "label {name:?}: value {} of type {} is not a str, int or float",
        value.repr().map(|r| r.to_string()).unwrap_or_default(),
        value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}
