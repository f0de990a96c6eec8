//! The registry: registration order, duplicate names, Python collectors, and rendering. Native
//! families render without the GIL; Python collectors and `set_function` gauges are read first,
//! attached, into owned families, so no Rust lock is ever held while attached.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use pyo3::prelude::*;
use pyo3::types::PySet;

use super::exposition::{negotiate, Escaping, FamilyDesc, FilterSink, Format, Kind, OwnedFamily, Sample};
use super::exposition::{SampleSink, SnapshotSink, TextSink};
use super::multiprocess::{self, FilesSource, Scrape};
use super::native::NativeFamily;
use super::process::{Part, ProcessCollector};
use crate::runtime::errors::{Error, Result};

pub use super::args::RegistryArg;
pub use super::collectors::to_prometheus_families;
pub use super::pyregistry::{default_registry, registry_core, PyRegistry};
pub use super::views::{generate_latest, generate_openmetrics};

pub enum Source {
    Native(NativeFamily),
    Python(Py<PyAny>),
    Process(Arc<ProcessCollector>, Part),
    /// ferrotel's own drop and export-failure counts.
    Own,
    /// The merged files of a multiprocess directory.
    Files(FilesSource),
}

struct Entry {
    id: u64,
    source: Source,
    names: Vec<String>,
    /// What the duplicate-name error says holds these names.
    holder: String,
}

/// What a registry was made with, beyond its entries.
pub struct Options {
    pub prefix: String,
    pub default_labels: Vec<(String, String)>,
    pub cardinality_limit: usize,
    /// Names of a collector without `describe()` come from `collect()` (prometheus_client's
    /// `auto_describe`); without it, such a collector is registered without names.
    pub auto_describe: bool,
    /// A restricted registry also collects the collectors registered without names.
    pub support_collectors_without_names: bool,
}

pub struct RegistryCore {
    entries: Mutex<Vec<Entry>>,
    next_id: AtomicU64,
    /// Put before the name of each metric declared from now on.
    pub prefix: RwLock<String>,
    /// Added to every series at render time.
    pub default_labels: RwLock<Vec<(String, String)>>,
    pub cardinality_limit: usize,
    pub auto_describe: bool,
    pub support_collectors_without_names: bool,
    /// The labels of the `target_info` series, sorted by name.
    target_info: RwLock<Option<Vec<(String, String)>>>,
}

pub struct Exposition {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub gzip: bool,
}

/// Names a registration would share with what is registered: prometheus_client's
/// `DuplicateTimeseries`, raised as ferrotel's subclass of it.
pub struct Duplicates {
    names: Vec<String>,
    holder: String,
}

impl From<Duplicates> for Error {
    fn from(d: Duplicates) -> Error {
        let detail = format!("already written by {}", d.holder);
        Python::attach(|py| {
            let made = (|| -> PyResult<PyErr> {
                let class = py.import("ferrotel.registry")?.getattr("DuplicateTimeseries")?;
                let names = PySet::new(py, &d.names)?;
                Ok(PyErr::from_value(class.call1((names, detail.as_str()))?))
            })();
            Error::Python(made.unwrap_or_else(|e| e))
        })
    }
}

/// How a render is asked for: format, name escaping, and for a restricted registry the names.
#[derive(Clone, Copy)]
pub struct Render<'a> {
    pub format: Format,
    pub escaping: Escaping,
    pub names: Option<&'a HashSet<String>>,
}

impl Render<'_> {
    pub fn plain(format: Format) -> Self {
        Self {
            format,
            escaping: Escaping::Underscores,
            names: None,
        }
    }
}

