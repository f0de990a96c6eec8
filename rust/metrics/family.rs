//! A metric family: the description shared by all label sets, and the children keyed by label
//! values. A child is looked up without allocating on the hit path and can be kept by the caller.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use indexmap::{Equivalent, IndexMap};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};
use smallvec::SmallVec;

use super::exposition::{FamilyDesc, SampleSink};
use super::multiprocess::{self, Layout};
use super::validate;
use super::value::SharedCell;
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
    fn write(&self, desc: &FamilyDesc, labels: &[String], sink: &mut dyn SampleSink);
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
            object: OnceLock::new(),
        }
    }
}

#[derive(PartialEq, Eq)]
struct LabelKey(Box<[String]>);

struct LabelQuery<'b, S>(&'b [S]);

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

impl<S: AsRef<str>> Hash for LabelQuery<'_, S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_strs(self.0.iter().map(|c| c.as_ref()), state)
    }
}

impl<S: AsRef<str>> Equivalent<LabelKey> for LabelQuery<'_, S> {
    fn equivalent(&self, key: &LabelKey) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| a.as_ref() == b.as_str())
    }
}

/// A label value as prometheus_client's `str(value)` makes it: a `str` borrowed, an `int`
/// formatted in Rust (no Python string made), anything else through `str()`.
pub enum LabelText<'a> {
    Borrowed(&'a str),
    Int { digits: [u8; 20], len: u8 },
    Owned(Box<str>),
}

impl LabelText<'_> {
    fn int(value: i64) -> Self {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(value).as_bytes();
        let mut digits = [0u8; 20];
        digits[..text.len()].copy_from_slice(text);
        LabelText::Int {
            digits,
            len: text.len() as u8,
        }
    }
}

impl AsRef<str> for LabelText<'_> {
    #[inline]
    fn as_ref(&self) -> &str {
        match self {
            LabelText::Borrowed(s) => s,
            LabelText::Int { digits, len } => std::str::from_utf8(&digits[..*len as usize]).unwrap_or(""),
            LabelText::Owned(s) => s,
        }
    }
}

/// The label values of one `labels()` call; inline for up to six labels, so no allocation.
pub type LabelValues<'a> = SmallVec<[LabelText<'a>; 6]>;

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
        self.child_for(values)
    }

    pub fn child_for<S: AsRef<str>>(&self, values: &[S]) -> Arc<Child<C>> {
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
        let owned: Box<[String]> = values.iter().map(|v| v.as_ref().to_string()).collect();
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
    pub fn remove<S: AsRef<str>>(&self, values: &[S]) -> Option<Arc<Child<C>>> {
        self.children.lock().shift_remove(&LabelQuery(values))
    }

    /// Removes every label set whose value at each given position is the given one.
    pub fn remove_matching(&self, wanted: &[(usize, String)]) -> Vec<Arc<Child<C>>> {
        let matches = |values: &[String]| wanted.iter().all(|(i, v)| values.get(*i) == Some(v));
        let mut removed = Vec::new();
        self.children.lock().retain(|key, child| {
            let keep = !matches(&key.0);
            if !keep {
                removed.push(child.clone());
            }
            keep
        });
        let mut overflow = self.overflow.lock();
        if overflow.as_ref().is_some_and(|c| matches(&c.values)) {
            removed.extend(overflow.take());
        }
        removed
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
            child.core.write(&self.desc, &child.values, sink);
        }
    }

    /// `counter:name`, as prometheus_client's `str()` of a metric.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.desc.kind.as_str(), self.desc.name)
    }

    /// Reads label values given as `labels(*values)` or `labels(**values)` into `out`, which
    /// the caller keeps on its stack (filled in place: no allocation, no copy of the buffer).
    pub fn label_values<'a>(
        &self,
        args: &'a Bound<'_, PyTuple>,
        kwargs: Option<&'a Bound<'_, PyDict>>,
        out: &mut LabelValues<'a>,
    ) -> Result<()> {
        let names = &self.desc.labelnames;
        if names.is_empty() {
            return Err(Error::invalid(format!(
                "No label names were set when constructing {}",
                self.describe()
            )));
        }
        match kwargs.filter(|k| !k.is_empty()) {
            Some(_) if !args.is_empty() => Err(Error::invalid(format!(
                "Can't pass both *args and **kwargs: metric {:?} takes label values either by position or by name",
                self.desc.name
            ))),
            Some(kwargs) => {
                let wrong = || {
                    let given = kwargs.repr().map(|r| r.to_string()).unwrap_or_default();
                    self.wrong_labels("Incorrect label names", &given)
                };
                if kwargs.len() != names.len() {
                    return Err(wrong());
                }
                for name in names.iter() {
                    match kwargs.get_item(name)? {
                        Some(value) => out.push(LabelText::Owned(label_value(&value)?.as_ref().into())),
                        None => return Err(wrong()),
                    }
                }
                Ok(())
            }
            None => {
                if args.len() != names.len() {
                    return Err(self.wrong_labels("Incorrect label count", &args.repr()?.to_string()));
                }
                for value in args.as_slice() {
                    out.push(label_value(value)?);
                }
                Ok(())
            }
        }
    }

    fn wrong_labels(&self, what: &str, given: &str) -> Error {
        Error::invalid(format!(
            "{what}: metric {:?} expects values for the labels {:?}, got {given}",
            self.desc.name, self.desc.labelnames
        ))
    }
}

/// prometheus_client's `str(value)` of a label value; a lone surrogate becomes U+FFFD.
pub fn label_value<'a>(value: &'a Bound<'_, PyAny>) -> Result<LabelText<'a>> {
    if let Ok(s) = value.cast_exact::<PyString>() {
        return Ok(match validate::lossy_text(s) {
            Cow::Borrowed(text) => LabelText::Borrowed(text),
            Cow::Owned(text) => LabelText::Owned(text.into()),
        });
    }
    if let Ok(i) = value.cast_exact::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            return Ok(LabelText::int(n));
        }
    }
    let text = value.str()?;
    Ok(LabelText::Owned(validate::lossy_text(&text).into()))
}