impl RegistryCore {
    pub fn new(options: Options) -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            prefix: RwLock::new(options.prefix),
            default_labels: RwLock::new(options.default_labels),
            cardinality_limit: options.cardinality_limit,
            auto_describe: options.auto_describe,
            support_collectors_without_names: options.support_collectors_without_names,
            target_info: RwLock::new(None),
        }
    }

    /// Adds a source unless one of its names is taken (`target_info` is taken while set);
    /// `holder` names the source in a later duplicate-name error.
    pub fn add(&self, source: Source, names: Vec<String>, holder: String) -> Result<()> {
        let mut entries = self.entries.lock();
        let target = self.target_info.read().is_some();
        let mut taken: Vec<String> = Vec::new();
        let mut holder_of_taken = None;
        for name in &names {
            let owner = if target && name == "target_info" {
                Some("the registry's target_info")
            } else {
                entries
                    .iter()
                    .find(|e| e.names.contains(name))
                    .map(|e| e.holder.as_str())
            };
            if let Some(owner) = owner {
                if !taken.contains(name) {
                    taken.push(name.clone());
                }
                holder_of_taken.get_or_insert_with(|| owner.to_string());
            }
        }
        if !taken.is_empty() {
            drop(entries);
            return Err(Duplicates {
                names: taken,
                holder: holder_of_taken.unwrap_or_default(),
            }
            .into());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        entries.push(Entry {
            id,
            source,
            names,
            holder,
        });
        Ok(())
    }

    /// Adds ferrotel's own counts (the default REGISTRY does so at import).
    pub fn register_own(&self) -> Result<()> {
        self.add(
            Source::Own,
            super::selfmetrics::names(),
            "ferrotel's own metrics".into(),
        )
    }

    /// Adds a multiprocess directory's files (once for the directory set: the default REGISTRY).
    pub fn register_files(&self, source: FilesSource) -> Result<()> {
        if source.path.is_none()
            && self
                .entries
                .lock()
                .iter()
                .any(|e| matches!(&e.source, Source::Files(f) if f.path.is_none()))
        {
            return Ok(());
        }
        self.add(Source::Files(source), Vec::new(), "a multiprocess directory".into())
    }

    pub fn register_native(&self, family: NativeFamily) -> Result<()> {
        let names = family.sample_names();
        let holder = format!("{}:{}", family.desc().kind.as_str(), family.desc().name);
        self.add(Source::Native(family), names, holder)
    }

    /// Removes the entry `matches` picks; false when there is none.
    pub fn remove(&self, matches: impl Fn(&Source) -> bool) -> bool {
        let removed = {
            let mut entries = self.entries.lock();
            let position = entries.iter().position(|e| matches(&e.source));
            position.map(|i| entries.remove(i))
        };
        // Dropped unlocked: a Python collector's last reference may run Python code.
        removed.is_some()
    }

    pub fn contains(&self, matches: impl Fn(&Source) -> bool) -> bool {
        self.entries.lock().iter().any(|e| matches(&e.source))
    }

    /// Visits every source in registration order, under the entries lock.
    pub fn for_each(&self, mut visit: impl FnMut(&Source)) {
        for entry in self.entries.lock().iter() {
            visit(&entry.source);
        }
    }

    pub fn set_target_info(&self, labels: Option<Vec<(String, String)>>) -> Result<()> {
        let entries = self.entries.lock();
        let mut target = self.target_info.write();
        if labels.is_some() && target.is_none() && entries.iter().any(|e| e.names.iter().any(|n| n == "target_info")) {
            return Err(Error::invalid(
                "CollectorRegistry already contains a target_info metric: an Info named 'target' is registered",
            ));
        }
        *target = labels;
        Ok(())
    }

    pub fn target_info(&self) -> Option<Vec<(String, String)>> {
        self.target_info.read().clone()
    }

    /// Whether a restricted render collects this entry, as prometheus_client's does.
    fn selected(&self, entry: &Entry, names: Option<&HashSet<String>>) -> bool {
        match names {
            None => true,
            Some(names) => {
                entry.names.iter().any(|n| names.contains(n))
                    || (entry.names.is_empty() && self.support_collectors_without_names)
            }
        }
    }

    fn needs_python(&self, names: Option<&HashSet<String>>) -> bool {
        self.entries.lock().iter().any(|e| {
            self.selected(e, names)
                && match &e.source {
                    Source::Python(_) | Source::Process(_, Part::Gc) => true,
                    Source::Native(f) => f.needs_python(),
                    Source::Process(..) | Source::Own | Source::Files(_) => false,
                }
        })
    }

    /// The attached phase: refresh function gauges and GC statistics, read every Python collector.
    fn collect_python(
        &self,
        py: Python<'_>,
        names: Option<&HashSet<String>>,
    ) -> Result<HashMap<u64, Vec<OwnedFamily>>> {
        let (natives, processes, collectors) = {
            let entries = self.entries.lock();
            let mut natives = Vec::new();
            let mut processes = Vec::new();
            let mut collectors = Vec::new();
            for e in entries.iter().filter(|e| self.selected(e, names)) {
                match &e.source {
                    Source::Native(f) if f.needs_python() => natives.push(f.clone()),
                    Source::Process(p, Part::Gc) => processes.push(p.clone()),
                    Source::Python(obj) => collectors.push((e.id, obj.clone_ref(py))),
                    _ => {}
                }
            }
            (natives, processes, collectors)
        };
        for family in natives {
            family.refresh(py);
        }
        for process in processes {
            process.refresh(py)?;
        }
        let mut out = HashMap::new();
        for (id, collector) in collectors {
            let families = collector.bind(py).call_method0("collect")?;
            let mut owned = Vec::new();
            for family in families.try_iter()? {
                owned.push(super::collectors::owned_family(&family?)?);
            }
            out.insert(id, owned);
        }
        Ok(out)
    }

    fn write_target_info(&self, sink: &mut dyn SampleSink) {
        let Some(pairs) = self.target_info() else { return };
        let (names, values): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
        let desc = FamilyDesc::new("target", "Target metadata", Kind::Info, names.into_boxed_slice());
        sink.family(&desc);
        sink.sample(&desc, &Sample::new("_info", &desc.labelnames, &values, 1.0));
    }

    fn write(
        &self,
        sink: &mut dyn SampleSink,
        python: &HashMap<u64, Vec<OwnedFamily>>,
        names: Option<&HashSet<String>>,
        files: &mut Option<Scrape>,
    ) {
        self.write_target_info(sink);
        let entries = self.entries.lock();
        for entry in entries.iter().filter(|e| self.selected(e, names)) {
            match &entry.source {
                Source::Native(family) => {
                    if !files.as_mut().is_some_and(|f| f.native(family, sink)) {
                        family.write(sink)
                    }
                }
                Source::Process(process, part) => process.write(*part, sink, files.as_ref().and_then(Scrape::pids)),
                Source::Own => super::selfmetrics::write(sink),
                Source::Files(source) => {
                    if let Some(files) = files.as_mut() {
                        files.collector(source, sink);
                    }
                }
                Source::Python(_) => {
                    for family in python.get(&entry.id).into_iter().flatten() {
                        family.write(sink);
                    }
                }
            }
        }
    }

    /// Everything collected into `sink`: settled, Python parts read attached, then the rest.
    fn collect_into(&self, sink: &mut dyn SampleSink, names: Option<&HashSet<String>>) -> Result<()> {
        crate::runtime::hooks::settle();
        // Every lock taken without the GIL is taken inside the fork gate (see `forkgate`); the
        // Python phase runs outside it, as the forking thread holds the GIL while it waits.
        let needs_python = {
            let _gate = super::forkgate::enter();
            self.needs_python(names)
        };
        let python = if needs_python {
            // From a server thread at interpreter exit there is no Python left to ask.
            Python::try_attach(|py| self.collect_python(py, names)).unwrap_or_else(|| Ok(HashMap::new()))?
        } else {
            HashMap::new()
        };
        let _gate = super::forkgate::enter();
        let mut files = self.files_parts(names);
        match names {
            Some(names) => self.write(&mut FilterSink::new(sink, names), &python, Some(names), &mut files),
            None => self.write(sink, &python, None, &mut files),
        }
        Ok(())
    }

    /// The multiprocess files this registry shows, read (unlocked) before it is written.
    fn files_parts(&self, names: Option<&HashSet<String>>) -> Option<Scrape> {
        let (natives, sources) = {
            let entries = self.entries.lock();
            let selected = || entries.iter().filter(|e| self.selected(e, names));
            let natives = selected().any(|e| matches!(&e.source, Source::Native(f) if multiprocess::in_files(f)));
            let sources = selected()
                .filter_map(|e| match &e.source {
                    Source::Files(f) => Some(f.path.clone()),
                    _ => None,
                })
                .collect();
            (natives, sources)
        };
        Scrape::read(natives, sources)
    }

    /// The default labels, read inside the fork gate (a render reads them without the GIL).
    fn defaults(&self) -> Vec<(String, String)> {
        let _gate = super::forkgate::enter();
        self.default_labels.read().clone()
    }

    pub fn render_with(&self, how: Render<'_>) -> Result<Vec<u8>> {
        let defaults = self.defaults();
        let mut sink = TextSink::new(how.format, how.escaping, &defaults);
        self.collect_into(&mut sink, how.names)?;
        Ok(sink.finish())
    }

    /// Renders in `format`, names escaped to underscores; attaches to Python only when a Python
    /// collector needs it.
    pub fn render(&self, format: Format) -> PyResult<Vec<u8>> {
        Ok(self.render_with(Render::plain(format))?)
    }

    pub fn snapshot(&self, names: Option<&HashSet<String>>) -> Result<Vec<OwnedFamily>> {
        let defaults = self.defaults();
        let mut sink = SnapshotSink::new(&defaults);
        self.collect_into(&mut sink, names)?;
        Ok(sink.families)
    }

    /// What a scrape answers: format and escaping from `Accept`, gzip when `Accept-Encoding`
    /// allows it; only the `names` samples for a restricted scrape (`?name[]=...`).
    pub fn exposition_of(
        &self,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
        names: Option<&HashSet<String>>,
    ) -> Result<Exposition> {
        let negotiated = negotiate(accept);
        let body = self.render_with(Render {
            format: negotiated.format,
            escaping: negotiated.escaping,
            names,
        })?;
        let gzip = crate::transport::gzip::accepted(accept_encoding);
        let body = if gzip {
            crate::transport::gzip::compress(&body)
        } else {
            body
        };
        Ok(Exposition {
            body,
            content_type: negotiated.content_type,
            gzip,
        })
    }

    pub fn exposition(&self, accept: Option<&str>, accept_encoding: Option<&str>) -> PyResult<Exposition> {
        Ok(self.exposition_of(accept, accept_encoding, None)?)
    }
}
